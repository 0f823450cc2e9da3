//! [`ProviderUrl`]: a URL of the identity provider that this crate fetches or posts to, and
//! whether plain `http://` is allowed for it.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

use crate::error::{ConfigError, ConfigErrorKind};
use crate::provider::fetch;

/// A URL of the identity provider (an issuer, a JWKS, an introspection or token endpoint).
///
/// Tokens, client secrets, assertions and signing keys travel over these URLs, so they must be
/// `https://`, as ASP.NET Core's `RequireHttpsMetadata` (on by default) requires. Plain
/// `http://` is accepted for a loopback host only (`127.0.0.0/8`, `::1`, `localhost`: a
/// provider on the same machine, such as the development issuer), or when the URL is
/// given through [`ProviderUrl::allow_insecure_http`].
///
/// Constructors that take a provider URL accept `&str`, `String` and `&String` as they always
/// did; the check happens there and fails with
/// [`ConfigErrorKind::InsecureUrl`](crate::ConfigErrorKind::InsecureUrl).
///
/// ```
/// use tower_authz::{ConfigErrorKind, JwksVerifier, ProviderUrl};
///
/// // https, or http on a loopback address: accepted as a plain string.
/// assert!(JwksVerifier::discover("https://id.example.com", "api").is_ok());
/// assert!(JwksVerifier::discover("http://127.0.0.1:8080", "api").is_ok());
///
/// // http to another host: refused, unless the risk is taken explicitly.
/// let refused = JwksVerifier::discover("http://keycloak:8080/realms/demo", "api").unwrap_err();
/// assert_eq!(refused.kind(), ConfigErrorKind::InsecureUrl);
/// let compose = ProviderUrl::allow_insecure_http("http://keycloak:8080/realms/demo");
/// assert!(JwksVerifier::discover(compose, "api").is_ok());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderUrl {
    url: String,
    insecure_http: bool,
}

impl ProviderUrl {
    /// Accepts `url` even if it is plain `http://` to a host other than a loopback address.
    ///
    /// **What it risks**: over plain HTTP, anyone on the network path can read and change what
    /// goes to and comes from the provider: the access tokens sent for introspection, client
    /// secrets and assertions sent to the token endpoint, the tokens it issues, and the signing
    /// keys of the JWKS (a changed JWKS lets its author sign any token this service accepts).
    /// Use it only where the network path is private and trusted, such as between containers
    /// of one docker-compose project or inside a service mesh that encrypts traffic (mTLS);
    /// never across the Internet. This is ASP.NET Core's `RequireHttpsMetadata = false`.
    ///
    /// With this opt-out on an `http://` issuer, the endpoints its discovery document names may
    /// also be `http://`. An `https://` issuer's endpoints must always be `https://`.
    ///
    /// ```
    /// use tower_authz::{JwksVerifier, ProviderUrl};
    ///
    /// // docker-compose: the API reaches Keycloak by its service name, without TLS.
    /// let verifier = JwksVerifier::discover(
    ///     ProviderUrl::allow_insecure_http("http://keycloak:8080/realms/demo"),
    ///     "my-api",
    /// )
    /// .unwrap();
    /// ```
    pub fn allow_insecure_http(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            insecure_http: true,
        }
    }

    /// The URL as given.
    ///
    /// ```
    /// assert_eq!(
    ///     tower_authz::ProviderUrl::from("https://id.example.com").as_str(),
    ///     "https://id.example.com"
    /// );
    /// ```
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Whether plain `http://` to any host is allowed
    /// ([`allow_insecure_http`](Self::allow_insecure_http)).
    ///
    /// ```
    /// use tower_authz::ProviderUrl;
    ///
    /// assert!(!ProviderUrl::from("http://127.0.0.1:8080").allows_insecure_http());
    /// assert!(ProviderUrl::allow_insecure_http("http://idp:8080").allows_insecure_http());
    /// ```
    pub fn allows_insecure_http(&self) -> bool {
        self.insecure_http
    }

    /// Parses the URL and applies the https rule; `what` names it in the error.
    pub(crate) fn parse(&self, what: &'static str) -> Result<Url, ConfigError> {
        let url = fetch::parse_url(&self.url, what)?;
        require_https(&url, what, self.insecure_http)?;
        Ok(url)
    }
}

