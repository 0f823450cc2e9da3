//! ZITADEL's .NET client guide with this crate's token providers: a service account calls
//! ZITADEL's own API (`GetMyUser`, REST `GET /auth/v1/users/me`) twice and prints the user:
//!
//! 1. with a personal access token (`StaticToken`);
//! 2. with its key file, through the JWT-bearer grant (`JwtBearer`, scope `openid` plus
//!    `urn:zitadel:iam:org:project:id:{project id}:aud`, which puts ZITADEL's project into the
//!    token's audience).
//!
//! Each call prints `User: {...}`: the `user` object of the answer, as JSON.
//!
//! With no flags it starts the development issuer (which serves `/auth/v1/users/me`), creates a
//! machine user, a personal access token and a key file, and runs both:
//!
//! ```sh
//! cargo run --example zitadel_service_account
//! ```
//!
//! Against a real instance (either or both of `--pat` and `--key`):
//!
//! ```sh
//! cargo run --example zitadel_service_account -- --domain my-domain.zitadel.cloud \
//!     --pat <personal access token> --key ./service-account.json
//! ```
//!
//! `--project-id` is the id of the project that must be in the token's audience. For ZITADEL's
//! own APIs that is the ZITADEL project: the reserved value `zitadel` (the default) works on
//! every instance; the guide uses the ZITADEL project's numeric id instead (Console: the
//! organization of the instance, project "ZITADEL"), which is accepted as well.

use std::path::PathBuf;

use clap::Parser;
use serde_json::Value;
use tower_authz::ServiceAccountKey;
use tower_authz::client::{
    JwtBearer, RequestBuilderExt, StaticToken, TokenProvider, zitadel_audience_scope,
};
use tower_authz_dev::DevIssuer;

/// The machine user the development issuer gets (the guide's `userId`).
const DEV_USER_ID: &str = "170079991923474689";
/// Its name.
const DEV_USER_NAME: &str = "guide-service-account";

#[derive(Parser, Debug)]
#[command(about = "ZITADEL's .NET client guide: GetMyUser with a PAT and with a key file")]
struct Args {
    /// Your ZITADEL instance domain, e.g. my-domain.zitadel.cloud (https is assumed) or a full
    /// URL such as http://127.0.0.1:8080. Without it, a development issuer is started.
    #[arg(long)]
    domain: Option<String>,
    /// A personal access token of the service account.
    #[arg(long, requires = "domain")]
    pat: Option<String>,
    /// The path to the service account's key file (`"type": "serviceaccount"`).
    #[arg(long, requires = "domain")]
    key: Option<PathBuf>,
    /// The project put into the token's audience with the key file: `zitadel` (ZITADEL's own
    /// APIs, the default) or the ZITADEL project's numeric id.
    #[arg(long, default_value = "zitadel")]
    project_id: String,
}

/// `https://` for a bare host, the URL as given otherwise.
fn issuer_url(domain: &str) -> String {
    let domain = domain.trim_end_matches('/');
    if domain.starts_with("http://") || domain.starts_with("https://") {
        domain.to_owned()
    } else {
        format!("https://{domain}")
    }
}

type Error = Box<dyn std::error::Error>;

/// `, WWW-Authenticate: ...` if the answer has one (why a token was refused).
fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(", WWW-Authenticate: {v}"))
        .unwrap_or_default()
}

/// `GetMyUser` with a token from `tokens`; prints `User: {...}`.
async fn print_my_user(
    http: &reqwest::Client,
    url: &str,
    tokens: &impl TokenProvider,
) -> Result<(), Error> {
    let response = http.get(url).bearer_from(tokens).await?.send().await?;
    let status = response.status();
    let challenge = challenge(&response);
    let text = response.text().await?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}{challenge}: {text}").into());
    }
    let answer: Value = serde_json::from_str(&text)?;
    let user = answer.get("user").ok_or("the answer has no user")?;
    println!("User: {user}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();

    // With no --domain: a development issuer, a machine user, its PAT and its key file.
    let mut dev = None;
    let mut key_dir = None;
    let (issuer, pat, key_path) = match &args.domain {
        Some(domain) => {
            if args.pat.is_none() && args.key.is_none() {
                return Err("--pat, --key or both are required with --domain".into());
            }
            (issuer_url(domain), args.pat.clone(), args.key.clone())
        }
        None => {
            let issuer = DevIssuer::start().await?;
            issuer.add_machine_user(DEV_USER_ID, DEV_USER_NAME);
            let pat = issuer.personal_access_token(DEV_USER_ID);
            let dir = std::env::temp_dir().join(format!(
                "tower-authz-zitadel-service-account-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("service-account.json");
            issuer.write_service_account_key_file(&path, DEV_USER_ID)?;
            let url = issuer.issuer().to_owned();
            dev = Some(issuer);
            key_dir = Some(dir);
            (url, Some(pat), Some(path))
        }
    };
    let users_me = match &dev {
        Some(issuer) => issuer.users_me_url(),
        None => format!("{issuer}/auth/v1/users/me"),
    };
    let http = reqwest::Client::new();

    let result = async {
        if let Some(pat) = pat {
            print_my_user(&http, &users_me, &StaticToken::new(pat)).await?;
        }
        if let Some(path) = key_path {
            let key = ServiceAccountKey::from_file(&path)?;
            let tokens = JwtBearer::discover(&issuer, key)?
                .with_scope(zitadel_audience_scope(&args.project_id));
            print_my_user(&http, &users_me, &tokens).await?;
        }
        Ok::<(), Error>(())
    }
    .await;

    if let Some(dir) = key_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    if let Some(issuer) = dev {
        issuer.stop().await;
    }
    result
}
