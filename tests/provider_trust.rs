//! Trust in the provider's URLs and HTTP, over HTTP on 127.0.0.1 (issue 12, items 4, 5, 12):
//! - provider URLs must be https, or http to a loopback host, unless
//!   `ProviderUrl::allow_insecure_http` says otherwise; a discovery document cannot send the
//!   verifier to a plain-http endpoint on another host;
//! - a POST (introspection, token endpoint) follows no redirect: a 3xx is a 503 and the
//!   redirect's target never hears from us; a GET (discovery, JWKS) follows only redirects
//!   within its origin;
//! - a user's HTTP client is kept whatever the order of `with_http_client` and `with_timeout`,
//!   and the timeout still applies to it.
//!
//! The providers are axum routers on free ports of 127.0.0.1; the "elsewhere" a redirect points
//! to is a bare listener that counts the connections it gets. Tokens are signed with the key
//! of a development issuer, whose JWKS the local provider republishes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use common::{TestApp, jwks_of};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_authz::client::{ClientCredentials, JwtBearer, TokenErrorKind, TokenProvider};
use tower_authz::{
    AuthErrorKind, AuthLayer, ClientAuth, ConfigError, ConfigErrorKind, IntrospectionVerifier,
    JwksVerifier, ProviderUrl, ServiceAccountKey, Verifier,
};
use tower_authz_dev::DevIssuer;

const AUDIENCE: &str = "trust-api";
/// The verifiers' timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(300);
/// Every answer comes well within this (nothing hangs).
const BOUND: Duration = Duration::from_secs(5);
/// The header a user's own client adds to every request, checked by the provider.
const MARKER: &str = "x-users-client";

/// A listener on 127.0.0.1 and its base URL.
async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, base)
}

fn spawn(listener: TcpListener, router: Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    })
}