impl From<&str> for ProviderUrl {
    fn from(url: &str) -> Self {
        Self::from(url.to_owned())
    }
}

impl From<String> for ProviderUrl {
    fn from(url: String) -> Self {
        Self {
            url,
            insecure_http: false,
        }
    }
}

impl From<&String> for ProviderUrl {
    fn from(url: &String) -> Self {
        Self::from(url.as_str())
    }
}

impl fmt::Debug for ProviderUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ProviderUrl");
        s.field("url", &self.url);
        if self.insecure_http {
            s.field("insecure_http", &true);
        }
        s.finish()
    }
}

impl fmt::Display for ProviderUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Whether `url`'s host is a loopback address: `127.0.0.0/8`, `::1` or `localhost`.
fn is_loopback(url: &Url) -> bool {
    // `Url` has normalised the host: lowercase, IPv4 in dotted decimal, IPv6 in brackets.
    url.host_str().is_some_and(is_loopback_host)
}

/// Whether `host` is a loopback address: `127.0.0.0/8`, `::1` (with or without brackets) or
/// `localhost`. The one rule for every URL a secret or a token may travel to in clear.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a plain `http://` URL to a host other than a loopback address, unless
/// `insecure_http` allows it.
pub(crate) fn require_https(
    url: &Url,
    what: &'static str,
    insecure_http: bool,
) -> Result<(), ConfigError> {
    if url.scheme() == "http" && !insecure_http && !is_loopback(url) {
        return Err(ConfigError::new(
            ConfigErrorKind::InsecureUrl,
            format!(
                "the {what} uses plain http:// to a host that is not a loopback address, so \
                 tokens, secrets and keys could be read and changed on the network: use an \
                 https:// URL, or ProviderUrl::allow_insecure_http(..) if the network path is \
                 private and trusted (docker-compose, a service mesh)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &ProviderUrl) -> Result<Url, ConfigError> {
        url.parse("issuer")
    }

    #[test]
    fn https_or_loopback_http_only() {
        for ok in [
            "https://id.example.com",
            "HTTPS://ID.EXAMPLE.COM/tenant",
            "http://127.0.0.1:8080",
            "http://127.3.2.1",
            "http://[::1]:9011/",
            "http://localhost:9011",
            "http://LOCALHOST",
        ] {
            assert!(check(&ok.into()).is_ok(), "{ok}");
        }
        for insecure in [
            "http://id.example.com",
            "http://keycloak:8080",
            "http://10.0.0.1",
            "http://[::2]",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://0.0.0.0",
        ] {
            let error = check(&insecure.into()).expect_err(insecure);
            assert_eq!(error.kind(), ConfigErrorKind::InsecureUrl, "{insecure}");
            assert!(error.to_string().contains("https://"), "{error}");
            assert!(
                error
                    .to_string()
                    .contains("ProviderUrl::allow_insecure_http"),
                "{error}"
            );
            assert!(check(&ProviderUrl::allow_insecure_http(insecure)).is_ok());
        }
        let not_http = check(&ProviderUrl::allow_insecure_http("ftp://x")).expect_err("ftp");
        assert_eq!(not_http.kind(), ConfigErrorKind::InvalidUrl);
    }

    #[test]
    fn conversions_keep_the_url() {
        let owned = String::from("https://a.example");
        for url in [
            ProviderUrl::from("https://a.example"),
            ProviderUrl::from(owned.clone()),
            ProviderUrl::from(&owned),
        ] {
            assert_eq!(url.as_str(), "https://a.example");
            assert!(!url.allows_insecure_http());
        }
        assert!(format!("{:?}", ProviderUrl::allow_insecure_http("http://x")).contains("insecure"));
    }
}
