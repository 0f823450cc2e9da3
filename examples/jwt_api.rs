//! A small API protected by JWT access tokens.
//!
//! - `GET /whoami`: any valid token; answers the verified claims as JSON.
//! - `GET /admin`: needs the role `admin`.
//! - `GET /.well-known/oauth-protected-resource`: its RFC 9728 metadata (no token needed), which
//!   every 401 challenge points at with `resource_metadata="..."`.
//! - `GET /readyz`: readiness (no token needed): `200` while the verifier holds signing keys
//!   within their stale limit, `503` before the first load and past that limit, with a JSON
//!   status.
//!
//! With no flags it starts the embedded development issuer and prints tokens and curl lines:
//!
//! ```sh
//! cargo run --example jwt_api
//! ```
//!
//! Against a real provider (discovery, or a known JWKS URL):
//!
//! ```sh
//! cargo run --example jwt_api -- --issuer https://my-instance.zitadel.cloud --audience 123456789@my-project
//! cargo run --example jwt_api -- --issuer http://localhost:9011 \
//!     --jwks-uri http://localhost:9011/.well-known/jwks.json --audience <application id>
//! ```
//!
//! Or with the issuer, audience, roles, key refresh settings and the `admin` policy from a
//! configuration file (see `examples/config/jwt_api.toml` and `tower_authz::config`), in place
//! of those flags:
//!
//! ```sh
//! cargo run --example jwt_api -- --config examples/config/jwt_api.toml
//! ```
//!
//! `--algorithms ES256,RS256` accepts only those signature algorithms (the default: every
//! algorithm the provider's key types allow); an unknown name is a usage error.
//! `--resource` sets the resource identifier announced in the metadata (default: the URL the
//! example listens on).
//!
//! Startup is lazy by default: the API listens at once and `/readyz` says `503` until the keys
//! are loaded. `--fail-fast` loads them first and exits with an error if it cannot.
//! `--refresh-interval SECS` and `--max-stale SECS` set how often the keys are refreshed and
//! how long past that they are still used while the provider is down.
//!
//! `--metrics-port 9464` serves the crate's metrics in the Prometheus text format at
//! `http://127.0.0.1:9464/metrics` (0 picks a free port; the address is printed), with the
//! `metrics` feature: `cargo run --example jwt_api --features metrics -- --metrics-port 9464`.
//! Each verification's span is printed when it closes (`RUST_LOG=tower_authz=debug`, the
//! default), with its fields and those of the provider calls it waited for.
//!
//! `--dpop required` accepts only DPoP-bound tokens (RFC 9449: `Authorization: DPoP <token>`
//! and a `DPoP` proof header signed with the key the token is bound to), `--dpop allowed` also
//! bearer tokens that are not DPoP-bound; `--public-url https://api.example.com` is the URL the
//! proofs' `htu` name when the API runs behind a proxy. On the development issuer it prints a
//! bound token and one proof for `GET /whoami` to try with curl.
//!
//! For the load test (`scripts/load`): `--print-test-tokens` also prints an expired and a
//! forged token of the development issuer, and `--echo-header x-load-kind` copies that request
//! header onto every response (refusals included), so that a load generator can tell which
//! kind of token each answer was for.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{MethodRouter, get, get_service};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{Value, json};
use tower_authz::config::AuthConfig;
use tower_authz::dpop::jwk_thumbprint;
use tower_authz::{
    Algorithm, AuthLayer, Claims, ConfigError, DpopPolicy, JwksVerifier, ProtectedResourceMetadata,
    ReadinessCheck, RequireRole, RoleSource, Verifier, require, role,
};
use tower_authz_dev::{DevAlgorithm, DevIssuer, DevKey};

role!(
    /// The role `/admin` requires.
    Admin = "admin"
);

