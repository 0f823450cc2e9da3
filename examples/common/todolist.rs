//! The ToDoList API of Microsoft's Entra daemon sample (`ms-identity-ciam-dotnet-tutorial`,
//! `2-Authorization/3-call-own-api-dotnet-core-daemon/ToDoListAPI`), shared by the
//! `entra_todolist_api` example (which serves it) and the `entra_daemon` example (which runs it
//! in-process when started with no flags).
//!
//! | route | app permission (`roles`) | answer |
//! |---|---|---|
//! | `GET /api/todolist` | `ToDoList.Read.All` or `ToDoList.ReadWrite.All` | every item |
//! | `GET /api/todolist/{id}` | read | the item, or 404 |
//! | `POST /api/todolist` | `ToDoList.ReadWrite.All` | 201, `Location: /todolist/{id}`, the item |
//! | `PUT /api/todolist/{id}` | write | updates `description`: 200 with the item, or 404 |
//! | `DELETE /api/todolist/{id}` | write | 200 with an empty body, or 404 |
//!
//! Only app-only tokens are accepted (the sample's test: `idtyp` is `app`, or, without `idtyp`,
//! `roles` is present and `scp` absent); a delegated (user) token gets 403
//! `insufficient_scope`. With an app token the owner of a new item is the `owner` of the request
//! body, and every item is visible to every caller.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_authz::policy::{self, Access, Policy, Rule, Verdict};
use tower_authz::{
    AuthError, AuthLayer, Claims, ConfigError, CustomClaims, JwksVerifier, Tenants, require,
};
use tower_authz_dev::{DevClient, DevIssuer};

/// The app permission that allows reading every item.
pub(crate) const READ_ALL: &str = "ToDoList.Read.All";
/// The app permission that allows reading and writing every item.
pub(crate) const READ_WRITE_ALL: &str = "ToDoList.ReadWrite.All";

/// The API's application (client) id on the development issuer: the `aud` of its tokens.
pub(crate) const DEV_API_CLIENT_ID: &str = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
/// The daemon's client id on the development issuer.
pub(crate) const DEV_DAEMON_CLIENT_ID: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
/// The daemon's client secret on the development issuer.
pub(crate) const DEV_DAEMON_SECRET: &str = "dev-daemon-secret";

/// The scope a daemon asks for to call the API `api_client_id`: `api://{id}/.default`.
pub(crate) fn default_scope(api_client_id: &str) -> String {
    format!("api://{api_client_id}/.default")
}

/// Registers the daemon on a development issuer, granted `ToDoList.ReadWrite.All`.
pub(crate) fn add_dev_daemon(issuer: &DevIssuer) {
    issuer.add_client(
        DevClient::new(DEV_DAEMON_CLIENT_ID, DEV_DAEMON_SECRET).app_roles([READ_WRITE_ALL]),
    );
}

/// A verifier for the API's tokens: issued by `issuer` (Entra's `{tenantid}` template allowed
/// with a JWKS URL), with `aud` the API's client id or its app id URI `api://{client id}`
/// (`audience` may be given in either form).
///
/// Without `jwks_uri` the keys are found by OIDC discovery of `issuer`.
/// The API's verifier: keys by discovery, or at `jwks_uri`; with `tenants`, `issuer` is a
/// multi-tenant template with `{tenantid}` (and `jwks_uri` is required).
pub(crate) fn verifier(
    issuer: &str,
    jwks_uri: Option<&str>,
    audience: &str,
    tenants: Option<Tenants>,
) -> Result<JwksVerifier, ConfigError> {
    let client_id = audience.strip_prefix("api://").unwrap_or(audience);
    let verifier = match (jwks_uri, tenants) {
        (Some(jwks_uri), Some(tenants)) => {
            JwksVerifier::multi_tenant(issuer, jwks_uri, client_id, tenants)?
        }
        (Some(jwks_uri), None) => JwksVerifier::new(issuer, jwks_uri, client_id)?,
        (None, _) => JwksVerifier::discover(issuer, client_id)?,
    };
    // Entra v2 tokens carry the client id; v1 tokens (and some clients' scopes) the app id URI.
    Ok(verifier.with_audience(format!("api://{client_id}")))
}

