//! The refusals of ZITADEL's Go guide, with its exact texts, as a responder for the
//! `AuthLayer` (`with_response`).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use tower_authz::{AuthError, AuthErrorKind};

/// A refusal the way Go's `http.Error` writes it, with the guide's texts.
pub(crate) fn guide_error(error: &AuthError, _: &axum::http::request::Parts) -> Response<Body> {
    let (status, text) = match error.kind() {
        AuthErrorKind::MissingCredentials | AuthErrorKind::InvalidRequest => (
            StatusCode::UNAUTHORIZED,
            "unauthorized: authorization header is empty".to_owned(),
        ),
        AuthErrorKind::InsufficientScope => (
            StatusCode::FORBIDDEN,
            format!(
                "permission denied: missing required role: `{}`",
                error.required().unwrap_or_default()
            ),
        ),
        AuthErrorKind::Upstream => (
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable: token introspection failed".to_owned(),
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            format!("unauthorized: {}", error.description()),
        ),
    };
    let mut response = Response::new(Body::from(format!("{text}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
