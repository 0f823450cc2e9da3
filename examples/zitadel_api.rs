//! The API of ZITADEL's Go integration guide ("ZITADEL with Go"), protected by token
//! introspection with the API's key file (`private_key_jwt`).
//!
//! - `/api/healthz`: public, `"OK"`.
//! - `/api/tasks`: needs a valid token; `{"tasks":[...]}` (`{}` when empty); an admin also sees
//!   `create a new task on /api/add-task`.
//! - `/api/add-task`: needs the role `admin`; reads the form field `task`.
//!
//! Like the Go example, any HTTP method is accepted and refusals carry the guide's plain-text
//! bodies (the library's own answers are RFC 6750; the responder given once to the `AuthLayer`
//! turns them into these, for the role check and the extractors behind it too).
//!
//! With no flags it starts the development issuer, writes the API's key file, and prints tokens
//! and the guide's curl lines:
//!
//! ```sh
//! cargo run --example zitadel_api
//! ```
//!
//! Against a real ZITADEL instance, as in the guide:
//!
//! ```sh
//! cargo run --example zitadel_api -- --domain my-domain.zitadel.cloud --key ./api.json
//! ```
//!
//! Or from a configuration file (issuer, key file, roles, the `admin` policy; see
//! `examples/config/zitadel_api.toml` and `tower_authz::config`):
//!
//! ```sh
//! cargo run --example zitadel_api -- --config examples/config/zitadel_api.toml
//! ```
//!
//! `/api/backchannel-logout` receives the provider's OpenID Connect back-channel logout tokens
//! (for the key file's client id): the tokens of a logged-out session (`sid`) or user are
//! refused from then on.
//!
//! Several replicas sharing introspection answers and logouts through Redis (feature `redis`;
//! the same secret, at least 32 bytes, in `TOWER_AUTHZ_CACHE_SECRET` on every replica): a
//! logout that reaches one replica is refused by all within milliseconds.
//!
//! ```sh
//! export TOWER_AUTHZ_CACHE_SECRET=$(head -c 32 /dev/urandom | base64)
//! cargo run --example zitadel_api --features redis -- --domain my-domain.zitadel.cloud \
//!     --key ./api.json --port 8089 --redis redis://127.0.0.1:6379
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::routing::any;
use clap::Parser;
use serde::Serialize;
use tower_authz::config::AuthConfig;
use tower_authz::{
    ApplicationKey, AuthLayer, BackChannelLogout, Claims, JwksVerifier, Revocable, Revocations,
    policy, require,
};

#[path = "common/zitadel.rs"]
mod zitadel;
#[path = "common/zitadel_guide.rs"]
mod zitadel_guide;

#[derive(Parser, Debug)]
#[command(about = "The ZITADEL Go guide's API, protected by tower-authz")]
struct Args {
    /// Read the issuer, the introspection settings (key file), roles and the `admin` policy
    /// from this TOML or JSON file (see examples/config/zitadel_api.toml) instead of the flags.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["domain", "key"])]
    config: Option<PathBuf>,
    /// Your ZITADEL instance domain, e.g. my-domain.zitadel.cloud (https is assumed) or a full
    /// URL such as http://127.0.0.1:8080. Without it, a development issuer is started.
    #[arg(long)]
    domain: Option<String>,
    /// The path to the API application's key.json.
    #[arg(long, requires = "domain")]
    key: Option<String>,
    /// The port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8089)]
    port: u16,
    /// Share introspection answers with other replicas through this Redis
    /// (`redis://host:port` or `rediss://`), keyed with the secret in the environment variable
    /// `TOWER_AUTHZ_CACHE_SECRET` (feature `redis`).
    #[arg(long, value_name = "URL", conflicts_with = "config")]
    redis: Option<String>,
}

/// The environment variable with the shared cache's secret (the same on every replica).
const CACHE_SECRET_VAR: &str = "TOWER_AUTHZ_CACHE_SECRET";

/// The revocations of this replica, and `verifier` sharing its answers: through the Redis at
/// `url` if one is given (introspection answers and revocations both, on one connection).
fn replicated(
    verifier: tower_authz::IntrospectionVerifier,
    url: Option<&str>,
) -> Result<(tower_authz::IntrospectionVerifier, Revocations), Box<dyn std::error::Error>> {
    let revocations = Revocations::new();
    let Some(url) = url else {
        return Ok((verifier, revocations));
    };
    let secret = std::env::var(CACHE_SECRET_VAR)
        .map_err(|_| format!("--redis needs the shared secret in {CACHE_SECRET_VAR}"))?;
    #[cfg(feature = "redis")]
    {
        let redis = Arc::new(tower_authz::RedisCache::new(url, secret)?);
        Ok((
            verifier.with_shared_cache(Arc::clone(&redis)),
            revocations.with_store(redis),
        ))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url, secret, revocations);
        Err("--redis needs the `redis` feature (cargo run --features redis)".into())
    }
}

