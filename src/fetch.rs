//! Fetching documents from an identity provider: JSON over HTTP with a timeout and a size cap.

use std::fmt;
use std::time::Duration;

use http::header::CACHE_CONTROL;
use reqwest::Url;
use serde_json::Value;

use crate::error::{AuthError, ConfigError, ConfigErrorKind};

/// The default timeout for one request to the identity provider.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest retry or refetch interval that can be configured: anything shorter would let a
/// flood of requests become a flood of calls to the provider.
pub(crate) const MIN_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The default cap on the size of a fetched document.
pub(crate) const DEFAULT_MAX_BODY: usize = 256 * 1024;

/// An HTTP client for identity-provider documents.
#[derive(Clone)]
pub(crate) struct HttpFetcher {
    client: reqwest::Client,
    max_body: usize,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// A fetched JSON document and how long the server said it may be cached.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) value: Value,
    pub(crate) max_age: Option<Duration>,
}

impl HttpFetcher {
    /// A client with `timeout` for the whole exchange. Does no I/O.
    pub(crate) fn new(timeout: Duration) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| {
                ConfigError::new(
                    ConfigErrorKind::InvalidValue,
                    "cannot build the HTTP client",
                )
                .with_source(e)
            })?;
        Ok(Self::with_client(client))
    }

    /// Wraps a client the user configured (its own timeouts, proxies, roots).
    pub(crate) fn with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Replaces the client by one built for `timeout`; the size cap stays.
    pub(crate) fn set_timeout(&mut self, timeout: Duration) -> Result<(), ConfigError> {
        self.client = Self::new(timeout)?.client;
        Ok(())
    }

    /// Replaces the client by the user's own; the size cap stays.
    pub(crate) fn set_client(&mut self, client: reqwest::Client) {
        self.client = client;
    }

    /// Sets the size cap; the client stays.
    pub(crate) fn set_max_body(&mut self, max_body: usize) {
        self.max_body = max_body;
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// GETs a JSON document.
    pub(crate) async fn get_json(&self, url: &Url) -> Result<Fetched, AuthError> {
        let response = self
            .client
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable_provider)?;
        self.read_json(response).await
    }

    /// Reads a JSON answer: a 2xx status, a body within the cap, valid JSON.
    pub(crate) async fn read_json(
        &self,
        response: reqwest::Response,
    ) -> Result<Fetched, AuthError> {
        let status = response.status();
        if !status.is_success() {
            return Err(
                AuthError::upstream("the identity provider answered with an error")
                    .with_source(format!("HTTP status {status}")),
            );
        }
        let max_age = max_age(response.headers());
        let body = read_capped(response, self.max_body).await?;
        let value = serde_json::from_slice(&body).map_err(|e| {
            AuthError::upstream("the identity provider answered with malformed JSON").with_source(e)
        })?;
        Ok(Fetched { value, max_age })
    }
}

impl HttpFetcher {
    /// Reads a body within the size cap, whatever the status.
    pub(crate) async fn read_body(
        &self,
        response: reqwest::Response,
    ) -> Result<Vec<u8>, AuthError> {
        read_capped(response, self.max_body).await
    }
}

/// Reads a body, refusing it as soon as it grows past `max` bytes.
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, AuthError> {
    let too_large = || {
        AuthError::upstream("the identity provider's answer is too large")
            .with_source(format!("more than {max} bytes"))
    };
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable_provider)? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn unreachable_provider(error: reqwest::Error) -> AuthError {
    let error = error.without_url();
    let description = if error.is_timeout() {
        "the identity provider did not answer in time"
    } else {
        "the identity provider is unreachable"
    };
    AuthError::upstream(description).with_source(error)
}

/// `Cache-Control: max-age=N` (ignoring `no-store`/`no-cache`, which mean "refetch soon").
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(CACHE_CONTROL)?.to_str().ok()?;
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            max_age = seconds
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs);
        }
    }
    max_age
}

/// Parses an http(s) URL from configuration.
pub(crate) fn parse_url(url: &str, what: &'static str) -> Result<Url, ConfigError> {
    let parsed = Url::parse(url).map_err(|e| {
        ConfigError::new(
            ConfigErrorKind::InvalidUrl,
            format!("the {what} is not a URL"),
        )
        .with_source(e)
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ConfigError::new(
            ConfigErrorKind::InvalidUrl,
            format!("the {what} must be an http or https URL"),
        ));
    }
    Ok(parsed)
}

/// The OIDC discovery URL of an issuer: the issuer, without a trailing `/`, followed by
/// `/.well-known/openid-configuration` (OpenID Connect Discovery §4).
pub(crate) fn discovery_url(issuer: &str) -> Result<Url, ConfigError> {
    parse_url(
        &format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
        "issuer",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(
            CACHE_CONTROL,
            "public, max-age=3600".parse().expect("header"),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(3600)));
        headers.insert(CACHE_CONTROL, "no-cache".parse().expect("header"));
        assert_eq!(max_age(&headers), Some(Duration::ZERO));
        headers.insert(CACHE_CONTROL, "max-age=nonsense".parse().expect("header"));
        assert_eq!(max_age(&headers), None);
    }

    #[test]
    fn urls() {
        assert!(parse_url("ftp://x", "issuer").is_err());
        assert!(parse_url("not a url", "issuer").is_err());
        assert_eq!(
            discovery_url("https://id.example.com/tenant/")
                .expect("url")
                .as_str(),
            "https://id.example.com/tenant/.well-known/openid-configuration"
        );
    }
}
