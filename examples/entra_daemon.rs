//! The daemon of Microsoft Entra's .NET daemon sample ("Call an API in a sample .NET daemon
//! application"): it gets an app-only token with the client credentials grant (client secret,
//! scope `api://<API app id>/.default`) and runs the sample's calls against the ToDoList API
//! (`entra_todolist_api`): POST, GET, POST, GET, DELETE, GET, PUT, GET, DELETE, GET, printing
//! what the guide shows:
//!
//! ```text
//! Posting a to-do...
//! Retrieving to-do's from server...
//! To-do data:
//! ID: 1
//! User ID: 00aa00aa-bb11-cc22-dd33-44ee44ee44ee
//! Message: Bake bread
//! ...
//! Deleting remaining to-do...
//! Retrieving to-do's from server...
//! There are no to-do's in server
//! ```
//!
//! Both items are posted with one fixed owner GUID (an app token may set any owner). Any
//! unexpected HTTP status ends the program with an error (exit code 1).
//!
//! With no flags it starts the development issuer and the ToDoList API in-process, on 127.0.0.1:
//!
//! ```sh
//! cargo run --example entra_daemon
//! ```
//!
//! Against Microsoft Entra and a running `entra_todolist_api` (the token endpoint found by
//! discovery of `--issuer`, or given with `--token-endpoint`):
//!
//! ```sh
//! cargo run --example entra_daemon -- \
//!     --issuer https://login.microsoftonline.com/<tenant id>/v2.0 \
//!     --client-id <daemon client id> --client-secret <secret> \
//!     --scope api://<API client id>/.default --api-url http://127.0.0.1:44351
//! ```

#[path = "common/todolist.rs"]
mod todolist;

use clap::Parser;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tower_authz::ClientAuth;
use tower_authz::client::{ClientCredentials, RequestBuilderExt, TokenProvider};
use tower_authz_dev::DevIssuer;

/// The owner of both to-dos (the guide's value).
const OWNER: &str = "00aa00aa-bb11-cc22-dd33-44ee44ee44ee";

#[derive(Parser, Debug)]
#[command(about = "The Entra daemon sample's client, using tower-authz's client credentials")]
struct Args {
    /// The token endpoint, e.g.
    /// https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token.
    #[arg(long, conflicts_with = "issuer")]
    token_endpoint: Option<String>,
    /// The issuer, whose token endpoint is found by OIDC discovery, e.g.
    /// https://login.microsoftonline.com/<tenant>/v2.0.
    #[arg(long)]
    issuer: Option<String>,
    /// The daemon's application (client) id.
    #[arg(long)]
    client_id: Option<String>,
    /// The daemon's client secret.
    #[arg(long)]
    client_secret: Option<String>,
    /// The scope: `api://<API client id>/.default`.
    #[arg(long)]
    scope: Option<String>,
    /// The ToDoList API's base URL. Default: http://127.0.0.1:44351 (`entra_todolist_api`).
    #[arg(long)]
    api_url: Option<String>,
}

impl Args {
    /// Whether any flag for a real identity provider was given.
    fn real(&self) -> bool {
        self.token_endpoint.is_some()
            || self.issuer.is_some()
            || self.client_id.is_some()
            || self.client_secret.is_some()
            || self.scope.is_some()
            || self.api_url.is_some()
    }
}

