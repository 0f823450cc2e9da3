//! The HTTP side of the development issuer: the routes, discovery and JWKS.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::CACHE_CONTROL;
use http::{HeaderValue, StatusCode};

use super::MetadataDocuments;
use super::reply::{simulate_faults, simulated_fault};
use super::state::{
    DISCOVERY_PATH, FUSIONAUTH_JWKS_PATH, INTROSPECTION_PATH, JWKS_PATH, OAUTH_METADATA_PATH,
    REVOCATION_PATH, Shared, TOKEN_PATH, USERS_ME_PATH,
};
use super::users_me::{self, SelfVerifier};
use super::{fusionauth, introspection, logout, revocation, token_endpoint};
use tower_authz::AuthLayer;

/// The issuer's routes.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    // ZITADEL's own API, protected by tower-authz's `AuthLayer`; the outage
    // and delay switches act before the token is looked at.
    let zitadel_api = Router::new()
        .route(USERS_ME_PATH, get(users_me::users_me))
        .route_layer(AuthLayer::new(SelfVerifier {
            shared: Arc::clone(&shared),
        }))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            simulate_faults,
        ));
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(OAUTH_METADATA_PATH, get(oauth_metadata))
        .route(JWKS_PATH, get(jwks))
        .route(FUSIONAUTH_JWKS_PATH, get(jwks))
        .route(TOKEN_PATH, post(token_endpoint::token))
        .route(INTROSPECTION_PATH, post(introspection::introspect))
        .route(REVOCATION_PATH, post(revocation::revoke))
        .merge(zitadel_api)
        .merge(fusionauth::router(Arc::clone(&shared)))
        .merge(logout::router(Arc::clone(&shared)))
        .with_state(shared)
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    metadata(&shared, MetadataDocuments::OpenIdConfigurationOnly).await
}

async fn oauth_metadata(State(shared): State<Arc<Shared>>) -> Response {
    metadata(&shared, MetadataDocuments::OAuthAuthorizationServerOnly).await
}

/// A metadata document (the same content at either location), or `404` if the issuer is set
/// to serve only the other one.
async fn metadata(shared: &Shared, this_one: MetadataDocuments) -> Response {
    shared.discovery_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = simulated_fault(shared).await {
        return refusal;
    }
    let served = shared.metadata_documents();
    if served != MetadataDocuments::Both && served != this_one {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(shared.discovery()).into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = simulated_fault(&shared).await {
        return refusal;
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
