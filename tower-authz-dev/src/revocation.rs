//! `POST /oauth/v2/revoke` (RFC 7009).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::client_auth::{self, UNAUTHORIZED_CLIENT};
use super::introspection::verify_own_jwt;
use super::reply::{FormBody, OAuthError, Params, simulated_fault};
use super::state::Shared;

pub(super) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: FormBody,
) -> Response {
    shared.revocation_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = simulated_fault(&shared).await {
        return refusal;
    }
    let params = match Params::parse(body) {
        Ok(params) => params,
        Err(refusal) => return refusal.into_response(),
    };
    if client_auth::resource_server(&shared, &headers, &params).is_none() {
        return UNAUTHORIZED_CLIENT.into_response();
    }
    let Some(token) = params.get("token") else {
        return OAuthError::INVALID_REQUEST.into_response();
    };
    // RFC 7009 §2.2: unknown and invalid tokens are answered 200 as well.
    revoke_token(&shared, token);
    StatusCode::OK.into_response()
}

/// Forgets an opaque token or personal access token, or remembers the `jti`
/// of a valid JWT of this issuer as revoked. True if something was revoked.
pub(super) fn revoke_token(shared: &Shared, token: &str) -> bool {
    if shared.tokens.remove(token) {
        return true;
    }
    verify_own_jwt(shared, token)
        .as_ref()
        .and_then(|claims| claims.get("jti").and_then(Value::as_str).map(str::to_owned))
        .is_some_and(|jti| shared.tokens.revoke_jti(&jti))
}
