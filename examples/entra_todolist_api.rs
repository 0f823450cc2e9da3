//! The ToDoList API of Microsoft Entra's .NET daemon sample ("Call an API in a sample .NET
//! daemon application"), protected by Entra v2 access tokens for daemons (app-only tokens with
//! app roles).
//!
//! - `GET /api/todolist`, `GET /api/todolist/{id}`: app role `ToDoList.Read.All` or
//!   `ToDoList.ReadWrite.All` (a daemon), or scope `ToDoList.Read` or `ToDoList.ReadWrite` (a
//!   user, for their own items).
//! - `POST /api/todolist` (201, `Location: /todolist/{id}`), `PUT /api/todolist/{id}`,
//!   `DELETE /api/todolist/{id}`: app role `ToDoList.ReadWrite.All`, or scope
//!   `ToDoList.ReadWrite` (a user, for their own items).
//! - Items are `{"id": 1, "owner": "<GUID>", "description": "..."}`, in memory; the owner is
//!   the request body's for a daemon, the user's `oid` for a user. A token without the
//!   permission, or a user's token for another user's item, gets 403 `insufficient_scope`; a
//!   missing or bad token 401 (RFC 6750).
//! - Accepted audiences: the API's client id and its app id URI `api://{client id}`.
//!
//! The rules are written in Rust (examples/common/todolist.rs). With `--policies`, the same
//! rules come from Cedar policies instead (feature `cedar`), with the schema beside them:
//!
//! ```sh
//! cargo run --features cedar --example entra_todolist_api -- --policies examples/todolist.cedar
//! ```
//!
//! With no flags it starts the embedded development issuer, registers a daemon client with the
//! role `ToDoList.ReadWrite.All`, and prints a token it obtained with client credentials plus
//! curl lines:
//!
//! ```sh
//! cargo run --example entra_todolist_api
//! ```
//!
//! Against Microsoft Entra (External ID: `https://<tenant id>.ciamlogin.com/<tenant id>/v2.0`;
//! workforce: `https://login.microsoftonline.com/<tenant id>/v2.0`), the keys found by discovery:
//!
//! ```sh
//! cargo run --example entra_todolist_api -- \
//!     --issuer https://login.microsoftonline.com/<tenant id>/v2.0 --audience <API client id>
//! ```
//!
//! A multi-tenant API uses Entra's issuer template, which needs the JWKS URL (no discovery) and
//! a stated choice of tenants: `--tenant` (repeatable) for the tenants accepted, or
//! `--any-tenant` for every tenant (any organisation can add a multi-tenant app to its tenant):
//!
//! ```sh
//! cargo run --example entra_todolist_api -- \
//!     --issuer 'https://login.microsoftonline.com/{tenantid}/v2.0' \
//!     --jwks-uri https://login.microsoftonline.com/common/discovery/v2.0/keys \
//!     --audience <API client id> --tenant <tenant id>
//! ```
//!
//! Or from a configuration file (issuer, audiences, JWKS URL, tenants; see
//! `examples/config/entra_todolist_api.toml` and `tower_authz::config`) in place of those flags:
//!
//! ```sh
//! cargo run --example entra_todolist_api -- --config examples/config/entra_todolist_api.toml
//! ```
//!
//! The API must be registered with `accessTokenAcceptedVersion: 2` for v2 tokens. This example
//! listens on plain HTTP on 127.0.0.1 (the sample uses `https://localhost:44351`).

#[path = "common/todolist.rs"]
mod todolist;

use std::path::PathBuf;

use clap::Parser;
use tower_authz::client::{ClientCredentials, TokenProvider};
use tower_authz::config::AuthConfig;
use tower_authz::{ClientAuth, Tenants, Verifier};
use tower_authz_dev::DevIssuer;