/// A JSON answer the way Go's `json.Marshal` writes it: no trailing newline.
fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

type Tasks = Arc<Mutex<Vec<String>>>;

#[derive(Serialize)]
struct TaskList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tasks: Vec<String>,
}

async fn healthz() -> Response<Body> {
    json_response(StatusCode::OK, &"OK")
}

async fn list_tasks(State(tasks): State<Tasks>, claims: Claims) -> Response<Body> {
    let mut list = tasks.lock().map(|t| t.clone()).unwrap_or_default();
    if claims.has_role("admin") {
        list.push("create a new task on /api/add-task".to_owned());
    }
    tracing::info!(id = claims.subject(), username = ?claims.get("username"), "user accessed task list");
    json_response(StatusCode::OK, &TaskList { tasks: list })
}

/// Go's `FormValue`: the urlencoded body first, then the query string.
fn form_value(query: Option<&str>, body: &[u8], name: &str) -> Option<String> {
    let find = |input: &[u8]| {
        form_urlencoded::parse(input)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    find(body).or_else(|| query.and_then(|q| find(q.as_bytes())))
}

async fn add_task(
    State(tasks): State<Tasks>,
    claims: Claims,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response<Body> {
    let task = form_value(query.as_deref(), &body, "task").unwrap_or_default();
    let task = task.trim();
    if task.is_empty() {
        return json_response(StatusCode::BAD_REQUEST, &"task must not be empty");
    }
    if let Ok(mut tasks) = tasks.lock() {
        tasks.push(task.to_owned());
    }
    tracing::info!(id = claims.subject(), task, "admin added task");
    json_response(StatusCode::OK, &format!("task `{task}` added"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();

    // With --config: everything from the file. With no --domain: a development issuer, the API's
    // key file, a user and an admin.
    let (layer, admin, dev, key_path, logout) = match &args.config {
        Some(path) => {
            let config = AuthConfig::from_file(path)?;
            (
                config.build_layer()?,
                config.policy("admin")?,
                None,
                None,
                None,
            )
        }
        None => {
            let (verifier, dev, key_path) =
                zitadel::verifier("zitadel-api", args.domain.as_deref(), args.key.as_deref())
                    .await?;
            let (verifier, revocations) = replicated(verifier, args.redis.as_deref())?;
            // ZITADEL sends back-channel logout tokens to the application's client id; a
            // logged-out session's tokens are refused at once, on every replica.
            let issuer = match (&dev, &args.domain) {
                (Some(dev), _) => dev.issuer().to_owned(),
                (None, domain) => zitadel::issuer_url(domain.as_deref().unwrap_or_default()),
            };
            let client_id = ApplicationKey::from_file(&key_path)?.client_id().to_owned();
            let logout = BackChannelLogout::new(
                JwksVerifier::discover(&issuer, &client_id)?,
                revocations.clone(),
            );
            let layer = AuthLayer::new(Revocable::new(verifier, revocations));
            (
                layer,
                policy::has_role("admin"),
                dev,
                Some(key_path),
                Some(logout),
            )
        }
    };
    let tasks = Tasks::default();
    let app = Router::new()
        .route("/api/add-task", any(add_task))
        .route_layer(require(admin))
        .route("/api/tasks", any(list_tasks))
        // The guide's answers, set once: the layer's refusals, the role check's and the
        // extractors' all come out this way.
        .route_layer(layer.with_response(zitadel_guide::guide_error))
        .route("/api/healthz", any(healthz))
        .with_state(tasks);
    // Where the provider's back-channel logout tokens arrive (register
    // `https://<this host>/api/backchannel-logout` as the application's back-channel logout URI).
    let app = match logout {
        Some(logout) => app.route_service("/api/backchannel-logout", logout),
        None => app,
    };

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    tracing::info!(addr = %base, "server listening, press ctrl+c to stop");
    println!("zitadel_api listening on {base}");
    if let Some(issuer) = &dev {
        let user = issuer.personal_access_token("tasks-user");
        let admin = issuer.personal_access_token("tasks-admin");
        println!(
            "development issuer: {} (API key file: {})",
            issuer.issuer(),
            key_path.unwrap_or_default()
        );
        println!("personal access tokens:");
        println!("export token={user}");
        println!("export admin_token={admin}");
        println!("try the guide's calls:");
        println!("  curl -i {base}/api/healthz");
        println!("  curl -i {base}/api/tasks");
        println!("  curl -i -H \"Authorization: Bearer ${{token}}\" {base}/api/tasks");
        println!("  curl -i -H \"Authorization: Bearer ${{token}}\" {base}/api/add-task");
        println!(
            "  curl -i -H \"Authorization: Bearer ${{admin_token}}\" {base}/api/add-task --data \"task=My new task\""
        );
        println!("  curl -i -H \"Authorization: Bearer ${{admin_token}}\" {base}/api/tasks");
    }
    axum::serve(listener, app).await?;
    Ok(())
}
