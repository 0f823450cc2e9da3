//! The answer to a refused request: RFC 6750 for HTTP, a gRPC status for gRPC, or your own.
//!
//! | kind | HTTP | gRPC |
//! |---|---|---|
//! | [`MissingCredentials`](crate::AuthErrorKind::MissingCredentials) | 401, `WWW-Authenticate: Bearer` | 16 `UNAUTHENTICATED` |
//! | [`InvalidRequest`](crate::AuthErrorKind::InvalidRequest) | 400, `Bearer error="invalid_request"` | 16 `UNAUTHENTICATED` |
//! | [`InvalidToken`](crate::AuthErrorKind::InvalidToken), [`Expired`](crate::AuthErrorKind::Expired) | 401, `Bearer error="invalid_token"` | 16 `UNAUTHENTICATED` |
//! | [`InsufficientScope`](crate::AuthErrorKind::InsufficientScope) | 403, `Bearer error="insufficient_scope"` | 7 `PERMISSION_DENIED` |
//! | [`InsufficientUserAuthentication`](crate::AuthErrorKind::InsufficientUserAuthentication) | 401, `Bearer error="insufficient_user_authentication"`, `acr_values`, `max_age` (RFC 9470) | 16 `UNAUTHENTICATED` |
//! | [`Upstream`](crate::AuthErrorKind::Upstream) | 503, `Retry-After` | 14 `UNAVAILABLE` |
//! | [`InvalidDpopProof`](crate::AuthErrorKind::InvalidDpopProof) | 401, `DPoP algs="...", error="invalid_dpop_proof"` (RFC 9449) | 16 `UNAUTHENTICATED` |
//! | [`UseDpopNonce`](crate::AuthErrorKind::UseDpopNonce) | 401, `DPoP algs="...", error="use_dpop_nonce"`, `DPoP-Nonce` | 16 `UNAUTHENTICATED`, `dpop-nonce` |
//!
//! A layer that accepts DPoP ([`AuthLayer::with_dpop`](crate::AuthLayer::with_dpop)) answers its
//! own refusals with a `DPoP` challenge in place of the `Bearer` one, or after a bare `Bearer`
//! one when bearer tokens are allowed too (RFC 9449 §7.2); see [`dpop`](crate::dpop).
//!
//! Bodies are empty; [`ProblemDetails`](crate::ProblemDetails) sends the same status and headers
//! with an RFC 9457 `application/problem+json` body. Whatever the response, the [`AuthError`] is
//! put into its extensions.

use std::sync::Arc;

use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::error::{AuthError, AuthErrorKind};
use crate::telemetry::PROVIDER_WARNINGS;

/// The refusal response for `error`: logged (without the token), built by `responder`, and
/// with the error in its extensions. Every refusal goes through here: the layer's, the require
/// layers' and the extractors'.
pub(crate) fn refusal<R, B>(responder: &R, error: AuthError, request: &Parts) -> Response<B>
where
    R: ResponseForAuthError<B> + ?Sized,
{
    log_refusal(&error);
    let mut response = responder.response_for(&error, request);
    response.extensions_mut().insert(error);
    response
}

/// The responder of the [`AuthLayer`](crate::AuthLayer) a request went through, for response
/// bodies `B`, put into the request's extensions so that the refusals made behind the layer
/// (require layers, extractors) come out in the same format. Not put there for a plain
/// [`Rfc6750`], which is what those refusals fall back to anyway (and such a layer takes out
/// the responder of an outer layer, so that the innermost layer's format holds).
pub(crate) struct LayerResponder<B>(Arc<dyn ResponseForAuthError<B>>);

impl<B> Clone for LayerResponder<B> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<B: 'static> LayerResponder<B> {
    /// The handle to put into the extensions for `responder`: one reference count, no
    /// allocation; `None` for the plain default.
    pub(crate) fn for_layer<R: ResponseForAuthError<B>>(responder: &Arc<R>) -> Option<Self> {
        let any: &dyn std::any::Any = &**responder;
        if any.downcast_ref::<Rfc6750>().is_some_and(Rfc6750::is_plain) {
            return None;
        }
        Some(Self(
            Arc::clone(responder) as Arc<dyn ResponseForAuthError<B>>
        ))
    }
}

/// A refusal made behind the layer: answered by the layer's responder when the request went
/// through one that has its own, by `fallback` otherwise.
pub(crate) fn refusal_behind_layer<R, B>(
    fallback: &R,
    error: AuthError,
    request: &Parts,
) -> Response<B>
where
    R: ResponseForAuthError<B> + ?Sized,
    B: 'static,
{
    match request.extensions.get::<LayerResponder<B>>() {
        Some(LayerResponder(responder)) => refusal(&**responder, error, request),
        None => refusal(fallback, error, request),
    }
}

