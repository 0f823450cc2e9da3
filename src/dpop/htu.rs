//! The request's URL as a proof's `htu` must name it (RFC 9449 §4.3 item 9): the public URL
//! (configured, or from the request's scheme and `Host`) and the path, compared after the
//! syntax-based normalisation of RFC 3986 §6.2.2 that the WHATWG URL parser does (scheme and
//! host in lower case, the default port dropped, dot segments removed, percent-encoding of
//! characters that need it), without query and fragment.

use http::header::HOST;
use http::request::Parts;
use reqwest::Url;

use crate::error::{ConfigError, ConfigErrorKind};

/// The public origin (and path prefix) of the API behind a proxy, e.g.
/// `https://api.example.com` or `https://example.com/api`.
#[derive(Debug, Clone)]
pub(crate) struct PublicUrl(Box<str>);

impl PublicUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, ConfigError> {
        let invalid =
            |message: &'static str| ConfigError::new(ConfigErrorKind::InvalidUrl, message);
        let parsed = Url::parse(url)
            .map_err(|e| invalid("the public URL of the API does not parse").with_source(e))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(invalid("the public URL of the API must be http(s)://host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty()
        {
            return Err(invalid(
                "the public URL of the API must not have a query, fragment or user",
            ));
        }
        Ok(Self(parsed.as_str().trim_end_matches('/').into()))
    }
}

/// The URL of the request as its proof must name it; `None` without a `Host` (or `:authority`)
/// to build it from, or when it does not parse.
pub(crate) fn request_url(parts: &Parts, public: Option<&PublicUrl>) -> Option<Url> {
    let path = parts.uri.path();
    let url = match public {
        Some(PublicUrl(base)) => format!("{base}{path}"),
        None => {
            // A URI in absolute form (HTTP/2's `:scheme` and `:authority`) says it all; an
            // HTTP/1.1 origin-form one says neither, and a server that terminates TLS itself
            // or sits behind a proxy sets the public URL.
            let scheme = parts.uri.scheme_str().unwrap_or("http");
            let host = match parts.uri.authority() {
                Some(authority) => authority.as_str(),
                None => parts.headers.get(HOST)?.to_str().ok()?,
            };
            format!("{scheme}://{host}{path}")
        }
    };
    let url = Url::parse(&url).ok()?;
    url.username().is_empty().then_some(url)
}

/// Whether the proof's `htu` names `expected` (query and fragment aside).
pub(crate) fn same_resource(htu: &str, expected: &Url) -> bool {
    let Ok(htu) = Url::parse(htu) else {
        return false;
    };
    htu.scheme() == expected.scheme()
        && htu.host() == expected.host()
        && htu.port_or_known_default() == expected.port_or_known_default()
        && htu.path() == expected.path()
        && htu.username().is_empty()
        && htu.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, host: Option<&str>) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_url_comes_from_the_host_or_the_public_url() {
        let request = parts("/tasks/1?x=1", Some("Api.Example.com:80"));
        let url = request_url(&request, None).unwrap();
        assert_eq!(url.as_str(), "http://api.example.com/tasks/1");
        let public = PublicUrl::parse("https://API.example.com/base/").unwrap();
        let url = request_url(&request, Some(&public)).unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/base/tasks/1");
        let absolute = parts("https://h.example:8443/a", Some("ignored"));
        assert_eq!(
            request_url(&absolute, None).unwrap().as_str(),
            "https://h.example:8443/a"
        );
        assert!(request_url(&parts("/a", None), None).is_none());
        assert!(request_url(&parts("/a", Some("u@h")), None).is_none());
    }

    #[test]
    fn htu_is_compared_after_normalisation_without_query_and_fragment() {
        let expected = Url::parse("https://server.example.com/resource").unwrap();
        for same in [
            "https://server.example.com/resource",
            "HTTPS://Server.Example.COM:443/resource",
            "https://server.example.com/resource?q=1#frag",
            "https://server.example.com/a/../resource",
        ] {
            assert!(same_resource(same, &expected), "{same}");
        }
        for other in [
            "http://server.example.com/resource",
            "https://server.example.com:8443/resource",
            "https://other.example.com/resource",
            "https://server.example.com/resource/",
            "https://server.example.com/Resource",
            "https://user@server.example.com/resource",
            "/resource",
            "",
        ] {
            assert!(!same_resource(other, &expected), "{other}");
        }
    }

    #[test]
    fn a_public_url_must_be_a_plain_origin_and_path() {
        for bad in [
            "ftp://h",
            "not a url",
            "https://h/?q",
            "https://h/#f",
            "https://u@h",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
