//! A daemon that calls an API with DPoP-bound tokens (RFC 9449): it gets a token with the client
//! credentials grant and a DPoP proof ([`ClientCredentials::with_dpop`]), then sends each call
//! with `Authorization: DPoP <token>` and a fresh proof for that call's method and URL
//! ([`RequestBuilderExt::send_with`]), retrying once with the server's nonce when it answers
//! `use_dpop_nonce`.
//!
//! With no flags it starts the development issuer (which binds the token to the key:
//! `cnf.jkt`) and, in-process, the `GET /whoami` route of `jwt_api --dpop required`: a
//! [`JwksVerifier`] on that issuer (audience `dev-api`, the resource the example asks for)
//! behind [`AuthLayer::with_dpop`]`(`[`DpopPolicy::required`]`())`, which checks each proof and
//! the token's binding to its key. The layer asks for server nonces ([`DpopNonces`]), so the
//! first call is answered `use_dpop_nonce` and retried once with the nonce:
//!
//! ```sh
//! cargo run --example dpop_client
//! ```
//!
//! ```text
//! DPoP key: ES256, thumbprint 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I
//! development issuer: http://127.0.0.1:41233
//! API: http://127.0.0.1:41234/whoami (DPoP required, with server nonces)
//! token: DPoP, cnf.jkt 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I
//! call 1: 200 {"aud":["263847598374985274","dpop-daemon","dev-api"],"cnf":{"jkt":"0ZcO..."},...}
//! call 2: 200 ...
//! ```
//!
//! Against another provider and API (the token endpoint found by discovery of `--issuer`;
//! `--resource` for an RFC 8707 resource indicator, as oidc-provider wants):
//!
//! ```sh
//! cargo run --example dpop_client -- \
//!     --issuer http://127.0.0.1:3000 --client-id daemon --client-secret s3cret \
//!     --resource https://api.example --api-url http://127.0.0.1:8080/whoami
//! ```
//!
//! `tests/interop.rs` runs it that way against oidc-provider, calling `jwt_api --dpop required`
//! pointed at the same provider.
//!
//! `--key key.pem` uses a key of your own (PKCS#8 P-256, Ed25519 or RSA, or SEC 1 P-256) in
//! place of a new ES256 key. Any call answered with something else than 2xx ends the program
//! with an error (exit code 1).

use axum::Json;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use serde_json::Value;
use tower_authz::client::{ClientCredentials, DpopKey, RequestBuilderExt, TokenProvider};
use tower_authz::{AuthLayer, Claims, ClientAuth, DpopNonces, DpopPolicy, JwksVerifier};
use tower_authz_dev::{DevClient, DevIssuer};

#[derive(Parser, Debug)]
#[command(about = "Calls an API with DPoP-bound tokens from tower-authz's client credentials")]
struct Args {
    /// The issuer, whose token endpoint is found by discovery. Default: an in-process
    /// development issuer.
    #[arg(long, requires_all = ["client_id", "client_secret", "api_url"])]
    issuer: Option<String>,
    /// The client id (with --issuer).
    #[arg(long, requires = "issuer")]
    client_id: Option<String>,
    /// The client secret, sent with client_secret_basic (with --issuer).
    #[arg(long, requires = "issuer")]
    client_secret: Option<String>,
    /// An RFC 8707 resource indicator to ask the token for.
    #[arg(long)]
    resource: Option<String>,
    /// A scope to ask for (may be repeated).
    #[arg(long)]
    scope: Vec<String>,
    /// The API URL to GET. Default: the in-process API protected by `AuthLayer::with_dpop`.
    #[arg(long, requires = "issuer")]
    api_url: Option<String>,
    /// A PEM private key for the proofs. Default: a new ES256 key.
    #[arg(long)]
    key: Option<std::path::PathBuf>,
    /// How many calls to make.
    #[arg(long, default_value_t = 2)]
    calls: u32,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The claims of a JWT, unverified, or `None` for an opaque token.
fn jwt_claims(token: &str) -> Option<Value> {
    let claims = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
}

/// The audience of the in-process API, the resource the example asks its tokens for.
const DEV_API: &str = "dev-api";

/// `GET /whoami` of `jwt_api --dpop required` on `issuer`: the verified claims, for a
/// DPoP-bound token with a good proof carrying the layer's current nonce.
async fn protected_api(issuer: &str) -> Result<String, Error> {
    // The nonce secret is shared by every replica of a real API; one process needs a random one.
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| "no random bytes for the nonce secret")?;
    let layer = AuthLayer::new(JwksVerifier::discover(issuer, DEV_API)?)
        .with_dpop(DpopPolicy::required().with_nonces(DpopNonces::new(&secret)?));
    let app = axum::Router::new()
        .route(
            "/whoami",
            get(|claims: Claims| async move { Json(claims.as_value().clone()) }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/whoami", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("API stopped: {error}");
        }
    });
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let key = match &args.key {
        Some(path) => DpopKey::from_pem(&std::fs::read_to_string(path)?)?,
        None => DpopKey::generate()?,
    };
    println!(
        "DPoP key: {}, thumbprint {}",
        key.algorithm(),
        key.thumbprint()
    );

    // Kept alive until the calls are done.
    let mut _dev_issuer = None;
    let mut resource = args.resource.clone();
    let (issuer, auth, api_url) = match (&args.issuer, &args.client_id, &args.client_secret) {
        (Some(issuer), Some(id), Some(secret)) => (
            issuer.clone(),
            ClientAuth::basic(id.as_str(), secret.as_str()),
            args.api_url.clone().unwrap_or_default(),
        ),
        _ => {
            let dev = DevIssuer::start().await?;
            dev.add_client(DevClient::new("dpop-daemon", "dpop-secret").jwt_access_tokens());
            let issuer = dev.issuer().to_owned();
            println!("development issuer: {issuer}");
            _dev_issuer = Some(dev);
            let api_url = protected_api(&issuer).await?;
            println!("API: {api_url} (DPoP required, with server nonces)");
            resource.get_or_insert_with(|| DEV_API.to_owned());
            (
                issuer,
                ClientAuth::basic("dpop-daemon", "dpop-secret"),
                api_url,
            )
        }
    };

    let mut tokens = ClientCredentials::discover(issuer, auth)?.with_dpop(key);
    if let Some(resource) = &resource {
        tokens = tokens.with_resource(resource);
    }
    for scope in &args.scope {
        tokens = tokens.with_scope(scope);
    }
    let token = tokens.token().await?;
    let bound_to = jwt_claims(token.as_str())
        .and_then(|claims| claims["cnf"]["jkt"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown (an opaque token)".to_owned());
    println!("token: {}, cnf.jkt {bound_to}", token.scheme());

    let http = reqwest::Client::new();
    for call in 1..=args.calls {
        let response = http.get(&api_url).send_with(&tokens).await?;
        let status = response.status();
        let challenge = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(|v| format!(", WWW-Authenticate: {v}"))
            .unwrap_or_default();
        let body = response.text().await?;
        println!("call {call}: {} {body}", status.as_u16());
        if !status.is_success() {
            return Err(format!("GET {api_url}: {status}{challenge}").into());
        }
    }
    Ok(())
}
