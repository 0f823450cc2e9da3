//! RFC 9457 problem details for refusals: [`ProblemDetails`], a responder for
//! [`AuthLayer::with_response`](crate::AuthLayer::with_response).
//!
//! The status and the headers are those of [`Rfc6750`] (RFC 6750 requires the
//! `WWW-Authenticate: Bearer` challenge whatever the body); the body is an
//! `application/problem+json` document:
//!
//! | kind | status, `title` | `error` | headers |
//! |---|---|---|---|
//! | [`MissingCredentials`](crate::AuthErrorKind::MissingCredentials) | 401 `Unauthorized` | none (RFC 6750 §3.1) | `WWW-Authenticate: Bearer` |
//! | [`InvalidRequest`](crate::AuthErrorKind::InvalidRequest) | 400 `Bad Request` | `invalid_request` | `WWW-Authenticate: Bearer error=..` |
//! | [`InvalidToken`](crate::AuthErrorKind::InvalidToken), [`Expired`](crate::AuthErrorKind::Expired) | 401 `Unauthorized` | `invalid_token` | `WWW-Authenticate: Bearer error=..` |
//! | [`InsufficientScope`](crate::AuthErrorKind::InsufficientScope) | 403 `Forbidden` | `insufficient_scope`, and `scope` | `WWW-Authenticate: Bearer error=..` |
//! | [`InsufficientUserAuthentication`](crate::AuthErrorKind::InsufficientUserAuthentication) | 401 `Unauthorized` | `insufficient_user_authentication`, and `acr_values` / `max_age` (RFC 9470) | `WWW-Authenticate: Bearer error=..` |
//! | [`Upstream`](crate::AuthErrorKind::Upstream) | 503 `Service Unavailable` | none | `Retry-After` |
//! | [`NotConfigured`](crate::AuthErrorKind::NotConfigured) | 500 `Internal Server Error` | none | none |
//! | [`InvalidDpopProof`](crate::AuthErrorKind::InvalidDpopProof) | 401 `Unauthorized` | `invalid_dpop_proof` | `WWW-Authenticate: DPoP algs=.., error=..` |
//! | [`UseDpopNonce`](crate::AuthErrorKind::UseDpopNonce) | 401 `Unauthorized` | `use_dpop_nonce` | `WWW-Authenticate: DPoP algs=.., error=..`, `DPoP-Nonce` |
//!
//! gRPC requests get the same gRPC status codes as with [`Rfc6750`], without a body.

use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, Response};
use serde::Serialize;

use crate::error::AuthError;
use crate::response::{BearerChallenges, ResponseForAuthError, Rfc6750, is_grpc};

/// The media type of a problem document (RFC 9457 §3).
const PROBLEM_JSON: &str = "application/problem+json";

/// Answers refusals with an RFC 9457 `application/problem+json` body beside the RFC 6750
/// challenge.
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use tower::ServiceExt;
/// use tower_authz::{AuthLayer, JwtVerifier, ProblemDetails};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
/// let app: Router = Router::new()
///     .route("/tasks", get(|| async { "[]" }))
///     .layer(AuthLayer::new(verifier).with_response(ProblemDetails::default()));
///
/// let request = Request::get("/tasks")
///     .header("authorization", "Bearer not-a-jwt")
///     .body(Body::empty())
///     .unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// assert!(response.headers()["www-authenticate"]
///     .to_str()
///     .unwrap()
///     .starts_with("Bearer error=\"invalid_token\""));
/// let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
/// let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// assert_eq!(problem["type"], "about:blank");
/// assert_eq!(problem["title"], "Unauthorized");
/// assert_eq!(problem["status"], 401);
/// assert_eq!(problem["error"], "invalid_token");
/// # }
/// ```
///
/// The members are:
///
/// - `type`: `"about:blank"`, with `title` the status's reason phrase (RFC 9457 §4.2.1), as
///   Spring's `ProblemDetail` has it. ASP.NET Core's `AddProblemDetails` links the status's
///   section of RFC 9110 instead; the two agree on `title`, and so do we. What tells the
///   refusals apart is the `error` member, the RFC 6750 code of the challenge.
/// - `title`: the status's reason phrase (`"Unauthorized"`, `"Forbidden"`, ...).
/// - `status`: the HTTP status.
/// - `detail`: the [`AuthError`]'s fixed, client-safe
///   [`description`](AuthError::description), the RFC 6750 `error_description`; never the
///   token, a secret or the error's cause.
/// - `error` (extension): the RFC 6750 error code, when the kind has one; `scope` (extension):
///   the role or scope that was required, for `insufficient_scope`, as in the challenge.
///
/// Neither `instance` (Spring sets the request path, ASP.NET Core leaves it out) nor a
/// `traceId` (ASP.NET Core only) is sent: the body depends on the refusal alone. For those, or
/// for a `type` URI per kind, write your own responder (any
/// `Fn(&AuthError, &http::request::Parts) -> http::Response<B>`).
///
/// The response body `B` must be buildable from a `String` (axum's `Body`, `String`, `Bytes`,
/// `Full<Bytes>`, ...): put the `AuthLayer` on the axum `Router`, where gRPC requests still get
/// gRPC status codes. A tonic-only server answers nothing but gRPC, which [`Rfc6750`] does.
#[derive(Debug, Clone, Default)]
pub struct ProblemDetails {
    challenges: Rfc6750,
}

