//! An API behind FusionAuth's hosted backend: the access token comes in the `app.at` cookie.
//!
//! - `GET /identity`: the caller's identity and claims (JSON).
//! - `GET /messages`: `{"messages":["Hello"]}`.
//! - `POST /messages` with `{"message": "..."}`: adds a message (answers the list).
//!
//! All answer 401 without a valid `app.at` cookie. The `app.idt` cookie (an ID token) is never
//! accepted as an access token (RFC 8725 §3.11), whatever FusionAuth's .NET tutorial reads.
//! The login pages (`index.html`, `profile.html`) are served on a second port, and the API
//! allows that origin with credentials (CORS).
//!
//! Cross-site request forgery: the browser sends the `app.at` cookie on its own, so a page of
//! another origin could make the user's browser `POST` with it. Two defences:
//!
//! - FusionAuth (and the development issuer) set `app.at` with `HttpOnly` (no script reads it),
//!   `SameSite=Lax` (not sent on cross-site `POST`s or subrequests) and `Secure` when the
//!   issuer is on https. `SameSite` is about the *site*, which ignores the port and
//!   subdomains: `http://127.0.0.1:4000` is the same site as the login page on `:3000`.
//! - So the API also checks `Origin`: an unsafe request (`POST`, `PUT`, `PATCH`, `DELETE`)
//!   whose `Origin` is present and not an allowed origin is refused with 403 before the auth
//!   layer and the handler run. Allowed: the login pages' origin and the API's own, or the
//!   `--allowed-origin` values. Safe methods (`GET`) pass whatever their `Origin`; a request
//!   without `Origin` (curl, a server) passes too, as it carries no browser's cookies.
//!
//! With no flags it starts the development issuer with a FusionAuth face (hosted backend,
//! `/api/login`, a development user) and prints the page's address and a curl line:
//!
//! ```sh
//! cargo run --example fusionauth_api
//! ```
//!
//! Against a real FusionAuth (RS256 keys from its JWKS, or its default HS256 key):
//!
//! ```sh
//! cargo run --example fusionauth_api -- --issuer http://localhost:9011 \
//!     --audience e9fdb985-9173-4e01-9d73-ac2d60d1dc8e [--hmac-secret <signing key secret>]
//! ```
//!
//! Its keys come from `{issuer}/.well-known/jwks.json`, or from `--jwks-uri <url>` (FusionAuth
//! behind a proxy, or any other JWKS).
//!
//! Or from a configuration file (issuer, audience, keys or the HMAC secret's variable or file,
//! the `app.at` cookie as token source; see `examples/config/fusionauth_api.toml` and
//! `tower_authz::config`) in place of `--issuer`, `--hmac-secret`, `--jwks-uri` and `--leeway`:
//!
//! ```sh
//! FUSIONAUTH_SIGNING_SECRET=... cargo run --example fusionauth_api -- \
//!     --config examples/config/fusionauth_api.toml
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{Value, json};
use tower_authz::config::AuthConfig;
use tower_authz::{AuthLayer, Claims, JwksVerifier, JwtVerifier, TokenSource, Verifier};
use tower_authz_dev::{DevIssuer, FUSIONAUTH_APP_ID, FusionAuthApp};
use tower_http::cors::CorsLayer;