#[derive(Parser, Debug)]
#[command(about = "An API protected by JWT access tokens (tower-authz example)")]
struct Args {
    /// Read the issuers, audiences, roles, key refresh settings and the `admin` policy from
    /// this TOML or JSON file (see examples/config/jwt_api.toml) instead of the flags.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = [
            "issuer", "jwks_uri", "audience", "roles_claim", "algorithms", "print_test_tokens",
            "fail_fast", "refresh_interval", "max_stale",
        ]
    )]
    config: Option<PathBuf>,
    /// The issuer (`iss`) of accepted tokens. Without it (and --config), a development issuer
    /// is started.
    #[arg(long)]
    issuer: Option<String>,
    /// The JWKS URL; without it, the keys are found by OIDC discovery of the issuer.
    #[arg(long, requires = "issuer")]
    jwks_uri: Option<String>,
    /// The audience tokens must carry (required with --issuer).
    #[arg(long, requires = "issuer")]
    audience: Option<String>,
    /// Where the roles are: a claim name (`roles`), ZITADEL's
    /// `urn:zitadel:iam:org:project:roles` (or `...:{projectId}:roles`), Keycloak's
    /// `realm_access`, or a JSON pointer such as `/resource_access/my-client/roles`.
    #[arg(long, default_value = "roles")]
    roles_claim: String,
    /// Accept only these signature algorithms, comma-separated (RS256, RS384, RS512, PS256,
    /// PS384, PS512, ES256, ES384, EdDSA). Default: every one the keys' types allow.
    #[arg(long, value_delimiter = ',', value_parser = parse_algorithm, value_name = "ALG,...")]
    algorithms: Vec<Algorithm>,
    /// The resource identifier in the RFC 9728 metadata document. Default: the URL this API
    /// listens on (`http://127.0.0.1:<port>`).
    #[arg(long)]
    resource: Option<String>,
    /// The port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// Also print an expired token and a forged one (the issuer's kid, another key's
    /// signature) of the development issuer, for load and negative tests.
    #[arg(long, conflicts_with = "issuer")]
    print_test_tokens: bool,
    /// Copy this request header, when present, onto the response (refusals included).
    #[arg(long, value_name = "HEADER")]
    echo_header: Option<HeaderName>,
    /// Load the signing keys before listening, and exit with the error if that fails (default:
    /// listen at once; `/readyz` answers 503 until the keys are loaded).
    #[arg(long)]
    fail_fast: bool,
    /// Refresh the keys this often, in seconds (default 600; also the least time between two
    /// fetches when below its default of 30).
    #[arg(long, value_name = "SECS")]
    refresh_interval: Option<u64>,
    /// Keep using keys this long past their refresh, in seconds, while the provider is down
    /// (default one day); past it, requests and `/readyz` answer 503.
    #[arg(long, value_name = "SECS")]
    max_stale: Option<u64>,
    /// Serve the metrics in the Prometheus text format at http://127.0.0.1:<PORT>/metrics (0
    /// picks a free port). Needs the `metrics` feature.
    #[arg(long, value_name = "PORT")]
    metrics_port: Option<u16>,
    /// DPoP-bound tokens (RFC 9449): `required` (only `Authorization: DPoP` with a proof),
    /// `allowed` (also bearer tokens that are not DPoP-bound) or `off`.
    #[arg(long, value_enum, default_value_t = Dpop::Off)]
    dpop: Dpop,
    /// The public URL of this API (behind a proxy), which DPoP proofs name in `htu`. Default:
    /// the request's scheme and `Host`.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
}

/// The `--dpop` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Dpop {
    Required,
    Allowed,
    Off,
}

impl Args {
    /// The DPoP policy of `--dpop` and `--public-url`, if DPoP is on.
    fn dpop_policy(&self) -> Result<Option<DpopPolicy>, ConfigError> {
        let policy = match self.dpop {
            Dpop::Required => DpopPolicy::required(),
            Dpop::Allowed => DpopPolicy::allowed(),
            Dpop::Off => return Ok(None),
        };
        match &self.public_url {
            Some(url) => policy.with_public_url(url).map(Some),
            None => Ok(Some(policy)),
        }
    }
}

/// A JOSE algorithm name, as `Algorithm` parses it; `none` and unknown names are refused.
fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    name.trim()
        .parse()
        .map_err(|_| format!("unknown or unsupported signature algorithm `{name}`"))
}

async fn whoami(claims: Claims) -> Json<Value> {
    Json(claims.as_value().clone())
}

/// Copies the request header named by the state onto the response.
async fn echo_header(State(name): State<HeaderName>, request: Request, next: Next) -> Response {
    let value = request.headers().get(&name).cloned();
    let mut response = next.run(request).await;
    if let Some(value) = value {
        response.headers_mut().insert(name, value);
    }
    response
}

