//! The ToDoList API of Microsoft's Entra daemon sample (`ms-identity-ciam-dotnet-tutorial`,
//! `2-Authorization/3-call-own-api-dotnet-core-daemon/ToDoListAPI`), shared by the
//! `entra_todolist_api` example (which serves it) and the `entra_daemon` example (which runs it
//! in-process when started with no flags).
//!
//! | route | permission: delegated (`scp`) or application (`roles`) | answer |
//! |---|---|---|
//! | `GET /api/todolist` | `ToDoList.Read` / `ToDoList.ReadWrite`, or `ToDoList.Read.All` / `ToDoList.ReadWrite.All` | the caller's items (a daemon: every item) |
//! | `GET /api/todolist/{id}` | read; a user's token only for its own item | the item, or 404 |
//! | `POST /api/todolist` | `ToDoList.ReadWrite`, or `ToDoList.ReadWrite.All` | 201, `Location: /todolist/{id}`, the item |
//! | `PUT /api/todolist/{id}` | write; a user's token only for its own item | updates `description`: 200 with the item, or 404 |
//! | `DELETE /api/todolist/{id}` | write; a user's token only for its own item | 200 with an empty body, or 404 |
//!
//! As in the sample, the permission is Microsoft.Identity.Web's `RequiredScopeOrAppPermission`
//! (`policy::scope_or_role`), and what a caller may touch depends on who calls: an app-only
//! token (the sample's `IsAppMakingRequest`: `idtyp` is `app`, or, without `idtyp`, app roles
//! and no scopes) sees every item and names the owner of a new one in the request body; a
//! user's (delegated) token owns what it creates (its `oid`), lists only that, and gets 403
//! `insufficient_scope` for anyone else's item. A missing permission is 403 `insufficient_scope`
//! naming the permissions that would do; a missing or bad token 401 (RFC 6750).
//!
//! The rules are Rust ([`router`] with no Cedar files) or the Cedar policies of
//! `examples/todolist.cedar` with the schema `examples/todolist.cedarschema` (feature `cedar`):
//! the same answers either way (tests/cedar.rs). In Cedar, owner-only needs the item's owner,
//! which the request does not carry: a resource loader reads it from the store into the
//! resource's `owner` attribute, as a database look-up would.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_authz::policy::{self, Access, Rule};
use tower_authz::{AuthLayer, Claims, ConfigError, JwksVerifier, Tenants, Verifier, require};
use tower_authz_dev::{DevClient, DevIssuer};

/// The app permission that allows reading every item.
pub(crate) const READ_ALL: &str = "ToDoList.Read.All";
/// The app permission that allows reading and writing every item.
pub(crate) const READ_WRITE_ALL: &str = "ToDoList.ReadWrite.All";
/// The delegated permission (scope) that allows a user to read their items.
pub(crate) const READ: &str = "ToDoList.Read";
/// The delegated permission (scope) that allows a user to read and write their items.
pub(crate) const READ_WRITE: &str = "ToDoList.ReadWrite";

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