#[derive(Parser, Debug)]
#[command(about = "An API that reads FusionAuth's app.at cookie (tower-authz example)")]
struct Args {
    /// Read the issuer, audience, keys and token source from this TOML or JSON file (see
    /// examples/config/fusionauth_api.toml) instead of the flags; --audience then only names
    /// the login pages' application.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["issuer", "hmac_secret", "jwks_uri", "leeway"]
    )]
    config: Option<PathBuf>,
    /// FusionAuth's issuer, e.g. http://localhost:9011. Without it (and --config), a development
    /// issuer starts.
    #[arg(long)]
    issuer: Option<String>,
    /// The application id (the access token's `aud`).
    #[arg(long, default_value = FUSIONAUTH_APP_ID)]
    audience: String,
    /// The HMAC secret of FusionAuth's default HS256 signing key; without it, RS256 keys are
    /// read from the issuer's JWKS (`/.well-known/jwks.json`, or --jwks-uri).
    #[arg(long)]
    hmac_secret: Option<String>,
    /// Where the keys are, if not `{issuer}/.well-known/jwks.json` (FusionAuth behind a
    /// proxy, or any other JWKS).
    #[arg(long, requires = "issuer", conflicts_with = "hmac_secret")]
    jwks_uri: Option<String>,
    /// An origin (`scheme://host[:port]`) allowed to send unsafe requests (POST, PUT, PATCH,
    /// DELETE) with the cookie; repeatable. Default: the login pages' origin and the API's own.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// The API's port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 5000)]
    port: u16,
    /// The login pages' port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    page_port: u16,
    /// The clock skew allowed on `exp`, in seconds.
    #[arg(long, default_value_t = 60)]
    leeway: u64,
    /// With the development issuer: the access tokens' lifetime, in seconds.
    #[arg(long, default_value_t = 3600)]
    dev_token_lifetime: u64,
}

async fn identity(claims: Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.subject(),
        "email": claims.get("email"),
        "applicationId": claims.get("applicationId"),
        "roles": claims.roles().collect::<Vec<_>>(),
        "claims": claims.as_value(),
    }))
}

/// The messages, shared by all callers (the oldest dropped past [`MAX_MESSAGES`]).
type Messages = Arc<Mutex<Vec<String>>>;

const MAX_MESSAGES: usize = 100;

async fn list_messages(State(messages): State<Messages>, _: Claims) -> Json<Value> {
    let messages = messages.lock().unwrap_or_else(PoisonError::into_inner);
    Json(json!({ "messages": *messages }))
}

#[derive(serde::Deserialize)]
struct NewMessage {
    message: String,
}

async fn add_message(
    State(messages): State<Messages>,
    _: Claims,
    Json(new): Json<NewMessage>,
) -> Json<Value> {
    let mut messages = messages.lock().unwrap_or_else(PoisonError::into_inner);
    if messages.len() >= MAX_MESSAGES {
        messages.remove(0);
    }
    messages.push(new.message);
    Json(json!({ "messages": *messages }))
}

