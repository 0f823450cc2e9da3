//! The HTTP side of the development issuer: discovery and JWKS endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::CACHE_CONTROL;
use http::{HeaderValue, StatusCode};
use serde_json::json;

use super::state::{DISCOVERY_PATH, JWKS_PATH, Shared};

/// The issuer's routes.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(JWKS_PATH, get(jwks))
        .with_state(shared)
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_requests.fetch_add(1, Ordering::SeqCst);
    if !shared.is_available() {
        return unavailable();
    }
    Json(shared.discovery()).into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if !shared.is_available() {
        return unavailable();
    }
    let mut response = Json(shared.jwks()).into_response();
    if let Some(max_age) = shared.jwks_max_age() {
        let value = format!("public, max-age={}", max_age.as_secs());
        if let Ok(value) = HeaderValue::try_from(value) {
            response.headers_mut().insert(CACHE_CONTROL, value);
        }
    }
    response
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": "temporarily_unavailable" })),
    )
        .into_response()
}
