//! What the OAuth endpoints have in common: the form body, the outage and
//! delay switches, and the OAuth error answers.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use serde_json::json;

use super::state::Shared;

/// A form body as the handlers receive it; parse it with [`Params::parse`].
pub(super) type FormBody = Result<Form<Vec<(String, String)>>, FormRejection>;

/// The parameters of a form body.
#[derive(Debug)]
pub(super) struct Params(HashMap<String, String>);

impl Params {
    /// Parses a form body. An unreadable body and a repeated parameter
    /// (RFC 6749 §3.2) are answered `400 invalid_request`.
    pub(super) fn parse(body: FormBody) -> Result<Params, OAuthError> {
        let Ok(Form(pairs)) = body else {
            return Err(OAuthError::INVALID_REQUEST);
        };
        let mut params = HashMap::new();
        for (name, value) in pairs {
            match params.entry(name) {
                Entry::Occupied(_) => return Err(OAuthError::INVALID_REQUEST),
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            }
        }
        Ok(Params(params))
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

/// Waits for the configured response delay, then answers `503` if the issuer
/// is unavailable. `None` means: go on and answer.
pub(super) async fn simulated_fault(shared: &Shared) -> Option<Response> {
    if let Some(delay) = shared.response_delay() {
        tokio::time::sleep(delay).await;
    }
    (!shared.is_available()).then(unavailable)
}

/// Middleware: answers `503` (after the configured delay) while the issuer is
/// unavailable, before the request is even looked at.
pub(super) async fn simulate_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refusal) = simulated_fault(&shared).await {
        return refusal;
    }
    next.run(request).await
}

fn unavailable() -> Response {
    OAuthError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable").into_response()
}

/// An OAuth error answer: `{"error": code}` with a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OAuthError {
    status: StatusCode,
    code: &'static str,
    /// Adds `WWW-Authenticate: Basic realm="dev"` (a failed `client_secret_basic`).
    basic_challenge: bool,
}

impl OAuthError {
    pub(super) const INVALID_REQUEST: OAuthError =
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request");

    pub(super) const fn new(status: StatusCode, code: &'static str) -> Self {
        OAuthError {
            status,
            code,
            basic_challenge: false,
        }
    }

    pub(super) const fn with_basic_challenge(mut self) -> Self {
        self.basic_challenge = true;
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.code }))).into_response();
        if self.basic_challenge {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"dev\""),
            );
        }
        response
    }
}

/// Adds `Cache-Control: no-store` (RFC 6749 §5.1).
pub(super) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