/// A listener that accepts connections, counts them and closes them unanswered: where a
/// redirect points, to see whether anything followed it.
struct Elsewhere {
    base: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Elsewhere {
    async fn start() -> Self {
        let (listener, base) = bind().await;
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self {
            base,
            connections,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Elsewhere {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A redirect with `status` to `location`.
fn redirect(status: u16, location: &str) -> Response {
    let status = StatusCode::from_u16(status).expect("status");
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

/// The development issuer's signing key as a JWKS.
/// A token for `issuer` signed with the development issuer's key.
fn token_for(dev: &DevIssuer, issuer: &str) -> String {
    common::token_for(dev, issuer, AUDIENCE)
}

/// A discovery document of `issuer` with every endpoint at `endpoint`.
fn discovery_document(issuer: &str, endpoint: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{endpoint}/keys"),
        "introspection_endpoint": format!("{endpoint}/introspect"),
        "token_endpoint": format!("{endpoint}/token"),
    })
}

fn introspection_active() -> Value {
    json!({"active": true, "sub": "alice", "aud": "api", "exp": unix_now() + 300})
}

fn token_response() -> Value {
    json!({"access_token": "issued", "token_type": "Bearer", "expires_in": 300})
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn json_route(value: Value) -> axum::routing::MethodRouter {
    any(move || {
        let value = value.clone();
        async move { axum::Json(value) }
    })
}

// ---- Item 4: https only ----------------------------------------------------------------------

/// Every public constructor that takes a URL the crate fetches or posts to.
fn constructors(
    url: ProviderUrl,
    key: &ServiceAccountKey,
) -> Vec<(&'static str, Result<(), ConfigError>)> {
    let endpoint = ProviderUrl::from(format!("{}/endpoint", url.as_str()));
    let endpoint = if url.allows_insecure_http() {
        ProviderUrl::allow_insecure_http(endpoint.as_str())
    } else {
        endpoint
    };
    let auth = || ClientAuth::basic("api", "secret");
    vec![
        (
            "JwksVerifier::discover",
            JwksVerifier::discover(url.clone(), AUDIENCE).map(drop),
        ),
        (
            "JwksVerifier::new",
            JwksVerifier::new(url.as_str(), endpoint.clone(), AUDIENCE).map(drop),
        ),
        (
            "IntrospectionVerifier::discover",
            IntrospectionVerifier::discover(url.clone(), auth(), "api").map(drop),
        ),
        (
            "IntrospectionVerifier::new",
            IntrospectionVerifier::new(url.as_str(), endpoint.clone(), auth(), "api").map(drop),
        ),
        (
            "ClientCredentials::discover",
            ClientCredentials::discover(url.clone(), auth()).map(drop),
        ),
        (
            "ClientCredentials::new",
            ClientCredentials::new(endpoint.clone(), auth()).map(drop),
        ),
        (
            "JwtBearer::discover",
            JwtBearer::discover(url.clone(), key.clone()).map(drop),
        ),
        (
            "JwtBearer::new",
            JwtBearer::new(url.as_str(), endpoint, key.clone()).map(drop),
        ),
    ]
}

async fn service_account_key(dev: &DevIssuer) -> ServiceAccountKey {
    let path = std::env::temp_dir().join(format!(
        "tower-authz-provider-trust-{}-{}.json",
        std::process::id(),
        dev.addr().port()
    ));
    dev.write_service_account_key_file(&path, "sa-user")
        .expect("key file");
    let key = ServiceAccountKey::from_file(&path).expect("key");
    let _ = std::fs::remove_file(&path);
    key
}

#[tokio::test]
async fn plain_http_provider_urls_are_refused_unless_loopback_or_opted_out() {
    let dev = DevIssuer::start().await.expect("issuer");
    let key = service_account_key(&dev).await;
    for insecure in [
        "http://id.example.com",
        "http://keycloak:8080/realms/demo",
        "http://10.1.2.3:9011",
    ] {
        for (name, result) in constructors(insecure.into(), &key) {
            let error = result.expect_err(&format!("{name}({insecure}) must be refused"));
            assert_eq!(
                error.kind(),
                ConfigErrorKind::InsecureUrl,
                "{name}: {error}"
            );
            let message = error.to_string();
            assert!(message.contains("https://"), "{name}: {message}");
            assert!(
                message.contains("ProviderUrl::allow_insecure_http"),
                "{name}: {message}"
            );
        }
        for (name, result) in constructors(ProviderUrl::allow_insecure_http(insecure), &key) {
            result.unwrap_or_else(|e| panic!("{name}({insecure}) opted out: {e}"));
        }
    }
    for allowed in [
        "https://id.example.com",
        "http://127.0.0.1:9011",
        "http://localhost:9011",
        "http://[::1]:9011",
    ] {
        for (name, result) in constructors(allowed.into(), &key) {
            result.unwrap_or_else(|e| panic!("{name}({allowed}): {e}"));
        }
    }
}

#[tokio::test]
async fn a_loopback_issuer_cannot_point_at_a_plain_http_endpoint_on_another_host() {
    let (listener, base) = bind().await;
    // Nothing is ever sent there: the URL is refused before any request.
    let document = discovery_document(&base, "http://provider.example.invalid");
    let _task = spawn(
        listener,
        Router::new().route("/.well-known/openid-configuration", json_route(document)),
    );
    let dev = DevIssuer::start().await.expect("issuer");

    let jwks = JwksVerifier::discover(&base, AUDIENCE).expect("verifier");
    let error = jwks.fetch_keys().await.expect_err("refused");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
    assert_eq!(
        error.description(),
        "the discovery document names an insecure http endpoint"
    );
    let app = TestApp::start(AuthLayer::new(jwks)).await;
    let answer = app.get("/whoami", Some(&token_for(&dev, &base))).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.retry_after.is_some(), "{answer:?}");

    let introspection =
        IntrospectionVerifier::discover(&base, ClientAuth::basic("api", "s"), "api")
            .expect("verifier");
    let error = introspection.verify("opaque").await.expect_err("refused");
    assert_eq!(
        error.description(),
        "the discovery document names an insecure http endpoint"
    );

    let tokens =
        ClientCredentials::discover(&base, ClientAuth::basic("daemon", "s")).expect("provider");
    let error = tokens.token().await.expect_err("refused");
    assert_eq!(error.kind(), TokenErrorKind::Unavailable);
    assert!(
        error.to_string().contains("insecure http endpoint"),
        "{error}"
    );
}

/// An https provider on 127.0.0.1 (certificate in `tests/fixtures/`, for 127.0.0.1 only,
/// trusted by the client [`trusting_the_test_certificate`] only) that answers each GET with the
/// JSON `route` gives for its path, or 404.
async fn https_provider(
    route: impl Fn(&str, &str) -> Option<Value> + Send + Sync + 'static,
) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_slice_iter(TEST_CERT)
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_slice(TEST_KEY).expect("key");
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("tls config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1");
    let base = format!("https://{}", listener.local_addr().expect("addr"));
    let issuer = base.clone();
    let route = Arc::new(route);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, route, issuer) = (acceptor.clone(), route.clone(), issuer.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default();
                let (status, body) = match route(&issuer, path) {
                    Some(value) => ("200 OK", value.to_string()),
                    None => ("404 Not Found", String::new()),
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (base, task)
}

const TEST_CERT: &[u8] = include_bytes!("fixtures/loopback-tls-cert.pem");
const TEST_KEY: &[u8] = include_bytes!("fixtures/loopback-tls-key.pem");

/// A client that trusts the test certificate (and follows no redirect, as documented).
fn trusting_the_test_certificate() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(TEST_CERT).expect("certificate"))
        .build()
        .expect("client")
}

#[tokio::test]
async fn an_https_issuer_cannot_point_at_a_plain_http_endpoint() {
    let dev = DevIssuer::start().await.expect("issuer");
    let jwks = jwks_of(&dev);
    // The control: an https issuer whose endpoints are https works.
    let (secure, _secure_task) = https_provider(move |issuer, path| match path {
        "/.well-known/openid-configuration" => Some(discovery_document(issuer, issuer)),
        "/keys" => Some(jwks.clone()),
        _ => None,
    })
    .await;
    let verifier = JwksVerifier::discover(&secure, AUDIENCE)
        .expect("verifier")
        .with_http_client(trusting_the_test_certificate());
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let answer = app.get("/whoami", Some(&token_for(&dev, &secure))).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // The same issuer naming http endpoints, even on loopback: refused, and never fetched.
    let elsewhere = Elsewhere::start().await;
    let plain = elsewhere.base.clone();
    let (downgrading, _task) = https_provider(move |issuer, path| {
        (path == "/.well-known/openid-configuration").then(|| discovery_document(issuer, &plain))
    })
    .await;
    let verifier = JwksVerifier::discover(&downgrading, AUDIENCE)
        .expect("verifier")
        .with_http_client(trusting_the_test_certificate());
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let answer = app
        .get("/whoami", Some(&token_for(&dev, &downgrading)))
        .await;
    assert_eq!(answer.status, 503, "{answer:?}");
    let introspection =
        IntrospectionVerifier::discover(&downgrading, ClientAuth::basic("api", "secret"), "api")
            .expect("verifier")
            .with_http_client(trusting_the_test_certificate());
    let error = introspection
        .verify("opaque-token")
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
    let tokens = ClientCredentials::discover(&downgrading, ClientAuth::post("daemon", "secret"))
        .expect("provider")
        .with_http_client(trusting_the_test_certificate());
    let error = tokens.token().await.expect_err("refused");
    assert_eq!(error.kind(), TokenErrorKind::Unavailable);
    assert_eq!(elsewhere.connections(), 0, "an http endpoint was used");
}

// ---- Item 5: no redirects that leak ----------------------------------------------------------

#[tokio::test]
async fn a_redirected_introspection_post_is_503_and_nothing_is_resent() {
    for status in [302, 303, 307, 308] {
        let elsewhere = Elsewhere::start().await;
        let (listener, base) = bind().await;
        let target = format!("{}/introspect?token=leaked", elsewhere.base);
        let _task = spawn(
            listener,
            Router::new().route(
                "/introspect",
                post(move || async move { redirect(status, &target) }),
            ),
        );
        let verifier = IntrospectionVerifier::new(
            &base,
            format!("{base}/introspect"),
            ClientAuth::basic("api", "secret"),
            "api",
        )
        .expect("verifier")
        .with_timeout(TIMEOUT)
        .expect("timeout");
        let app = TestApp::start(AuthLayer::new(verifier)).await;
        let answer = app.get("/whoami", Some("opaque-token")).await;
        assert_eq!(answer.status, 503, "{status}: {answer:?}");
        assert_eq!(
            elsewhere.connections(),
            0,
            "{status}: the redirect was followed"
        );
    }
}

#[tokio::test]
async fn a_redirected_token_request_fails_and_nothing_is_resent() {
    let dev = DevIssuer::start().await.expect("issuer");
    let key = service_account_key(&dev).await;
    for status in [302, 303, 307, 308] {
        let elsewhere = Elsewhere::start().await;
        let (listener, base) = bind().await;
        let target = format!("{}/token", elsewhere.base);
        let _task = spawn(
            listener,
            Router::new().route(
                "/token",
                post(move || async move { redirect(status, &target) }),
            ),
        );
        let endpoint = format!("{base}/token");
        let secret = ClientCredentials::new(&endpoint, ClientAuth::post("daemon", "secret"))
            .expect("provider");
        let error = secret.token().await.expect_err("redirected");
        assert_eq!(
            error.kind(),
            TokenErrorKind::Unavailable,
            "{status}: {error}"
        );
        let assertion = JwtBearer::new(&base, &endpoint, key.clone()).expect("provider");
        let error = assertion.token().await.expect_err("redirected");
        assert_eq!(
            error.kind(),
            TokenErrorKind::Unavailable,
            "{status}: {error}"
        );
        assert_eq!(
            elsewhere.connections(),
            0,
            "{status}: the redirect was followed"
        );
    }
}

#[tokio::test]
async fn discovery_and_jwks_redirected_to_another_origin_are_refused() {
    let dev = DevIssuer::start().await.expect("issuer");
    for redirected in ["/.well-known/openid-configuration", "/keys"] {
        let elsewhere = Elsewhere::start().await;
        let (listener, base) = bind().await;
        let target = format!("{}{redirected}", elsewhere.base);
        let mut router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                json_route(discovery_document(&base, &base)),
            )
            .route("/keys", json_route(jwks_of(&dev)));
        router = router.route(
            redirected,
            get(move || async move { redirect(302, &target) }),
        );
        let _task = spawn(listener, router);
        let verifier = JwksVerifier::discover(&base, AUDIENCE)
            .expect("verifier")
            .with_timeout(TIMEOUT)
            .expect("timeout");
        let app = TestApp::start(AuthLayer::new(verifier)).await;
        let answer = app.get("/whoami", Some(&token_for(&dev, &base))).await;
        assert_eq!(answer.status, 503, "{redirected}: {answer:?}");
        assert_eq!(
            elsewhere.connections(),
            0,
            "{redirected}: the redirect was followed"
        );
    }
}

#[tokio::test]
async fn another_port_or_host_name_is_another_origin() {
    // The same server under `localhost` is still another origin than `127.0.0.1`.
    let dev = DevIssuer::start().await.expect("issuer");
    let (listener, base) = bind().await;
    let port = listener.local_addr().expect("addr").port();
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            json_route(discovery_document(&base, &base)),
        )
        .route(
            "/keys",
            get(
                move || async move { redirect(307, &format!("http://localhost:{port}/real-keys")) },
            ),
        )
        .route("/real-keys", json_route(jwks_of(&dev)));
    let _task = spawn(listener, router);
    let verifier = JwksVerifier::discover(&base, AUDIENCE).expect("verifier");
    let error = verifier.fetch_keys().await.expect_err("refused");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
}