impl ProblemDetails {
    /// Adds `realm="..."` to the challenges (as [`Rfc6750::with_realm`]).
    pub fn with_realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.challenges = self.challenges.with_realm(realm);
        self
    }

    /// Adds `resource_metadata="..."` (RFC 9728) to the challenges (as
    /// [`Rfc6750::with_resource_metadata`]).
    pub fn with_resource_metadata(mut self, url: impl Into<Arc<str>>) -> Self {
        self.challenges = self.challenges.with_resource_metadata(url);
        self
    }

    /// The response for `error`: a problem document for HTTP, a gRPC status when `grpc`.
    ///
    /// ```
    /// use tower_authz::{AuthError, ProblemDetails};
    ///
    /// let response = ProblemDetails::default()
    ///     .response::<String>(&AuthError::insufficient_scope("admin"), false);
    /// assert_eq!(response.status(), 403);
    /// let problem: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    /// assert_eq!(problem["error"], "insufficient_scope");
    /// assert_eq!(problem["scope"], "admin");
    /// ```
    pub fn response<B: Default + From<String>>(
        &self,
        error: &AuthError,
        grpc: bool,
    ) -> Response<B> {
        let mut response = self.challenges.response::<B>(error, grpc);
        if grpc {
            return response;
        }
        *response.body_mut() = B::from(document(error));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl BearerChallenges for ProblemDetails {
    fn challenges_mut(&mut self) -> &mut Rfc6750 {
        &mut self.challenges
    }
}

impl<B: Default + From<String>> ResponseForAuthError<B> for ProblemDetails {
    fn response_for(&self, error: &AuthError, request: &Parts) -> Response<B> {
        self.response(error, is_grpc(&request.headers))
    }
}

/// A problem document (RFC 9457 §3.1), members in the RFC's order, then the extensions.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_uri: &'static str,
    title: &'static str,
    status: u16,
    detail: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr_values: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
}

/// The problem document of `error`, as JSON text.
fn document(error: &AuthError) -> String {
    let status = error.status();
    let problem = Problem {
        type_uri: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail: error.description(),
        error: error.kind().rfc6750_code(),
        scope: error.required(),
        acr_values: error.acr_values(),
        max_age: error.max_age(),
    };
    // Serializing strings and a number cannot fail; an empty body would still carry the status
    // and the challenge.
    serde_json::to_string(&problem).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthErrorKind;
    use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
    use serde_json::{Value, json};
    use std::time::Duration;

    fn problem(error: &AuthError) -> (Response<String>, Value) {
        let response = ProblemDetails::default()
            .with_realm("api")
            .response::<String>(error, false);
        let body = serde_json::from_str(response.body()).expect("json");
        (response, body)
    }

    #[test]
    fn a_missing_token_has_no_error_code() {
        let (response, body) = problem(&AuthError::missing_credentials());
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        assert_eq!(
            body,
            json!({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "no access token"})
        );
    }

    #[test]
    fn members_in_the_rfcs_order() {
        let response = ProblemDetails::default()
            .response::<String>(&AuthError::insufficient_scope("admin"), false);
        assert_eq!(
            response.body(),
            r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"the token lacks a required role or scope","error":"insufficient_scope","scope":"admin"}"#
        );
    }

    #[test]
    fn a_step_up_refusal_says_what_would_do_in_body_and_challenge() {
        let error = AuthError::insufficient_user_authentication(
            Some("phrh".into()),
            Some(Duration::from_secs(300)),
        );
        let (response, body) = problem(&error);
        assert_eq!(response.status(), 401);
        let challenge = response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii");
        assert!(
            challenge.contains("error=\"insufficient_user_authentication\""),
            "{challenge}"
        );
        assert!(
            challenge.contains("acr_values=\"phrh\", max_age=\"300\""),
            "{challenge}"
        );
        assert_eq!(body["error"], "insufficient_user_authentication");
        assert_eq!(
            (body["acr_values"].as_str(), body["max_age"].as_u64()),
            (Some("phrh"), Some(300))
        );
    }

    #[test]
    fn a_bad_token_carries_its_code_in_body_and_challenge() {
        let (response, body) = problem(&AuthError::invalid_token("the token has expired"));
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["detail"], "the token has expired");
    }

    #[test]
    fn an_unavailable_provider_is_503_with_retry_after_and_no_cause() {
        let error = AuthError::upstream("the identity provider is unreachable")
            .with_source("connect to secret-host:443 refused")
            .with_retry_after(Duration::from_secs(7));
        let (response, body) = problem(&error);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[RETRY_AFTER], "7");
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
        assert_eq!(body["title"], "Service Unavailable");
        assert!(body.get("error").is_none());
        assert!(!response.body().contains("secret-host"));
    }

    #[test]
    fn a_configuration_error_is_500_without_a_challenge() {
        let error = AuthError::new(AuthErrorKind::NotConfigured, "no AuthLayer");
        let (response, body) = problem(&error);
        assert_eq!(response.status(), 500);
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
        assert_eq!(body["title"], "Internal Server Error");
    }

    #[test]
    fn grpc_requests_get_a_grpc_status_and_no_body() {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        let response: Response<String> =
            ProblemDetails::default().response_for(&AuthError::insufficient_scope("admin"), &parts);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["grpc-status"], "7");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
        assert!(response.body().is_empty());
    }
}