/// Logs a refusal without the token: the reason at debug, trouble with the provider at warn
/// (rate-limited: see [`telemetry`](crate::telemetry)).
fn log_refusal(error: &AuthError) {
    match error.kind() {
        AuthErrorKind::Upstream => {
            // At most once per interval for each reason: a provider that is down would
            // otherwise write one warning per request.
            let now = std::time::Instant::now();
            if let Some(suppressed) = PROVIDER_WARNINGS.admit(error.description(), now) {
                tracing::warn!(
                    reason = error.description(),
                    cause = ?std::error::Error::source(error).map(ToString::to_string),
                    suppressed,
                    "request refused: the identity provider is unavailable"
                );
            }
        }
        AuthErrorKind::NotConfigured => {
            tracing::error!(reason = error.description(), "request refused")
        }
        kind => {
            tracing::debug!(?kind, reason = error.description(), required = ?error.required(), "request refused")
        }
    }
}

/// Builds the response for a refused request.
///
/// Implemented by [`Rfc6750`] (the default) and by any
/// `Fn(&AuthError, &http::request::Parts) -> http::Response<B>`, e.g. to reproduce a legacy API's
/// exact error bodies:
///
/// ```
/// use axum::body::Body;
/// use tower_authz::{AuthError, AuthErrorKind, AuthLayer, JwtVerifier};
///
/// let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
/// let layer = AuthLayer::new(verifier).with_response(|error: &AuthError, _: &http::request::Parts| {
///     let body = match error.kind() {
///         AuthErrorKind::MissingCredentials => "unauthorized: authorization header is empty\n",
///         _ => "unauthorized\n",
///     };
///     http::Response::builder()
///         .status(error.status())
///         .body(Body::from(body))
///         .unwrap()
/// });
/// ```
pub trait ResponseForAuthError<B>: Send + Sync + 'static {
    /// The response for `error`, given the head of the refused request.
    fn response_for(&self, error: &AuthError, request: &Parts) -> Response<B>;
}

impl<B, F> ResponseForAuthError<B> for F
where
    F: Fn(&AuthError, &Parts) -> Response<B> + Send + Sync + 'static,
{
    fn response_for(&self, error: &AuthError, request: &Parts) -> Response<B> {
        self(error, request)
    }
}

/// A responder that sends the RFC 6750 `WWW-Authenticate: Bearer` challenges of an [`Rfc6750`]:
/// [`Rfc6750`] itself and [`ProblemDetails`](crate::ProblemDetails). Through it,
/// [`AuthLayer::with_realm`](crate::AuthLayer::with_realm) and
/// [`AuthLayer::with_protected_resource`](crate::AuthLayer::with_protected_resource) add their
/// parameters to the challenges of whichever of them the layer answers with.
///
/// ```
/// use tower_authz::{AuthLayer, JwtVerifier, ProblemDetails};
///
/// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
/// // `realm="api"` in the challenges of the problem+json refusals.
/// let layer = AuthLayer::new(verifier)
///     .with_response(ProblemDetails::default())
///     .with_realm("api");
/// ```
pub trait BearerChallenges {
    /// The settings of the challenges this responder sends.
    fn challenges_mut(&mut self) -> &mut Rfc6750;
}

/// The default answers: RFC 6750 for HTTP requests, gRPC status codes for gRPC requests.
#[derive(Debug, Clone, Default)]
pub struct Rfc6750 {
    realm: Option<Arc<str>>,
    resource_metadata: Option<Arc<str>>,
}