#[tokio::test]
async fn same_origin_redirects_are_followed() {
    let dev = DevIssuer::start().await.expect("issuer");
    let (listener, base) = bind().await;
    let document = json!({"issuer": base, "jwks_uri": format!("{base}/old-keys")});
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|| async { redirect(302, "/moved/discovery") }),
        )
        .route(
            "/moved/discovery",
            get(|| async { redirect(308, "../discovery.json") }),
        )
        .route("/discovery.json", json_route(document))
        .route("/old-keys", get(|| async { redirect(301, "/keys") }))
        .route("/keys", json_route(jwks_of(&dev)));
    let _task = spawn(listener, router);
    let verifier = JwksVerifier::discover(&base, AUDIENCE).expect("verifier");
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let answer = app.get("/whoami", Some(&token_for(&dev, &base))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn more_than_three_redirects_are_refused() {
    let dev = DevIssuer::start().await.expect("issuer");
    let (listener, base) = bind().await;
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            json_route(discovery_document(&base, &base)),
        )
        .route("/keys", get(|| async { redirect(302, "/k1") }))
        .route("/k1", get(|| async { redirect(302, "/k2") }))
        .route("/k2", get(|| async { redirect(302, "/k3") }))
        .route("/k3", get(|| async { redirect(302, "/k4") }))
        .route("/k4", json_route(jwks_of(&dev)));
    let _task = spawn(listener, router);
    let verifier = JwksVerifier::discover(&base, AUDIENCE).expect("verifier");
    let error = verifier.fetch_keys().await.expect_err("too many redirects");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
}