/// CSRF defence for the cookie: an unsafe request whose `Origin` is present and not allowed is
/// refused with 403 before anything else runs.
async fn same_origin_only(
    State(allowed): State<Arc<[HeaderValue]>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if let Some(origin) = request.headers().get(header::ORIGIN)
        && !safe
        && !allowed.contains(origin)
    {
        tracing::info!(?origin, method = %request.method(), "cross-origin request refused");
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    next.run(request).await
}

/// A login page with the addresses filled in.
fn page(template: &'static str, issuer: &str, api: &str, pages: &str, client_id: &str) -> String {
    let pages_enc: String = form_urlencoded::byte_serialize(pages.as_bytes()).collect();
    template
        .replace("{{ISSUER}}", issuer)
        .replace("{{API}}", api)
        .replace("{{PAGES_ENC}}", &pages_enc)
        .replace("{{PAGES}}", pages)
        .replace("{{CLIENT_ID}}", client_id)
}

async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let api_listener = bind(args.port).await?;
    let page_listener = bind(args.page_port).await?;
    let api = format!("http://{}", api_listener.local_addr()?);
    let pages = format!("http://{}", page_listener.local_addr()?);

    let config = args
        .config
        .as_deref()
        .map(AuthConfig::from_file)
        .transpose()?;
    let mut dev = None;
    let issuer = match (&config, &args.issuer) {
        (Some(config), _) => config.issuers().next().unwrap_or_default().to_owned(),
        (None, Some(issuer)) => issuer.trim_end_matches('/').to_owned(),
        (None, None) => {
            let issuer = DevIssuer::start().await?;
            let mut app = FusionAuthApp::new(&args.audience)
                .allowed_origin(&pages)
                .access_token_lifetime(Duration::from_secs(args.dev_token_lifetime));
            if let Some(secret) = &args.hmac_secret {
                app = app.hmac_secret(secret);
            }
            issuer.add_fusionauth_app(app);
            let url = issuer.issuer().to_owned();
            dev = Some(issuer);
            url
        }
    };

    let layer = match &config {
        Some(config) => config.build_layer()?,
        None => {
            let leeway = Duration::from_secs(args.leeway);
            let verifier: Box<dyn Verifier> = match &args.hmac_secret {
                Some(secret) => Box::new(
                    JwtVerifier::new(&issuer, &args.audience)
                        .with_hmac_secret(secret)?
                        .with_leeway(leeway),
                ),
                None => {
                    let jwks_uri = match &args.jwks_uri {
                        Some(jwks_uri) => jwks_uri.clone(),
                        None => format!("{issuer}/.well-known/jwks.json"),
                    };
                    Box::new(
                        JwksVerifier::new(&issuer, jwks_uri, &args.audience)?.with_leeway(leeway),
                    )
                }
            };
            AuthLayer::new(verifier).with_token_sources([TokenSource::cookie("app.at")])
        }
    };
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_str(&pages)?)
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE]);
    let allowed: Vec<HeaderValue> = if args.allowed_origins.is_empty() {
        vec![HeaderValue::from_str(&pages)?, HeaderValue::from_str(&api)?]
    } else {
        args.allowed_origins
            .iter()
            .map(|origin| HeaderValue::from_str(origin.trim_end_matches('/')))
            .collect::<Result<_, _>>()?
    };
    let messages: Messages = Arc::new(Mutex::new(vec!["Hello".to_owned()]));
    let app = Router::new()
        .route("/identity", get(identity))
        .route("/messages", get(list_messages).post(add_message))
        .route_layer(layer)
        // Outside the auth layer: a forged request is refused before its token is even read.
        .layer(axum::middleware::from_fn_with_state(
            Arc::<[HeaderValue]>::from(allowed),
            same_origin_only,
        ))
        .layer(cors)
        .with_state(messages);

    let index = page(
        include_str!("fusionauth_pages/index.html"),
        &issuer,
        &api,
        &pages,
        &args.audience,
    );
    let profile = page(
        include_str!("fusionauth_pages/profile.html"),
        &issuer,
        &api,
        &pages,
        &args.audience,
    );
    let site = Router::new()
        .route(
            "/",
            get({
                let index = index.clone();
                move || async move { Html(index) }
            }),
        )
        .route("/index.html", get(move || async move { Html(index) }))
        .route("/profile.html", get(move || async move { Html(profile) }));

    println!("fusionauth_api listening on {api}");
    println!("login page: {pages}/index.html");
    if let Some(issuer) = &dev {
        let (login_id, password) = tower_authz_dev::FUSIONAUTH_DEV_USER;
        println!(
            "development FusionAuth: {} (user {login_id} / {password})",
            issuer.issuer()
        );
        let login: Value = reqwest::Client::new()
            .post(format!("{}/api/login", issuer.issuer()))
            .json(
                &json!({"loginId": login_id, "password": password, "applicationId": args.audience}),
            )
            .send()
            .await?
            .json()
            .await?;
        let token = login["token"].as_str().unwrap_or_default();
        println!("export APP_AT={token}");
        println!("try:");
        println!("  curl --cookie \"app.at=$APP_AT\" {api}/messages");
        println!("  curl --cookie \"app.at=$APP_AT\" {api}/identity");
        println!("  curl -i {api}/messages   # 401");
        println!(
            "  curl -i --cookie \"app.at=$APP_AT\" -H 'Origin: http://evil.example' -H 'Content-Type: application/json' -d '{{\"message\":\"hi\"}}' {api}/messages   # 403, cross-origin"
        );
        println!(
            "  curl -i --cookie \"app.at=$APP_AT\" -H 'Origin: {pages}' -H 'Content-Type: application/json' -d '{{\"message\":\"hi\"}}' {api}/messages   # 200"
        );
    }
    let site_server = axum::serve(page_listener, site);
    let api_server = axum::serve(api_listener, app);
    tokio::try_join!(async { site_server.await }, async { api_server.await },)?;
    Ok(())
}