async fn admin(admin: RequireRole<Admin>) -> Json<Value> {
    hello_admin(&admin)
}

/// `/admin` with `--config`: the file's `admin` policy has admitted the caller.
async fn admin_by_policy(claims: Claims) -> Json<Value> {
    hello_admin(&claims)
}

fn hello_admin(claims: &Claims) -> Json<Value> {
    Json(json!({ "message": "hello, admin", "sub": claims.subject() }))
}

/// Installs a Prometheus recorder and serves its text at `/metrics` on 127.0.0.1:`port`, from
/// an axum route (the exporter's own listener is not used); returns the URL.
async fn serve_metrics(port: u16) -> Result<String, Box<dyn std::error::Error>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    if !cfg!(feature = "metrics") {
        return Err("--metrics-port needs the `metrics` feature: \
                    cargo run --example jwt_api --features metrics -- --metrics-port 9464"
            .into());
    }
    // From 50 µs (a verified-token cache hit) to 5 s (the provider's timeout).
    let buckets = [
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 5.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)?
        .install_recorder()?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let app = Router::new().route("/metrics", get(move || std::future::ready(handle.render())));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Prints a token bound to a new ES256 key and one proof of that key for `GET {base}/whoami`
/// (a client makes a fresh proof for every request).
fn print_dpop_example(issuer: &DevIssuer, base: &str) -> Result<(), Box<dyn std::error::Error>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let key = DevKey::generate(DevAlgorithm::ES256)?;
    let jwk = key.public_jwk();
    let jkt = jwk_thumbprint(&jwk).ok_or("no thumbprint")?;
    let token = issuer
        .token()
        .subject("dev-user")
        .roles(["viewer"])
        .claim("cnf", json!({ "jkt": jkt }))
        .sign()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let ath = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk});
    let claims = json!({
        "htm": "GET",
        "htu": format!("{base}/whoami"),
        "iat": now.as_secs(),
        "jti": format!("jwt-api-example-{}", now.as_nanos()),
        "ath": URL_SAFE_NO_PAD.encode(ath),
    });
    let proof = key.sign_jws(header.as_object().ok_or("header")?, &claims)?;
    println!("DPoP-bound token (cnf.jkt of a new ES256 key) and one proof for GET /whoami:");
    println!("export DPOP_TOKEN={token}");
    println!("export DPOP_PROOF={proof}");
    println!(
        "  curl -i {base}/whoami -H \"Authorization: DPoP $DPOP_TOKEN\" -H \"DPoP: $DPOP_PROOF\"   # 200, then 401 invalid_dpop_proof (a proof is good once)"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_authz=debug".into()),
        )
        // A line for each verification (and provider call) when it ends, with its fields.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();
    let args = Args::parse();

    // Keep the development issuer alive for as long as the server runs.
    let mut dev = None;
    let (layer, readiness, issuers, admin_route): (_, _, Vec<String>, MethodRouter) = match &args
        .config
    {
        Some(path) => {
            let config = AuthConfig::from_file(path)?;
            let admin_route = get(admin_by_policy).route_layer(require(config.policy("admin")?));
            let verifier = config.build_verifier()?;
            // Taken before the verifier moves into the layer.
            let readiness = verifier.readiness().unwrap_or_else(ReadinessCheck::new);
            let issuers = config.issuers().map(str::to_owned).collect();
            (config.layer_for(verifier)?, readiness, issuers, admin_route)
        }
        None => {
            let (verifier, issuer) = match &args.issuer {
                Some(issuer) => {
                    let audience = args
                        .audience
                        .clone()
                        .ok_or("--audience is required with --issuer")?;
                    let verifier = match &args.jwks_uri {
                        Some(jwks_uri) => JwksVerifier::new(issuer, jwks_uri, audience)?,
                        None => JwksVerifier::discover(issuer, audience)?,
                    };
                    (verifier, issuer.clone())
                }
                None => {
                    let issuer = DevIssuer::start().await?;
                    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api")?;
                    let url = issuer.issuer().to_owned();
                    dev = Some(issuer);
                    (verifier, url)
                }
            };
            let verifier = verifier.with_role_source(RoleSource::from_name(&args.roles_claim));
            let mut verifier = if args.algorithms.is_empty() {
                verifier
            } else {
                verifier.with_algorithms(args.algorithms.iter().copied())
            };
            if let Some(secs) = args.refresh_interval {
                let interval = Duration::from_secs(secs);
                verifier = verifier
                    .with_refresh_interval(interval)
                    .with_min_refetch_interval(interval.min(Duration::from_secs(30)));
            }
            if let Some(secs) = args.max_stale {
                verifier = verifier.with_max_stale(Duration::from_secs(secs));
            }
            if args.fail_fast {
                verifier.fetch_keys().await?;
            }
            // Taken before the verifier moves into the layer.
            let readiness = verifier.readiness();
            (
                AuthLayer::new(verifier),
                readiness,
                vec![issuer],
                get(admin),
            )
        }
    };

    let layer = match args.dpop_policy()? {
        Some(policy) => layer.with_dpop(policy),
        None => layer,
    };

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let metadata = issuers.into_iter().fold(
        ProtectedResourceMetadata::new(args.resource.as_deref().unwrap_or(&base))?
            .with_resource_name("tower-authz jwt_api example"),
        |metadata, issuer| metadata.with_authorization_server(issuer),
    );

    let mut app = Router::new()
        .route("/whoami", get(whoami))
        .route("/admin", admin_route)
        .layer(layer.with_protected_resource(&metadata))
        // Added after the auth layer, so not behind it: probes carry no token.
        .route("/readyz", get_service(readiness))
        // Outside the auth layer: the document needs no token.
        .layer(metadata.layer());
    if let Some(name) = args.echo_header.clone() {
        // Outside the auth layer, so that refusals carry the header too.
        app = app.layer(axum::middleware::from_fn_with_state(name, echo_header));
    }

    println!("jwt_api listening on {base}");
    println!("resource metadata: {}", metadata.metadata_url());
    println!("readiness: {base}/readyz");
    if let Some(port) = args.metrics_port {
        println!("metrics: {}", serve_metrics(port).await?);
    }
    if let Some(issuer) = &dev {
        let user = issuer
            .token()
            .subject("dev-user")
            .roles(["viewer"])
            .sign()?;
        let admin = issuer
            .token()
            .subject("dev-admin")
            .roles(["admin"])
            .sign()?;
        println!("development issuer: {}", issuer.issuer());
        println!("tokens (valid for one hour):");
        println!("export USER_TOKEN={user}");
        println!("export ADMIN_TOKEN={admin}");
        let es256_user = issuer
            .token()
            .subject("dev-user")
            .roles(["viewer"])
            .algorithm(DevAlgorithm::ES256)
            .sign()?;
        println!("export ES256_USER_TOKEN={es256_user}");
        if args.print_test_tokens {
            let expired = issuer.token().subject("dev-user").expired().sign()?;
            let rsa = issuer.current_key(DevAlgorithm::RS256);
            let forged = issuer
                .token()
                .subject("dev-admin")
                .roles(["admin"])
                .signed_with(&DevKey::generate(DevAlgorithm::RS256)?)
                .kid(rsa.kid())
                .sign()?;
            println!("export EXPIRED_TOKEN={expired}");
            println!("export FORGED_TOKEN={forged}");
        }
        println!("try:");
        println!(
            "  curl -i {base}/whoami -H \"Authorization: Bearer $USER_TOKEN\"   # 200, your claims"
        );
        println!(
            "  curl -i {base}/admin -H \"Authorization: Bearer $USER_TOKEN\"    # 403 insufficient_scope"
        );
        println!("  curl -i {base}/admin -H \"Authorization: Bearer $ADMIN_TOKEN\"   # 200");
        println!(
            "  curl -i {base}/whoami                                          # 401, resource_metadata=\"{}\"",
            metadata.metadata_url()
        );
        println!(
            "  curl -i {}                # the RFC 9728 metadata",
            metadata.metadata_url()
        );
        println!(
            "  (restart with --algorithms ES256: $USER_TOKEN (RS256) is then 401, $ES256_USER_TOKEN 200)"
        );
        if args.dpop != Dpop::Off {
            print_dpop_example(issuer, &base)?;
        }
    }
    axum::serve(listener, app).await?;
    Ok(())
}