impl Rfc6750 {
    /// Adds `realm="..."` to the challenges.
    pub fn with_realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Adds `resource_metadata="..."` (RFC 9728) to the challenges, the URL of this resource's
    /// protected-resource metadata, so that clients can find the authorization server.
    pub fn with_resource_metadata(mut self, url: impl Into<Arc<str>>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Without realm or resource metadata: the answers a refusal gets without any settings.
    fn is_plain(&self) -> bool {
        self.realm.is_none() && self.resource_metadata.is_none()
    }

    /// The response for `error`, as HTTP or as gRPC depending on `grpc`.
    pub fn response<B: Default>(&self, error: &AuthError, grpc: bool) -> Response<B> {
        if grpc {
            return grpc_response(error);
        }
        let mut response = Response::new(B::default());
        *response.status_mut() = error.status();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge(error) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        if error.kind() == AuthErrorKind::Upstream {
            let seconds = error.retry_after().map_or(5, |d| d.as_secs().max(1));
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        insert_dpop_nonce(headers, error);
        response
    }

    /// The `WWW-Authenticate` value for `error`, if its kind has one: a `Bearer` challenge, or,
    /// from a layer that accepts DPoP, a `DPoP` one with `algs` (after a `Bearer` one when
    /// bearer tokens are accepted too, RFC 9449 §7.2).
    pub fn challenge(&self, error: &AuthError) -> Option<HeaderValue> {
        let kind = error.kind();
        if matches!(kind, AuthErrorKind::Upstream | AuthErrorKind::NotConfigured) {
            return None;
        }
        // Room for a challenge with a description: built without growing, and handed to the
        // header without a copy.
        let mut value = String::with_capacity(160);
        match error.dpop_algs() {
            None => self.push_challenge(&mut value, "Bearer", error, true, None),
            Some(algs) => {
                let (bearer_too, error_in_bearer) = error.dpop_bearer();
                if bearer_too {
                    self.push_challenge(&mut value, "Bearer", error, error_in_bearer, None);
                    value.push_str(", ");
                }
                self.push_challenge(&mut value, "DPoP", error, !error_in_bearer, Some(algs));
            }
        }
        HeaderValue::try_from(value).ok()
    }

    /// Writes one challenge of `scheme`, with the error's parameters when `with_error`.
    fn push_challenge(
        &self,
        value: &mut String,
        scheme: &str,
        error: &AuthError,
        with_error: bool,
        algs: Option<&str>,
    ) {
        value.push_str(scheme);
        let mut params = Params(value, false);
        if let Some(realm) = &self.realm {
            params.push("realm", realm);
        }
        if let Some(algs) = algs {
            params.push("algs", algs);
        }
        if with_error {
            if let Some(code) = error.kind().rfc6750_code() {
                params.push("error", code);
                params.push("error_description", error.description());
            }
            if let Some(required) = error.required() {
                params.push("scope", required);
            }
            if let Some(acr_values) = error.acr_values() {
                params.push("acr_values", acr_values);
            }
            if let Some(max_age) = error.max_age() {
                params.push("max_age", &max_age.to_string());
            }
        }
        if let Some(url) = &self.resource_metadata {
            params.push("resource_metadata", url);
        }
    }
}

impl BearerChallenges for Rfc6750 {
    fn challenges_mut(&mut self) -> &mut Rfc6750 {
        self
    }
}

impl<B: Default> ResponseForAuthError<B> for Rfc6750 {
    fn response_for(&self, error: &AuthError, request: &Parts) -> Response<B> {
        self.response(error, is_grpc(&request.headers))
    }
}

/// Writes `name="value"` auth-params, keeping only the characters RFC 6750 §3 allows in a
/// quoted value (printable ASCII except `"` and `\`).
struct Params<'a>(&'a mut String, bool);

impl Params<'_> {
    fn push(&mut self, name: &str, value: &str) {
        let quotable = |b: u8| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\';
        let out = &mut *self.0;
        out.push_str(if self.1 { ", " } else { " " });
        self.1 = true;
        out.push_str(name);
        out.push_str("=\"");
        // Almost always every character may stay (descriptions are ours): copy them at once.
        if value.bytes().all(quotable) {
            out.push_str(value);
        } else {
            out.extend(
                value
                    .chars()
                    .filter(|c| u8::try_from(*c).is_ok_and(quotable)),
            );
        }
        out.push('"');
    }
}

/// The `DPoP-Nonce` header of a [`UseDpopNonce`](AuthErrorKind::UseDpopNonce) refusal (RFC 9449
/// §9), for HTTP and gRPC answers alike.
fn insert_dpop_nonce(headers: &mut HeaderMap, error: &AuthError) {
    if let Some(nonce) = error
        .dpop_nonce()
        .and_then(|n| HeaderValue::from_str(n).ok())
    {
        headers.insert(DPOP_NONCE, nonce);
    }
}

/// The header that carries a server nonce (RFC 9449 §9).
const DPOP_NONCE: http::HeaderName = http::HeaderName::from_static("dpop-nonce");

/// Whether the request is gRPC (`content-type: application/grpc...`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"))
}

/// A trailers-only gRPC error response, as `tonic::Status::into_http` builds it.
fn grpc_response<B: Default>(error: &AuthError) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(
        "grpc-status",
        HeaderValue::from(u16::from(error.kind().grpc_code())),
    );
    if let Ok(message) = HeaderValue::from_str(&percent_encode(error.description())) {
        headers.insert("grpc-message", message);
    }
    insert_dpop_nonce(headers, error);
    response
}