/// The API's router: the routes, their policies (app-only tokens with the read or write app
/// permission) and the `AuthLayer`.
pub(crate) fn router(verifier: JwksVerifier) -> Router {
    let read = || require(app_only().and(policy::has_any_role([READ_ALL, READ_WRITE_ALL])));
    let write = || require(app_only().and(policy::has_role(READ_WRITE_ALL)));
    Router::new()
        .route(
            "/api/todolist",
            get(list)
                .route_layer(read())
                .merge(post(create).route_layer(write())),
        )
        .route(
            "/api/todolist/{id}",
            get(get_one)
                .route_layer(read())
                .merge(put(update).merge(delete(remove)).route_layer(write())),
        )
        .with_state(Store::default())
        .layer(AuthLayer::new(verifier))
}

/// Binds `127.0.0.1:port` (0 picks a free port).
pub(crate) async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// The claims of an Entra v2 access token that `create` logs, read once per request with
/// `CustomClaims`. A token whose `oid` or `tid` is not a string is refused with 401
/// `invalid_token`.
#[derive(Debug, Deserialize)]
struct EntraClaims {
    /// The caller's object id: for an app token, the daemon's service principal.
    oid: Option<String>,
    /// The caller's tenant.
    tid: Option<String>,
}

/// Whether the token was issued to an application rather than to a user: the sample's
/// `IsAppMakingRequest`.
fn is_app_token(claims: &Claims) -> bool {
    match claims.get("idtyp") {
        Some(idtyp) => idtyp.as_str() == Some("app"),
        None => claims.get("roles").is_some() && claims.get("scp").is_none(),
    }
}

/// Refuses delegated (user) tokens with 403 `insufficient_scope`, naming the app permissions:
/// this API serves daemons.
fn app_only() -> Rule {
    struct AppOnly;
    impl Policy for AppOnly {
        fn evaluate(&self, access: &Access<'_>) -> Verdict {
            Verdict::Ready(if is_app_token(access.claims()) {
                Ok(())
            } else {
                Err(AuthError::insufficient_scope(format!(
                    "{READ_ALL} {READ_WRITE_ALL}"
                )))
            })
        }
    }
    Rule::new("app-only token", AppOnly)
}

/// A to-do item, as the sample's `ToDo` serializes.
#[derive(Debug, Clone, Serialize)]
struct ToDo {
    id: u64,
    owner: String,
    description: String,
}

/// What `POST` and `PUT` read (`id` is ignored, as in the sample).
#[derive(Debug, Deserialize)]
struct ToDoBody {
    owner: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Default)]
struct Items {
    last_id: u64,
    items: BTreeMap<u64, ToDo>,
}

/// The in-memory list, in id order.
#[derive(Debug, Clone, Default)]
struct Store(Arc<Mutex<Items>>);

impl Store {
    fn with<T>(&self, f: impl FnOnce(&mut Items) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn bad_request(message: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

async fn list(State(store): State<Store>) -> Json<Vec<ToDo>> {
    Json(store.with(|s| s.items.values().cloned().collect()))
}

async fn get_one(State(store): State<Store>, Path(id): Path<u64>) -> Response {
    match store.with(|s| s.items.get(&id).cloned()) {
        Some(item) => Json(item).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn create(
    State(store): State<Store>,
    // Deserialized once, by `app_only`: this is the value it made.
    caller: CustomClaims<EntraClaims>,
    Json(body): Json<ToDoBody>,
) -> Response {
    // App tokens only (see `app_only`): the owner is whoever the daemon says.
    let Some(owner) = body.owner.filter(|o| !o.is_empty()) else {
        return bad_request("owner is required");
    };
    let Some(description) = body.description else {
        return bad_request("description is required");
    };
    let item = store.with(|s| {
        s.last_id += 1;
        let item = ToDo {
            id: s.last_id,
            owner,
            description,
        };
        s.items.insert(item.id, item.clone());
        item
    });
    tracing::info!(
        id = item.id,
        tenant = caller.tid.as_deref(),
        app = caller.oid.as_deref(),
        "to-do created"
    );
    let location = HeaderValue::from_str(&format!("/todolist/{}", item.id));
    let mut response = (StatusCode::CREATED, Json(&item)).into_response();
    if let Ok(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn update(
    State(store): State<Store>,
    Path(id): Path<u64>,
    Json(body): Json<ToDoBody>,
) -> Response {
    let Some(description) = body.description else {
        return bad_request("description is required");
    };
    let updated = store.with(|s| {
        s.items.get_mut(&id).map(|item| {
            item.description = description;
            item.clone()
        })
    });
    match updated {
        Some(item) => Json(item).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn remove(State(store): State<Store>, Path(id): Path<u64>) -> StatusCode {
    match store.with(|s| s.items.remove(&id)) {
        Some(_) => StatusCode::OK,
        None => StatusCode::NOT_FOUND,
    }
}