/// The API's router: the routes, their rules (in Rust, or the Cedar policies of `cedar`:
/// the policy set's file and its schema's, feature `cedar`) and the `AuthLayer`. Fails if the
/// Cedar files do not parse or type-check.
pub(crate) fn router(
    verifier: impl Verifier,
    cedar: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<Router, Box<dyn std::error::Error>> {
    let store = Store::default();
    let app = match cedar {
        None => rust_routes(&store),
        Some((policies, schema)) => cedar_routes(&store, policies, schema)?,
    };
    Ok(app.with_state(store).layer(AuthLayer::new(verifier)))
}

/// The routes with the rules in Rust: the permission, then (for an item) owner-only, so that
/// an owner-only refusal comes first, as a Cedar `forbid` overrides every `permit`.
fn rust_routes(store: &Store) -> Router<Store> {
    let read = || policy::scope_or_role([READ, READ_WRITE], [READ_ALL, READ_WRITE_ALL]);
    let write = || policy::scope_or_role([READ_WRITE], [READ_WRITE_ALL]);
    let owner = || owner_only(store.clone());
    Router::new()
        .route(
            "/api/todolist",
            get(list)
                .route_layer(require(read()))
                .merge(post(create).route_layer(require(write()))),
        )
        .route(
            "/api/todolist/{id}",
            get(get_one)
                .route_layer(require(owner().and(read())))
                .merge(
                    put(update)
                        .merge(delete(remove))
                        .route_layer(require(owner().and(write()))),
                ),
        )
}

/// The routes with the rules of the Cedar policies in the file `policies` (schema: `schema`):
/// one rule for every route (the policies tell the routes apart by their action), with the
/// item's owner loaded from `store`.
#[cfg(feature = "cedar")]
fn cedar_routes(
    store: &Store,
    policies: &std::path::Path,
    schema: &std::path::Path,
) -> Result<Router<Store>, Box<dyn std::error::Error>> {
    use tower_authz::Answer;
    use tower_authz::policy::CedarPolicy;

    let store = store.clone();
    let rules = CedarPolicy::builder_from_files(policies, schema)?
        .with_principal_claim("oid", "oid")
        .with_principal_claim("idtyp", "idtyp")
        .with_resource_loader(move |access: &Access<'_>| {
            // The owner of the item `{id}`, if there is one (a database look-up in a real
            // service: `Answer::pending(async move { ... })`).
            let mut attributes = serde_json::Map::new();
            if let Some(owner) = item_id(access).and_then(|id| store.owner_of(id)) {
                attributes.insert("owner".into(), owner.into());
            }
            Answer::Ready(Ok(attributes))
        })
        .build()?;
    // On each route's methods, not `Router::route_layer`: a method the route does not have
    // stays 405 (with `Router::route_layer` it would reach the policy, which has no action
    // for it: 403).
    Ok(Router::new()
        .route(
            "/api/todolist",
            get(list)
                .merge(post(create))
                .route_layer(require(rules.clone())),
        )
        .route(
            "/api/todolist/{id}",
            get(get_one)
                .merge(put(update))
                .merge(delete(remove))
                .route_layer(require(rules)),
        ))
}

#[cfg(not(feature = "cedar"))]
fn cedar_routes(
    _: &Store,
    _: &std::path::Path,
    _: &std::path::Path,
) -> Result<Router<Store>, Box<dyn std::error::Error>> {
    Err("Cedar policies need the `cedar` feature: cargo run --features cedar --example ...".into())
}

/// Binds `127.0.0.1:port` (0 picks a free port).
pub(crate) async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Whether the token was issued to an application rather than to a user: the sample's
/// `IsAppMakingRequest` (`idtyp` says; without it, app roles and no scopes).
fn is_app_token(claims: &Claims) -> bool {
    match claims.get("idtyp") {
        Some(idtyp) => idtyp.as_str() == Some("app"),
        None => claims.roles().len() > 0 && claims.scopes().len() == 0,
    }
}

/// The user who owns what a delegated token creates: its `oid` (Entra's object id).
fn user_of(claims: &Claims) -> Option<&str> {
    claims.get("oid").and_then(|oid| oid.as_str())
}

/// The item id of an item route, if it is a number.
fn item_id(access: &Access<'_>) -> Option<u64> {
    access.path_param("id")?.parse().ok()
}

/// Owner-only: a user's token reaches only its own item (an app's, every item); an item that
/// does not exist is the handler's 404.
fn owner_only(store: Store) -> Rule {
    policy::from_fn(move |access: &Access<'_>| {
        let claims = access.claims();
        if is_app_token(claims) {
            return true;
        }
        match item_id(access).and_then(|id| store.owner_of(id)) {
            Some(owner) => user_of(claims) == Some(owner.as_str()),
            None => true,
        }
    })
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

    /// The owner of item `id`, if it exists.
    fn owner_of(&self, id: u64) -> Option<String> {
        self.with(|s| s.items.get(&id).map(|item| item.owner.clone()))
    }
}

fn bad_request(message: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

async fn list(State(store): State<Store>, claims: Claims) -> Json<Vec<ToDo>> {
    // A daemon sees every item, a user their own (the sample's `RequestCanAccessToDo`).
    let app = is_app_token(&claims);
    let user = user_of(&claims);
    Json(store.with(|s| {
        s.items
            .values()
            .filter(|item| app || user == Some(item.owner.as_str()))
            .cloned()
            .collect()
    }))
}

async fn get_one(State(store): State<Store>, Path(id): Path<u64>) -> Response {
    match store.with(|s| s.items.get(&id).cloned()) {
        Some(item) => Json(item).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn create(
    State(store): State<Store>,
    claims: Claims,
    Json(body): Json<ToDoBody>,
) -> Response {
    // A daemon names the owner; a user owns what they create (the sample ignores the body's
    // owner for delegated tokens).
    let owner = if is_app_token(&claims) {
        body.owner.filter(|o| !o.is_empty())
    } else {
        user_of(&claims).map(str::to_owned)
    };
    let Some(owner) = owner else {
        return bad_request("owner is required (a user's token needs an `oid`)");
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
