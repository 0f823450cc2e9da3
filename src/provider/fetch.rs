//! Fetching documents from an identity provider: JSON over HTTP with a timeout and a size cap.
//!
//! Redirects: the default client follows none (`redirect::Policy::none()`). A GET (discovery
//! document, JWKS) follows at most [`MAX_REDIRECTS`] redirects itself, each to the same scheme,
//! host and port as the URL first asked for; any other redirect is refused (503
//! [`Upstream`](crate::AuthErrorKind::Upstream)). A POST (introspection, token endpoint)
//! follows no redirect at all: tokens and client credentials are never resent elsewhere, and a
//! 3xx answer is a provider error. A user's own client may have its own redirect policy, so
//! every answer is also checked against the URL it came from: a POST must be answered by the
//! URL posted to, a GET by the origin asked.

use std::fmt;
use std::time::Duration;

use http::header::{ACCEPT, CACHE_CONTROL, LOCATION};
use reqwest::Url;
use serde_json::Value;
use tracing::Instrument as _;

use crate::error::{AuthError, ConfigError, ConfigErrorKind};
use crate::telemetry::{CallResult, ProviderCall, ProviderEndpoint};

/// The default timeout for one request to the identity provider.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest retry or refetch interval that can be configured: anything shorter would let a
/// flood of requests become a flood of calls to the provider.
pub(crate) const MIN_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The default cap on the size of a fetched document.
const DEFAULT_MAX_BODY: usize = 256 * 1024;
/// The most redirects a GET follows, all within the origin first asked.
const MAX_REDIRECTS: usize = 3;

