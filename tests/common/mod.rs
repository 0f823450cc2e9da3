//! Shared test helpers: a protected axum app served on 127.0.0.1, and a client for it.
#![allow(dead_code, unreachable_pub)]

pub mod dpop;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use http::header::WWW_AUTHENTICATE;
use tokio::net::TcpListener;
use tower_authz::{AuthLayer, Claims, ResponseForAuthError, require_role};

/// A protected app running on 127.0.0.1, counting how often its handlers ran.
pub struct TestApp {
    pub base: String,
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestApp {
    /// `/whoami` (any valid token) and `/admin` (role `admin`) behind `layer`.
    pub async fn start<R>(layer: AuthLayer<R>) -> TestApp
    where
        R: ResponseForAuthError<axum::body::Body>,
    {
        let hits = Arc::new(AtomicUsize::new(0));
        let (h1, h2) = (hits.clone(), hits.clone());
        let router = Router::new()
            .route(
                "/admin",
                get(move |claims: Claims| async move {
                    h1.fetch_add(1, Ordering::SeqCst);
                    Json(claims.as_value().clone())
                }),
            )
            .route_layer(require_role("admin"))
            .route(
                "/whoami",
                get(move |claims: Option<Claims>| async move {
                    h2.fetch_add(1, Ordering::SeqCst);
                    Json(claims.map(|c| c.as_value().clone()))
                }),
            )
            .layer(layer);
        let (base, task) = serve(router).await;
        TestApp { base, hits, task }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        get_with(&format!("{}{path}", self.base), token).await
    }
}

/// Serves `router` on a random port of 127.0.0.1.
pub async fn serve(router: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), task)
}

/// What came back: status, `WWW-Authenticate`, `Retry-After` and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub challenge: Option<String>,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Answer {
    /// Asserts a refusal with an RFC 6750 `error` code in the challenge.
    #[track_caller]
    pub fn assert_refused(&self, status: u16, error: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        let challenge = self.challenge.as_deref().unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{self:?}");
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{self:?}"
        );
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// The JSON answer of an RFC 7662 introspection of `token` at `endpoint`, as `client_id`
/// (`client_secret_basic`).
pub async fn introspect(
    endpoint: &str,
    client_id: &str,
    secret: &str,
    token: &str,
) -> serde_json::Value {
    client()
        .post(endpoint)
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection")
        .json()
        .await
        .expect("introspection JSON")
}

pub async fn get_with(url: &str, token: Option<&str>) -> Answer {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let header = |name: http::HeaderName| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let challenge = header(WWW_AUTHENTICATE);
    let retry_after = header(http::header::RETRY_AFTER);
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        challenge,
        retry_after,
        body,
    }
}

/// A port on 127.0.0.1 that nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// A running example binary, killed when dropped.
pub struct Example {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub output: Vec<String>,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of an example built by `cargo test` (examples are built alongside the tests).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        dir.exists(),
        "{} is missing: run the tests with `cargo test --all-features`, which builds the examples",
        dir.display()
    );
    dir
}

impl Example {
    /// Starts example `name` with `args`, its stdout read line by line.
    pub fn start(name: &str, args: &[&str]) -> Example {
        Self::start_with_env(name, args, &[])
    }

    /// Like [`start`](Self::start), with these environment variables set too.
    pub fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Example {
        use std::io::BufRead;
        let mut child = std::process::Command::new(example_binary(name))
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start example");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Example {
            child,
            lines,
            output: Vec::new(),
        }
    }

    /// Waits (up to 60 s) for a line starting with `prefix` and returns the rest of it.
    pub fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(_) => panic!(
                    "no line starting with {prefix:?}; output so far:\n{}",
                    self.output.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to exit and returns all remaining output and the status.
    pub fn finish(mut self) -> (Vec<String>, std::process::ExitStatus) {
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(5)) {
            self.output.push(line);
        }
        (std::mem::take(&mut self.output), status)
    }
}

/// A JWKS with the development issuer's current RS256 key, for a local provider to republish.
pub fn jwks_of(dev: &tower_authz_dev::DevIssuer) -> serde_json::Value {
    serde_json::json!({"keys": [dev.current_key(tower_authz_dev::DevAlgorithm::RS256).public_jwk()]})
}

/// A token of `issuer` for `audience`, subject `alice`, signed with the development issuer's key.
pub fn token_for(dev: &tower_authz_dev::DevIssuer, issuer: &str, audience: &str) -> String {
    dev.token()
        .issuer(issuer)
        .audience(audience)
        .subject("alice")
        .sign()
        .expect("token")
}