/// gRPC's `grpc-message` encoding: percent-encode everything outside printable ASCII, and `%`.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// `message` encoded for `grpc-message`.
fn percent_encode(message: &str) -> String {
    utf8_percent_encode(message, GRPC_MESSAGE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn challenge(error: &AuthError) -> String {
        let response: Response<()> = Rfc6750::default().response(error, false);
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn missing_credentials_has_no_error_code() {
        assert_eq!(challenge(&AuthError::missing_credentials()), "Bearer");
        let with_realm: Response<()> = Rfc6750::default()
            .with_realm("api")
            .response(&AuthError::missing_credentials(), false);
        assert_eq!(
            with_realm.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
    }

    #[test]
    fn invalid_token_and_insufficient_scope() {
        assert_eq!(
            challenge(&AuthError::invalid_token("the token has \"expired\"\\")),
            "Bearer error=\"invalid_token\", error_description=\"the token has expired\""
        );
        assert_eq!(
            challenge(&AuthError::insufficient_scope("admin")),
            "Bearer error=\"insufficient_scope\", error_description=\"the token lacks a required role or scope\", scope=\"admin\""
        );
    }

    #[test]
    fn dpop_challenges() {
        let algs: Arc<str> = Arc::from("ES256 RS256");
        let required = AuthError::missing_credentials().with_dpop_challenge(&algs, false, false);
        assert_eq!(challenge(&required), "DPoP algs=\"ES256 RS256\"");
        let allowed = AuthError::missing_credentials().with_dpop_challenge(&algs, true, false);
        assert_eq!(challenge(&allowed), "Bearer, DPoP algs=\"ES256 RS256\"");
        let bearer = AuthError::invalid_token("bound").with_dpop_challenge(&algs, true, true);
        assert_eq!(
            challenge(&bearer),
            "Bearer error=\"invalid_token\", error_description=\"bound\", DPoP algs=\"ES256 RS256\""
        );
        let nonce = AuthError::use_dpop_nonce("abc").with_dpop_challenge(&algs, true, true);
        let response: Response<()> = Rfc6750::default().with_realm("api").response(&nonce, false);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"api\", DPoP realm=\"api\", algs=\"ES256 RS256\", error=\"use_dpop_nonce\", error_description=\"the DPoP proof must carry the nonce in the DPoP-Nonce header\""
        );
        assert_eq!(response.headers()["dpop-nonce"], "abc");
        let grpc: Response<()> = Rfc6750::default().response(&nonce, true);
        assert_eq!(grpc.headers()["grpc-status"], "16");
        assert_eq!(grpc.headers()["dpop-nonce"], "abc");
    }

    #[test]
    fn upstream_is_503_with_retry_after() {
        let error = AuthError::upstream("down").with_retry_after(Duration::from_millis(10));
        let response: Response<()> = Rfc6750::default().response(&error, false);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn the_layer_hands_on_its_responder_unless_it_is_the_plain_default() {
        let plain = Arc::new(Rfc6750::default());
        assert!(LayerResponder::<()>::for_layer(&plain).is_none());
        let with_realm = Arc::new(Rfc6750::default().with_realm("api"));
        assert!(LayerResponder::<()>::for_layer(&with_realm).is_some());
        let custom = Arc::new(|_: &AuthError, _: &Parts| Response::new(()));
        let handle = LayerResponder::<()>::for_layer(&custom).expect("a custom responder");
        // One more reference to the same responder, no copy.
        assert_eq!(Arc::strong_count(&custom), 2);

        let (mut parts, ()) = http::Request::new(()).into_parts();
        let default: Response<()> =
            refusal_behind_layer(&*plain, AuthError::missing_credentials(), &parts);
        assert!(default.headers().contains_key(WWW_AUTHENTICATE));
        parts.extensions.insert(handle);
        let custom: Response<()> =
            refusal_behind_layer(&*plain, AuthError::missing_credentials(), &parts);
        assert!(!custom.headers().contains_key(WWW_AUTHENTICATE));
        assert!(custom.extensions().get::<AuthError>().is_some());
    }

    #[test]
    fn grpc_codes() {
        let response: Response<()> =
            Rfc6750::default().response(&AuthError::insufficient_scope("admin"), true);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["grpc-status"], "7");
        assert_eq!(percent_encode("a%b\u{e9}"), "a%25b%C3%A9");
        assert_eq!(percent_encode("x\n\u{7f} ~"), "x%0A%7F ~");
    }
}