// ---- Item 12: the user's client is kept ------------------------------------------------------

/// A user's client: no redirects (as documented), and a header that marks its requests.
fn users_client(redirects: reqwest::redirect::Policy) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(MARKER, "yes".parse().expect("header"));
    reqwest::Client::builder()
        .no_proxy()
        .redirect(redirects)
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Answers 418 to any request without the user's client's marker.
async fn only_the_users_client(request: Request, next: Next) -> Response {
    if request.headers().contains_key(MARKER) {
        next.run(request).await
    } else {
        StatusCode::IM_A_TEAPOT.into_response()
    }
}

/// A provider that answers only the user's client: discovery, JWKS, introspection, token.
async fn marker_provider(dev: &DevIssuer) -> (String, tokio::task::JoinHandle<()>) {
    let (listener, base) = bind().await;
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            json_route(discovery_document(&base, &base)),
        )
        .route("/keys", json_route(jwks_of(dev)))
        .route(
            "/introspect",
            post(|| async { axum::Json(introspection_active()) }),
        )
        .route("/token", post(|| async { axum::Json(token_response()) }))
        .layer(middleware::from_fn(only_the_users_client));
    (base, spawn(listener, router))
}

#[tokio::test]
async fn the_users_client_is_kept_whatever_the_order_of_the_setters() {
    let dev = DevIssuer::start().await.expect("issuer");
    let (base, _task) = marker_provider(&dev).await;
    let client = || users_client(reqwest::redirect::Policy::none());
    let token = token_for(&dev, &base);
    for timeout_last in [true, false] {
        let order = if timeout_last {
            "client, timeout"
        } else {
            "timeout, client"
        };

        let jwks = JwksVerifier::discover(&base, AUDIENCE).expect("verifier");
        let jwks = if timeout_last {
            jwks.with_http_client(client())
                .with_timeout(TIMEOUT)
                .expect("timeout")
        } else {
            jwks.with_timeout(TIMEOUT)
                .expect("timeout")
                .with_http_client(client())
        };
        let app = TestApp::start(AuthLayer::new(jwks)).await;
        let answer = app.get("/whoami", Some(&token)).await;
        assert_eq!(answer.status, 200, "JWKS, {order}: {answer:?}");

        let auth = ClientAuth::basic("api", "secret");
        let introspection = IntrospectionVerifier::discover(&base, auth, "api").expect("verifier");
        let introspection = if timeout_last {
            introspection
                .with_http_client(client())
                .with_timeout(TIMEOUT)
                .expect("timeout")
        } else {
            introspection
                .with_timeout(TIMEOUT)
                .expect("timeout")
                .with_http_client(client())
        };
        let claims = introspection
            .verify("opaque-token")
            .await
            .unwrap_or_else(|e| panic!("introspection, {order}: {e:?}"));
        assert_eq!(claims.subject(), Some("alice"));

        let auth = ClientAuth::post("daemon", "secret");
        let tokens = ClientCredentials::discover(&base, auth).expect("provider");
        let tokens = if timeout_last {
            tokens
                .with_http_client(client())
                .with_timeout(TIMEOUT)
                .expect("timeout")
        } else {
            tokens
                .with_timeout(TIMEOUT)
                .expect("timeout")
                .with_http_client(client())
        };
        let issued = tokens
            .token()
            .await
            .unwrap_or_else(|e| panic!("client credentials, {order}: {e:?}"));
        assert_eq!(issued.as_str(), "issued");
    }
}