/// An HTTP client for identity-provider documents.
#[derive(Clone)]
pub(crate) struct HttpFetcher {
    client: reqwest::Client,
    /// Applied to each request, whatever client is used.
    timeout: Duration,
    max_body: usize,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("timeout", &self.timeout)
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
    /// A client that follows no redirect, with `timeout` for each whole exchange. Does no I/O.
    pub(crate) fn new(timeout: Duration) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                ConfigError::new(
                    ConfigErrorKind::InvalidValue,
                    "cannot build the HTTP client",
                )
                .with_source(e)
            })?;
        Ok(Self {
            client,
            timeout,
            max_body: DEFAULT_MAX_BODY,
        })
    }

    /// Sets the timeout of each request; the client (the default or the user's) stays.
    pub(crate) fn set_timeout(&mut self, timeout: Duration) -> Result<(), ConfigError> {
        self.timeout = timeout;
        Ok(())
    }

    /// Replaces the client by the user's own; the timeout and the size cap stay.
    pub(crate) fn set_client(&mut self, client: reqwest::Client) {
        self.client = client;
    }

    /// Sets the size cap; the client stays.
    pub(crate) fn set_max_body(&mut self, max_body: usize) {
        self.max_body = max_body;
    }

    /// GETs a JSON document from `endpoint`, following at most [`MAX_REDIRECTS`] same-origin
    /// redirects, all within the timeout; in a provider span, and counted in the metrics.
    pub(crate) async fn get_json(
        &self,
        url: &Url,
        endpoint: ProviderEndpoint,
    ) -> Result<Fetched, AuthError> {
        let call = ProviderCall::start(endpoint);
        let fetched = async {
            let response = self.get_following(url, &call).await?;
            self.read_json(response).await
        }
        .instrument(call.span().clone())
        .await;
        call.finish(call_result(&call, fetched.as_ref().err()));
        fetched
    }

    /// GETs a metadata document that may not be published at `url`: `Ok(None)` when the server
    /// says so (a 4xx status), or answers something other than a JSON object (a web site's
    /// catch-all page), so that the next location can be tried. Other failures (unreachable,
    /// timeout, 5xx, too large, a redirect elsewhere) are errors, as for
    /// [`get_json`](Self::get_json).
    ///
    /// In a provider span for `endpoint`, and counted in the metrics: a document found absent is
    /// the result `absent`.
    pub(crate) async fn get_document(
        &self,
        url: &Url,
        endpoint: ProviderEndpoint,
    ) -> Result<Option<Value>, AuthError> {
        let call = ProviderCall::start(endpoint);
        let document = self
            .get_document_answer(url, &call)
            .instrument(call.span().clone())
            .await;
        call.finish(match &document {
            Ok(None) => CallResult::Absent,
            document => call_result(&call, document.as_ref().err()),
        });
        document
    }

    async fn get_document_answer(
        &self,
        url: &Url,
        call: &ProviderCall,
    ) -> Result<Option<Value>, AuthError> {
        let response = self.get_following(url, call).await?;
        let status = response.status();
        if status.is_client_error() {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(
                AuthError::upstream("the identity provider answered with an error")
                    .with_source(format!("HTTP status {status}")),
            );
        }
        let body = read_capped(response, self.max_body).await?;
        Ok(serde_json::from_slice::<Value>(&body)
            .ok()
            .filter(Value::is_object))
    }

    /// Sends a GET, following at most [`MAX_REDIRECTS`] same-origin redirects, all within the
    /// timeout: the first answer that is not a redirect.
    async fn get_following(
        &self,
        url: &Url,
        call: &ProviderCall,
    ) -> Result<reqwest::Response, AuthError> {
        let mut current = url.clone();
        let mut redirects = 0;
        // One timeout for the whole fetch, redirects included.
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            let response = self
                .client
                .get(current.clone())
                .header(ACCEPT, "application/json")
                .timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                .send()
                .await
                .map_err(unreachable_provider)?;
            call.answered(response.status());
            if !same_origin(response.url(), url) {
                // Only a user's client follows redirects itself.
                tracing::warn!(
                    requested = %redacted(url),
                    answered_by = %redacted(response.url()),
                    "the identity provider's answer came from another origin: refused"
                );
                return Err(AuthError::upstream(
                    "the identity provider redirected to another origin",
                ));
            }
            if !is_redirect(response.status()) {
                return Ok(response);
            }
            let next = location(&response, &current);
            match next {
                Some(next) if same_origin(&next, url) && redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    current = next;
                }
                _ => {
                    tracing::warn!(
                        status = %response.status(),
                        requested = %redacted(url),
                        location = next.as_ref().map(|next| redacted(next).to_string()),
                        "the identity provider redirected to another origin, or too often: not followed"
                    );
                    return Err(AuthError::upstream(
                        "the identity provider redirected to another origin, or too often",
                    )
                    .with_source(format!("HTTP status {}", response.status())));
                }
            }
        }
    }

    /// POSTs `form` (with an `Authorization` header, if given) to `url` and returns the answer.
    /// No redirect is followed: a 3xx answer, or an answer from any URL but `url` (a user's
    /// client that follows redirects), is an [`Upstream`](crate::AuthErrorKind::Upstream) error.
    #[cfg(any(feature = "client", feature = "introspection"))]
    async fn post_form(
        &self,
        url: Url,
        form: &[(&'static str, String)],
        authorization: Option<http::HeaderValue>,
        dpop: Option<http::HeaderValue>,
        call: &ProviderCall,
    ) -> Result<reqwest::Response, AuthError> {
        let mut request = self
            .client
            .post(url.clone())
            .form(form)
            .timeout(self.timeout);
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        let response = request.send().await.map_err(unreachable_provider)?;
        call.answered(response.status());
        if response.url() != &url {
            tracing::warn!(
                requested = %redacted(&url),
                answered_by = %redacted(response.url()),
                "the HTTP client followed a redirect of a POST to the identity provider: answer                  refused (configure the client with redirect::Policy::none())"
            );
            return Err(AuthError::upstream(
                "the identity provider redirected a POST request",
            ));
        }
        if is_redirect(response.status()) {
            tracing::warn!(
                status = %response.status(),
                requested = %redacted(&url),
                location = location(&response, &url).map(|next| redacted(&next).to_string()),
                "the identity provider redirected a POST request: not followed"
            );
            return Err(
                AuthError::upstream("the identity provider redirected a POST request")
                    .with_source(format!("HTTP status {}", response.status())),
            );
        }
        Ok(response)
    }

    /// The one authenticated form POST (introspection, token requests): adds `auth`'s form
    /// fields after `form` (or its `Authorization` header), POSTs to `url` without following
    /// redirects (see [`post_form`](Self::post_form)), and reads the answer within the size cap:
    /// a 4xx with whatever body it had (empty if unreadable or too large), or else the JSON of a
    /// 2xx answer. In a provider span for `endpoint`, and counted in the metrics.
    #[cfg(feature = "introspection")]
    pub(crate) async fn post_authenticated(
        &self,
        url: Url,
        form: Vec<(&'static str, String)>,
        auth: Option<&crate::credentials::ClientAuth>,
        audience: &str,
        endpoint: ProviderEndpoint,
    ) -> Result<FormAnswer, AuthError> {
        self.post_with_dpop(url, form, auth, audience, None, endpoint)
            .await
            .map(|answered| answered.answer)
    }

    /// [`post_authenticated`](Self::post_authenticated) with a `DPoP` proof header (RFC 9449
    /// §5), giving back the answer's `DPoP-Nonce` too.
    #[cfg(any(feature = "client", feature = "introspection"))]
    pub(crate) async fn post_with_dpop(
        &self,
        url: Url,
        form: Vec<(&'static str, String)>,
        auth: Option<&crate::credentials::ClientAuth>,
        audience: &str,
        dpop: Option<http::HeaderValue>,
        endpoint: ProviderEndpoint,
    ) -> Result<Answered, AuthError> {
        let call = ProviderCall::start(endpoint);
        let answer = self
            .post_and_read(url, form, auth, audience, dpop, &call)
            .instrument(call.span().clone())
            .await;
        call.finish(call_result(&call, answer.as_ref().err()));
        answer
    }

    #[cfg(any(feature = "client", feature = "introspection"))]
    async fn post_and_read(
        &self,
        url: Url,
        mut form: Vec<(&'static str, String)>,
        auth: Option<&crate::credentials::ClientAuth>,
        audience: &str,
        dpop: Option<http::HeaderValue>,
        call: &ProviderCall,
    ) -> Result<Answered, AuthError> {
        let mut authorization = None;
        if let Some(auth) = auth {
            let applied = auth.apply(audience)?;
            authorization = applied.authorization;
            form.extend(applied.form);
        }
        let response = self
            .post_form(url, &form, authorization, dpop, call)
            .await?;
        let dpop_nonce = response.headers().get("dpop-nonce").cloned();
        let status = response.status();
        let answer = if status.is_client_error() {
            let body = read_capped(response, self.max_body)
                .await
                .unwrap_or_default();
            FormAnswer::ClientError(status, body)
        } else {
            FormAnswer::Json(self.read_json(response).await?.value)
        };
        Ok(Answered { answer, dpop_nonce })
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

/// What an authenticated form POST got back.
#[cfg(any(feature = "client", feature = "introspection"))]
pub(crate) enum FormAnswer {
    /// A 2xx answer's JSON.
    Json(Value),
    /// A 4xx status and its body (within the cap; empty if it could not be read).
    ClientError(http::StatusCode, Vec<u8>),
}

/// An authenticated form POST's answer and its `DPoP-Nonce` header (RFC 9449 §8), if any.
#[cfg(any(feature = "client", feature = "introspection"))]
pub(crate) struct Answered {
    pub(crate) answer: FormAnswer,
    /// Read by the token providers (feature `client`); introspection sends no proof.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) dpop_nonce: Option<http::HeaderValue>,
}

/// The redirect statuses (`304 Not Modified` is not one).
fn is_redirect(status: http::StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The `Location` of a redirect, resolved against the URL that answered it.
fn location(response: &reqwest::Response, base: &Url) -> Option<Url> {
    let value = response.headers().get(LOCATION)?.to_str().ok()?;
    base.join(value).ok()
}

/// Same scheme, host and port (RFC 6454 origin).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// A URL for the logs: no user info, no query, no fragment.
fn redacted(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
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

/// The description of a call that got no answer in time.
const TIMED_OUT: &str = "the identity provider did not answer in time";

fn unreachable_provider(error: reqwest::Error) -> AuthError {
    let error = error.without_url();
    let description = if error.is_timeout() {
        TIMED_OUT
    } else {
        "the identity provider is unreachable"
    };
    AuthError::upstream(description).with_source(error)
}

/// How a call ended, for its span and metrics: from the last status answered and the error, if
/// any. A 4xx handed back as a [`FormAnswer::ClientError`] is an `http_error` too.
fn call_result(call: &ProviderCall, error: Option<&AuthError>) -> CallResult {
    match (call.status(), error) {
        (Some(status), _) if !status.is_success() && !is_redirect(status) => CallResult::HttpError,
        (Some(_), None) => CallResult::Ok,
        // A 2xx or redirect answer that was refused (malformed, too large, another origin).
        (Some(_), Some(_)) => CallResult::Invalid,
        (None, Some(error)) if error.description() == TIMED_OUT => CallResult::Timeout,
        (None, _) => CallResult::Unreachable,
    }
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

/// The well-known URI suffix of RFC 8414 (OAuth 2.0 authorization server metadata).
const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
/// The well-known URI suffix of OpenID Connect Discovery 1.0.
const OIDC_METADATA: &str = "/.well-known/openid-configuration";

/// Where an issuer's metadata may be, in the order to try them (RFC 8414 §3 and §5, the order
/// the MCP authorization specification spells out):
/// - without a path (`https://id.example.com`): `/.well-known/oauth-authorization-server`,
///   then `/.well-known/openid-configuration` (OpenID Connect Discovery §4);
/// - with a path (`https://id.example.com/tenant`), the suffix inserted between the host and
///   the path (RFC 8414 §3) before the OIDC form that appends it: `/.well-known/oauth-authorization-server/tenant`,
///   `/.well-known/openid-configuration/tenant`, then `/tenant/.well-known/openid-configuration`.
///
/// A terminating `/` of the issuer is removed first (RFC 8414 §3).
pub(crate) fn metadata_urls(issuer: &str) -> Result<Vec<Url>, ConfigError> {
    let parsed = parse_url(issuer, "issuer")?;
    let path = parsed.path().trim_end_matches('/');
    let inserted = |suffix: &str| {
        let mut url = parsed.clone();
        url.set_path(&format!("{suffix}{path}"));
        url.set_query(None);
        url.set_fragment(None);
        url
    };
    let mut urls = vec![inserted(OAUTH_METADATA), inserted(OIDC_METADATA)];
    if !path.is_empty() {
        urls.push(parse_url(
            &format!("{}{OIDC_METADATA}", issuer.trim_end_matches('/')),
            "issuer",
        )?);
    }
    Ok(urls)
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
    fn origins_and_redirects() {
        let url = |s: &str| Url::parse(s).expect("url");
        let base = url("https://id.example.com/keys");
        assert!(same_origin(
            &base,
            &url("https://id.example.com:443/other?x=1")
        ));
        assert!(!same_origin(&base, &url("http://id.example.com/keys")));
        assert!(!same_origin(
            &base,
            &url("https://id.example.com:8443/keys")
        ));
        assert!(!same_origin(&base, &url("https://evil.example.com/keys")));
        assert!(!same_origin(
            &url("http://127.0.0.1:80/"),
            &url("http://localhost:80/")
        ));
        for status in [301, 302, 303, 307, 308] {
            assert!(is_redirect(
                http::StatusCode::from_u16(status).expect("status")
            ));
        }
        assert!(!is_redirect(http::StatusCode::NOT_MODIFIED));
        assert_eq!(
            redacted(&url("https://user:pw@id.example.com/cb?token=secret#frag")).as_str(),
            "https://id.example.com/cb"
        );
    }

    #[test]
    fn urls() {
        assert!(parse_url("ftp://x", "issuer").is_err());
        assert!(parse_url("not a url", "issuer").is_err());
        assert!(metadata_urls("not a url").is_err());
    }

    #[test]
    fn metadata_locations_in_the_order_of_rfc_8414() {
        let urls = |issuer: &str| -> Vec<String> {
            metadata_urls(issuer)
                .expect("urls")
                .iter()
                .map(|url| url.to_string())
                .collect()
        };
        // No path: the two suffixes on the host (the same URL either way for OIDC).
        for issuer in ["https://id.example.com", "https://id.example.com/"] {
            assert_eq!(
                urls(issuer),
                [
                    "https://id.example.com/.well-known/oauth-authorization-server",
                    "https://id.example.com/.well-known/openid-configuration",
                ]
            );
        }
        // A path: inserted (RFC 8414 §3) before appended (OIDC Discovery §4); a terminating
        // slash removed; the port kept.
        for issuer in [
            "https://id.example.com:8443/realms/main",
            "https://id.example.com:8443/realms/main/",
        ] {
            assert_eq!(
                urls(issuer),
                [
                    "https://id.example.com:8443/.well-known/oauth-authorization-server/realms/main",
                    "https://id.example.com:8443/.well-known/openid-configuration/realms/main",
                    "https://id.example.com:8443/realms/main/.well-known/openid-configuration",
                ]
            );
        }
    }
}
