//! An API behind FusionAuth's hosted backend: the access token comes in the `app.at` cookie.
//!
//! - `GET /identity`: the caller's identity and claims (JSON).
//! - `GET /messages`: `{"messages":["Hello"]}`.
//!
//! Both answer 401 without a valid `app.at` cookie. The `app.idt` cookie (an ID token) is never
//! accepted as an access token (RFC 8725 §3.11), whatever FusionAuth's .NET tutorial reads.
//! The login pages (`index.html`, `profile.html`) are served on a second port, and the API
//! allows that origin with credentials (CORS).
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

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{HeaderValue, Method, header};
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{Value, json};
use tower_authz::dev::{FUSIONAUTH_APP_ID, FusionAuthApp};
use tower_authz::{AuthLayer, Claims, DevIssuer, JwksVerifier, JwtVerifier, TokenSource, Verifier};
use tower_http::cors::CorsLayer;

#[derive(Parser, Debug)]
#[command(about = "An API that reads FusionAuth's app.at cookie (tower-authz example)")]
struct Args {
    /// FusionAuth's issuer, e.g. http://localhost:9011. Without it, a development issuer starts.
    #[arg(long)]
    issuer: Option<String>,
    /// The application id (the access token's `aud`).
    #[arg(long, default_value = FUSIONAUTH_APP_ID)]
    audience: String,
    /// The HMAC secret of FusionAuth's default HS256 signing key; without it, RS256 keys are
    /// read from the issuer's JWKS (`/.well-known/jwks.json`).
    #[arg(long)]
    hmac_secret: Option<String>,
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

async fn messages(_: Claims) -> Json<Value> {
    Json(json!({ "messages": ["Hello"] }))
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

    let mut dev = None;
    let issuer = match &args.issuer {
        Some(issuer) => issuer.trim_end_matches('/').to_owned(),
        None => {
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

    let leeway = Duration::from_secs(args.leeway);
    let verifier: Box<dyn Verifier> = match &args.hmac_secret {
        Some(secret) => Box::new(
            JwtVerifier::new(&issuer, &args.audience)
                .with_hmac_secret(secret)?
                .with_leeway(leeway),
        ),
        None => Box::new(
            JwksVerifier::new(
                &issuer,
                format!("{issuer}/.well-known/jwks.json"),
                &args.audience,
            )?
            .with_leeway(leeway),
        ),
    };
    let layer = AuthLayer::new(verifier).with_token_sources([TokenSource::cookie("app.at")]);
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_str(&pages)?)
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE]);
    let app = Router::new()
        .route("/identity", get(identity))
        .route("/messages", get(messages))
        .route_layer(layer)
        .layer(cors);

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
        let (login_id, password) = tower_authz::dev::FUSIONAUTH_DEV_USER;
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
    }
    let site_server = axum::serve(page_listener, site);
    let api_server = axum::serve(api_listener, app);
    tokio::try_join!(async { site_server.await }, async { api_server.await },)?;
    Ok(())
}