#[derive(Parser, Debug)]
#[command(about = "The Entra daemon sample's ToDoList API, protected by tower-authz")]
struct Args {
    /// Read the issuer, audiences, JWKS URL and tenants from this TOML or JSON file (see
    /// examples/config/entra_todolist_api.toml) instead of the flags.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["issuer", "jwks_uri", "audience", "tenants", "any_tenant"]
    )]
    config: Option<PathBuf>,
    /// The issuer (`iss`) of accepted tokens, e.g. https://login.microsoftonline.com/<tenant>/v2.0;
    /// it may contain `{tenantid}` (then --jwks-uri is required). Without it, a development
    /// issuer is started.
    #[arg(long)]
    issuer: Option<String>,
    /// The JWKS URL; without it, the keys are found by OIDC discovery of the issuer.
    #[arg(long, requires = "issuer")]
    jwks_uri: Option<String>,
    /// The API's application (client) id; `api://<it>` is accepted as well. Required with
    /// --issuer.
    #[arg(long, requires = "issuer")]
    audience: Option<String>,
    /// Accept only tokens of this tenant (`tid`); repeatable. For an issuer with `{tenantid}`.
    #[arg(long = "tenant", requires = "issuer")]
    tenants: Vec<String>,
    /// Accept tokens of every tenant, for an issuer with `{tenantid}`: any organisation that adds
    /// the app to its tenant gets in.
    #[arg(long, requires = "issuer", conflicts_with = "tenants")]
    any_tenant: bool,
    /// The port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 44351)]
    port: u16,
    /// Take the rules from this Cedar policy set (e.g. examples/todolist.cedar) instead of the
    /// Rust ones; needs the `cedar` feature.
    #[arg(long)]
    policies: Option<PathBuf>,
    /// The Cedar schema of --policies. Default: the policies' file with the extension
    /// `.cedarschema` (examples/todolist.cedarschema).
    #[arg(long, requires = "policies")]
    schema: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();

    // Keep the development issuer alive for as long as the server runs.
    let mut dev = None;
    let verifier: Box<dyn Verifier> = match (&args.config, &args.issuer) {
        (Some(path), _) => Box::new(AuthConfig::from_file(path)?.build_verifier()?),
        (None, Some(issuer)) => {
            let audience = args
                .audience
                .as_deref()
                .ok_or("--audience is required with --issuer")?;
            let tenants = if !issuer.contains("{tenantid}") {
                if args.any_tenant || !args.tenants.is_empty() {
                    return Err("--tenant and --any-tenant need an issuer with {tenantid}".into());
                }
                None
            } else if args.jwks_uri.is_none() {
                return Err("an issuer with {tenantid} needs --jwks-uri".into());
            } else if args.any_tenant {
                Some(Tenants::any_tenant())
            } else if !args.tenants.is_empty() {
                Some(Tenants::only(args.tenants.iter().cloned()))
            } else {
                return Err(
                    "an issuer with {tenantid} needs --tenant <id> (repeatable) or --any-tenant"
                        .into(),
                );
            };
            Box::new(todolist::verifier(
                issuer,
                args.jwks_uri.as_deref(),
                audience,
                tenants,
            )?)
        }
        (None, None) => {
            let issuer = DevIssuer::start().await?;
            todolist::add_dev_daemon(&issuer);
            let verifier =
                todolist::verifier(issuer.issuer(), None, todolist::DEV_API_CLIENT_ID, None)?;
            dev = Some(issuer);
            Box::new(verifier)
        }
    };
    let schema = args
        .schema
        .clone()
        .or_else(|| Some(args.policies.as_ref()?.with_extension("cedarschema")));
    let cedar = args.policies.as_deref().zip(schema.as_deref());
    // Built before listening: Cedar files that do not parse or type-check stop the start.
    let app = todolist::router(verifier, cedar)?;
    let listener = todolist::bind(args.port).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("entra_todolist_api listening on {base}");
    if let Some((policies, _)) = cedar {
        println!("rules: the Cedar policies of {}", policies.display());
    }
    if let Some(issuer) = &dev {
        let scope = todolist::default_scope(todolist::DEV_API_CLIENT_ID);
        let tokens = ClientCredentials::discover(
            issuer.issuer(),
            ClientAuth::post(todolist::DEV_DAEMON_CLIENT_ID, todolist::DEV_DAEMON_SECRET),
        )?
        .with_scope(scope.as_str());
        let token = tokens.token().await?;
        println!("development issuer: {}", issuer.issuer());
        println!(
            "daemon: client id {}, secret {}, scope {scope} (app role {})",
            todolist::DEV_DAEMON_CLIENT_ID,
            todolist::DEV_DAEMON_SECRET,
            todolist::READ_WRITE_ALL
        );
        println!("a client-credentials token for the daemon (valid for one hour):");
        println!("export TOKEN={}", token.as_str());
        println!("try:");
        println!(
            "  curl -i {base}/api/todolist -H \"Authorization: Bearer $TOKEN\" \\\n      \
             -H 'content-type: application/json' \
             -d '{{\"owner\":\"00aa00aa-bb11-cc22-dd33-44ee44ee44ee\",\"description\":\"Bake bread\"}}'   # 201"
        );
        println!(
            "  curl -i {base}/api/todolist -H \"Authorization: Bearer $TOKEN\"     # 200, the items"
        );
        println!(
            "  curl -i {base}/api/todolist/1 -H \"Authorization: Bearer $TOKEN\"   # 200 (404 once deleted)"
        );
        println!(
            "  curl -i -X DELETE {base}/api/todolist/1 -H \"Authorization: Bearer $TOKEN\"   # 200"
        );
        println!("  curl -i {base}/api/todolist                                       # 401");
        println!("or run the daemon against it:");
        println!(
            "  cargo run --example entra_daemon -- --issuer {} --client-id {} --client-secret {} \
             --scope {scope} --api-url {base}",
            issuer.issuer(),
            todolist::DEV_DAEMON_CLIENT_ID,
            todolist::DEV_DAEMON_SECRET
        );
    }
    axum::serve(listener, app).await?;
    Ok(())
}