#[tokio::test]
async fn the_timeout_applies_to_the_users_client() {
    let (listener, base) = bind().await;
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        "too late"
    };
    let _task = spawn(
        listener,
        Router::new()
            .route("/keys", any(slow))
            .route("/introspect", any(slow)),
    );
    let client = || users_client(reqwest::redirect::Policy::none());
    for timeout_last in [true, false] {
        let jwks = JwksVerifier::new(&base, format!("{base}/keys"), AUDIENCE).expect("verifier");
        let jwks = if timeout_last {
            jwks.with_http_client(client())
                .with_timeout(TIMEOUT)
                .expect("timeout")
        } else {
            jwks.with_timeout(TIMEOUT)
                .expect("timeout")
                .with_http_client(client())
        };
        let error = tokio::time::timeout(BOUND, jwks.fetch_keys())
            .await
            .expect("answered within the bound")
            .expect_err("timed out");
        assert_eq!(error.kind(), AuthErrorKind::Upstream);

        let introspection = IntrospectionVerifier::new(
            &base,
            format!("{base}/introspect"),
            ClientAuth::basic("api", "secret"),
            "api",
        )
        .expect("verifier");
        let introspection = if timeout_last {
            introspection
                .with_http_client(client())
                .with_timeout(TIMEOUT)
                .expect("timeout")
        } else {
            introspection
                .with_timeout(TIMEOUT)
                .expect("timeout")
                .with_http_client(client())
        };
        let error = tokio::time::timeout(BOUND, introspection.verify("opaque-token"))
            .await
            .expect("answered within the bound")
            .expect_err("timed out");
        assert_eq!(error.kind(), AuthErrorKind::Upstream);
    }
}