/// An item as the API answers it.
#[derive(Debug, Deserialize)]
struct ToDo {
    id: u64,
    owner: String,
    description: String,
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

/// The API client: the base URL and the token provider.
struct Api {
    http: reqwest::Client,
    base: String,
    tokens: ClientCredentials,
}

impl Api {
    /// Sends a request with the daemon's token; anything but `expected` is an error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        expected: StatusCode,
    ) -> Result<String, Error> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.bearer_from(&self.tokens).await?.send().await?;
        let status = response.status();
        let challenge = challenge(&response);
        let text = response.text().await?;
        if status != expected {
            return Err(format!(
                "{method} {url}: expected {expected}, got {status}{challenge}: {text}"
            )
            .into());
        }
        Ok(text)
    }

    async fn post(&self, description: &str) -> Result<ToDo, Error> {
        let body = json!({ "owner": OWNER, "description": description });
        let text = self
            .call(
                Method::POST,
                "/api/todolist",
                Some(body),
                StatusCode::CREATED,
            )
            .await?;
        Ok(serde_json::from_str(&text)?)
    }

    async fn display(&self) -> Result<(), Error> {
        println!("Retrieving to-do's from server...");
        let text = self
            .call(Method::GET, "/api/todolist", None, StatusCode::OK)
            .await?;
        let items: Vec<ToDo> = serde_json::from_str(&text)?;
        if items.is_empty() {
            println!("There are no to-do's in server");
            return Ok(());
        }
        println!("To-do data:");
        for item in items {
            println!("ID: {}", item.id);
            println!("User ID: {}", item.owner);
            println!("Message: {}", item.description);
        }
        Ok(())
    }

    async fn delete(&self, id: u64) -> Result<(), Error> {
        let path = format!("/api/todolist/{id}");
        self.call(Method::DELETE, &path, None, StatusCode::OK)
            .await?;
        Ok(())
    }

    async fn edit(&self, item: &ToDo, description: &str) -> Result<ToDo, Error> {
        let path = format!("/api/todolist/{}", item.id);
        let body = json!({ "id": item.id, "owner": item.owner, "description": description });
        let text = self
            .call(Method::PUT, &path, Some(body), StatusCode::OK)
            .await?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// The sample's sequence.
async fn run(api: &Api) -> Result<(), Error> {
    println!("Posting a to-do...");
    let first = api.post("Bake bread").await?;
    api.display().await?;

    println!("Posting a second to-do...");
    let second = api.post("Butter bread").await?;
    api.display().await?;

    println!("Deleting a to-do...");
    api.delete(first.id).await?;
    api.display().await?;

    println!("Editing a to-do...");
    let second = api.edit(&second, "Eat bread").await?;
    api.display().await?;

    println!("Deleting remaining to-do...");
    api.delete(second.id).await?;
    api.display().await?;
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

    // With no flags: the development issuer and the API, in this process.
    let mut dev = None;
    let (tokens, base) = if args.real() {
        let client_id = args.client_id.ok_or("--client-id is required")?;
        let secret = args.client_secret.ok_or("--client-secret is required")?;
        let scope = args
            .scope
            .ok_or("--scope is required (api://<API client id>/.default)")?;
        let auth = ClientAuth::post(client_id, secret);
        let tokens = match (&args.token_endpoint, &args.issuer) {
            (Some(endpoint), _) => ClientCredentials::new(endpoint, auth)?,
            (None, Some(issuer)) => ClientCredentials::discover(issuer, auth)?,
            (None, None) => return Err("--token-endpoint or --issuer is required".into()),
        };
        let base = args
            .api_url
            .unwrap_or_else(|| "http://127.0.0.1:44351".to_owned());
        (tokens.with_scope(scope), base)
    } else {
        let issuer = DevIssuer::start().await?;
        todolist::add_dev_daemon(&issuer);
        let verifier =
            todolist::verifier(issuer.issuer(), None, todolist::DEV_API_CLIENT_ID, None)?;
        let listener = todolist::bind(0).await?;
        let base = format!("http://{}", listener.local_addr()?);
        // The rules in Rust (`entra_todolist_api --policies` runs them from Cedar files).
        let app = todolist::router(verifier, None)?;
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                eprintln!("the ToDoList API stopped: {error}");
            }
        });
        let tokens = ClientCredentials::discover(
            issuer.issuer(),
            ClientAuth::post(todolist::DEV_DAEMON_CLIENT_ID, todolist::DEV_DAEMON_SECRET),
        )?
        .with_scope(todolist::default_scope(todolist::DEV_API_CLIENT_ID));
        dev = Some(issuer);
        (tokens, base)
    };

    let api = Api {
        http: reqwest::Client::new(),
        base: base.trim_end_matches('/').to_owned(),
        tokens,
    };
    // Fail on bad credentials before the first line, as the token is cached for the calls.
    let result = match api.tokens.token().await {
        Ok(_) => run(&api).await,
        Err(error) => Err(error.into()),
    };
    if let Some(issuer) = dev {
        issuer.stop().await;
    }
    result
}