#[tokio::test]
async fn a_users_client_that_follows_redirects_gets_no_answer_through_them() {
    let dev = DevIssuer::start().await.expect("issuer");
    // The other origin answers as a provider would: only the redirect makes it wrong.
    let (other_listener, other) = bind().await;
    let (listener, base) = bind().await;
    let issuer = format!("{base}/discovery");
    let _other = spawn(
        other_listener,
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                json_route(discovery_document(&issuer, &other)),
            )
            .route("/keys", json_route(jwks_of(&dev)))
            .route(
                "/introspect",
                post(|| async { axum::Json(introspection_active()) }),
            )
            .route("/token", post(|| async { axum::Json(token_response()) })),
    );
    let to_other = |path: &'static str| {
        let target = format!("{other}{path}");
        any(move || async move { redirect(307, &target) })
    };
    let _task = spawn(
        listener,
        Router::new()
            .route(
                "/discovery/.well-known/openid-configuration",
                to_other("/.well-known/openid-configuration"),
            )
            .route("/introspect", to_other("/introspect"))
            .route("/token", to_other("/token")),
    );
    let following = || users_client(reqwest::redirect::Policy::limited(3));

    let introspection = IntrospectionVerifier::new(
        &base,
        format!("{base}/introspect"),
        ClientAuth::basic("api", "secret"),
        "api",
    )
    .expect("verifier")
    .with_http_client(following());
    let error = introspection
        .verify("opaque-token")
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);

    let tokens = ClientCredentials::new(format!("{base}/token"), ClientAuth::post("daemon", "s"))
        .expect("provider")
        .with_http_client(following());
    let error = tokens.token().await.expect_err("refused");
    assert_eq!(error.kind(), TokenErrorKind::Unavailable);

    let jwks = JwksVerifier::discover(&issuer, AUDIENCE)
        .expect("verifier")
        .with_http_client(following());
    let app = TestApp::start(AuthLayer::new(jwks)).await;
    let answer = app.get("/whoami", Some(&token_for(&dev, &issuer))).await;
    assert_eq!(answer.status, 503, "{answer:?}");
}
