//! Token providers against the development issuer and against a scripted token endpoint, over
//! HTTP on 127.0.0.1: caching, refresh ahead of expiry, shared refreshes, failures, and sending
//! tokens with reqwest and with a tonic channel.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use tower_authz::client::{
    BearerLayer, ClientCredentials, JwtBearer, RequestBuilderExt, StaticToken, TokenErrorKind,
    TokenProvider, zitadel_audience_scope,
};
use tower_authz::{
    AuthLayer, ClientAuth, ConfigErrorKind, IntrospectionVerifier, JwksVerifier, ServiceAccountKey,
    Verifier,
};
use tower_authz_dev::{DEV_PROJECT_ID, DevClient, DevIssuer};

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tower-authz-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn client_credentials_basic_and_post_cache_one_token_for_many_calls() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("daemon", "daemon-secret").jwt_access_tokens());
    let jwks = JwksVerifier::discover(issuer.issuer(), DEV_PROJECT_ID).expect("verifier");
    for auth in [
        ClientAuth::basic("daemon", "daemon-secret"),
        ClientAuth::post("daemon", "daemon-secret"),
    ] {
        let provider = ClientCredentials::discover(issuer.issuer(), auth).expect("provider");
        let before = issuer.token_requests();
        let first = provider.token().await.expect("token");
        for _ in 0..20 {
            let again = provider.token().await.expect("cached");
            assert_eq!(again.as_str(), first.as_str());
        }
        assert_eq!(issuer.token_requests() - before, 1);
        let claims = jwks.verify(first.as_str()).await.expect("a valid JWT");
        assert_eq!(claims.client_id(), Some("daemon"));
    }
}

#[tokio::test]
async fn entra_shaped_tokens_with_the_default_scope() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("daemon-app", "s3cret").app_roles(["ToDoList.Read.All"]));
    let provider =
        ClientCredentials::discover(issuer.issuer(), ClientAuth::post("daemon-app", "s3cret"))
            .expect("provider")
            .with_scope("api://todo-api-id/.default");
    let token = provider.token().await.expect("token");
    let verifier = JwksVerifier::discover(issuer.issuer(), "todo-api-id").expect("verifier");
    let claims = verifier.verify(token.as_str()).await.expect("valid");
    assert!(claims.has_role("ToDoList.Read.All"));
    assert_eq!(claims.get("idtyp"), Some(&json!("app")));
    assert_eq!(claims.get("ver"), Some(&json!("2.0")));
}

#[tokio::test]
async fn a_rejected_secret_is_a_typed_error() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("daemon", "right"));
    let provider =
        ClientCredentials::discover(issuer.issuer(), ClientAuth::basic("daemon", "wrong"))
            .expect("provider");
    let error = provider.token().await.expect_err("rejected");
    assert_eq!(error.kind(), TokenErrorKind::Rejected);
    assert_eq!(error.oauth_error(), Some("invalid_client"));
    assert!(!format!("{error:?} {error}").contains("wrong"));
}

#[tokio::test]
async fn jwt_bearer_with_a_service_account_key_file() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = TempDir::new("jwt-bearer");
    let path = dir.0.join("sa.json");
    issuer
        .write_service_account_key_file(&path, "sa-user-1")
        .expect("key file");
    issuer.set_user_roles("sa-user-1", ["admin"]);
    let key = ServiceAccountKey::from_file(&path).expect("key");
    let provider = JwtBearer::discover(issuer.issuer(), key)
        .expect("provider")
        .with_scope(zitadel_audience_scope(DEV_PROJECT_ID));
    let token = provider.token().await.expect("token");
    provider.token().await.expect("cached");
    assert_eq!(issuer.token_requests(), 1);

    // The token is opaque: the API introspects it.
    let api_key = dir.0.join("api.json");
    issuer.write_api_key_file(&api_key).expect("api key");
    let introspection = IntrospectionVerifier::discover(
        issuer.issuer(),
        ClientAuth::private_key_jwt(tower_authz::ApplicationKey::from_file(&api_key).expect("key")),
        // The development issuer checks the audience, as ZITADEL does.
        tower_authz::AudienceCheck::left_to_provider(),
    )
    .expect("verifier")
    .with_role_source(tower_authz::RoleSource::zitadel());
    let claims = introspection.verify(token.as_str()).await.expect("active");
    assert_eq!(claims.subject(), Some("sa-user-1"));
    assert!(claims.has_role("admin"));
}

#[tokio::test]
async fn bad_key_files_are_clear_configuration_errors() {
    let dir = TempDir::new("bad-keys");
    let path = dir.0.join("bad.json");
    std::fs::write(&path, r#"{"type":"serviceaccount","keyId":"1","key":"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n","userId":"u"}"#)
        .expect("write");
    let error = ServiceAccountKey::from_file(&path).expect_err("bad key");
    assert_eq!(error.kind(), ConfigErrorKind::InvalidKeyFile);
    assert!(error.to_string().contains("`key`"), "{error}");
    std::fs::write(
        &path,
        r#"{"type":"application","keyId":"1","key":"k","appId":"a","clientId":"c"}"#,
    )
    .expect("write");
    let error = ServiceAccountKey::from_file(&path).expect_err("wrong type");
    assert!(error.to_string().contains("`type`"), "{error}");
}

/// A token endpoint whose answers the test scripts: tokens with `expires_in` 10 s (the
/// shortest lifetime the cache gives a token), or failures.
struct ScriptedEndpoint {
    url: String,
    requests: Arc<AtomicUsize>,
    mode: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

const ISSUE: usize = 0;
const REFUSE: usize = 1;
const FAIL: usize = 2;

async fn scripted_endpoint() -> ScriptedEndpoint {
    scripted_endpoint_with(Some(json!(10))).await
}

/// A scripted token endpoint whose tokens have this `expires_in` (`None`: no `expires_in`).
async fn scripted_endpoint_with(expires_in: Option<Value>) -> ScriptedEndpoint {
    let requests = Arc::new(AtomicUsize::new(0));
    let mode = Arc::new(AtomicUsize::new(ISSUE));
    let (r, m) = (requests.clone(), mode.clone());
    let router = axum::Router::new().route(
        "/token",
        post(move || {
            let (r, m, expires_in) = (r.clone(), m.clone(), expires_in.clone());
            async move {
                // Slow enough that concurrent callers overlap.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = r.fetch_add(1, Ordering::SeqCst) + 1;
                match m.load(Ordering::SeqCst) {
                    ISSUE => {
                        let mut answer =
                            json!({"access_token": format!("token-{n}"), "token_type": "Bearer"});
                        if let Some(expires_in) = expires_in {
                            answer["expires_in"] = expires_in;
                        }
                        (StatusCode::OK, Json(answer))
                    }
                    REFUSE => (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": "invalid_grant", "error_description": "key revoked"})),
                    ),
                    _ => (StatusCode::INTERNAL_SERVER_ERROR, Json(Value::Null)),
                }
            }
        }),
    );
    let (base, task) = common::serve(router).await;
    ScriptedEndpoint {
        url: format!("{base}/token"),
        requests,
        mode,
        _task: task,
    }
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh_and_tokens_are_refreshed_ahead_of_expiry() {
    let endpoint = scripted_endpoint().await;
    let provider = Arc::new(
        ClientCredentials::new(&endpoint.url, ClientAuth::post("c", "s")).expect("provider"),
    );
    let calls = (0..50).map(|_| {
        let provider = provider.clone();
        async move { provider.token().await.expect("token").as_str().to_owned() }
    });
    let tokens = futures_util::future::join_all(calls).await;
    assert!(tokens.iter().all(|t| t == "token-1"));
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 1);

    // A 10 s token is refreshed in its last 5 s (half its lifetime at most), before it expires.
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let refreshed = provider.token().await.expect("refreshed");
    assert_eq!(refreshed.as_str(), "token-2");
    assert!(!refreshed.is_expired());
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_refresh_is_an_error_never_an_expired_token() {
    let endpoint = scripted_endpoint().await;
    let provider =
        ClientCredentials::new(&endpoint.url, ClientAuth::post("c", "s")).expect("provider");
    provider.token().await.expect("token-1");

    // Inside the refresh window but not expired: the refresh fails, the valid token is kept.
    endpoint.mode.store(FAIL, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5100)).await;
    let held = provider.token().await.expect("still valid");
    assert_eq!(held.as_str(), "token-1");

    // Expired: an error, typed.
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let error = provider.token().await.expect_err("expired and unavailable");
    assert_eq!(error.kind(), TokenErrorKind::Unavailable);
    endpoint.mode.store(REFUSE, Ordering::SeqCst);
    let error = provider.token().await.expect_err("refused");
    assert_eq!(error.kind(), TokenErrorKind::Rejected);
    assert_eq!(error.oauth_error(), Some("invalid_grant"));
    assert_eq!(error.oauth_description(), Some("key revoked"));

    // And it recovers.
    endpoint.mode.store(ISSUE, Ordering::SeqCst);
    assert!(provider.token().await.is_ok());
}

#[tokio::test]
async fn hostile_expires_in_neither_panics_nor_sends_every_call_to_the_token_endpoint() {
    let answers = [
        Some(json!(u64::MAX)),
        Some(json!("18446744073709551615")),
        Some(json!(0)),
        Some(json!("0")),
        Some(json!(-5)),
        Some(json!("-5")),
        Some(json!(i64::MIN)),
        Some(json!(0.5)),
        Some(json!(3599.5)),
        Some(json!("3599.5")),
        Some(json!(1e300)),
        Some(json!("soon")),
        Some(Value::Null),
        None,
    ];
    for expires_in in answers {
        let endpoint = scripted_endpoint_with(expires_in.clone()).await;
        let provider =
            ClientCredentials::new(&endpoint.url, ClientAuth::post("c", "s")).expect("provider");
        for _ in 0..20 {
            let token = provider
                .token()
                .await
                .unwrap_or_else(|e| panic!("expires_in {expires_in:?}: {e}"));
            assert_eq!(token.as_str(), "token-1", "expires_in {expires_in:?}");
            assert!(!token.is_expired(), "expires_in {expires_in:?}");
            // Held for at least 5 s (the shortest lifetime less this loop) and at most a day.
            let left = token
                .expires_at()
                .expect("an expiry")
                .saturating_duration_since(tokio::time::Instant::now());
            assert!(
                left > Duration::from_secs(5) && left <= Duration::from_secs(24 * 3600),
                "expires_in {expires_in:?}: {left:?} left"
            );
        }
        assert_eq!(
            endpoint.requests.load(Ordering::SeqCst),
            1,
            "expires_in {expires_in:?}"
        );
    }
}

#[tokio::test]
async fn reqwest_in_one_line() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = common::TestApp::start(AuthLayer::new(verifier)).await;
    let provider = StaticToken::new(issuer.token().subject("reqwest").sign().expect("token"));
    let response = common::client()
        .get(format!("{}/whoami", app.base))
        .bearer_from(&provider)
        .await
        .expect("token")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["sub"], "reqwest");
}

#[tokio::test]
async fn the_bearer_layer_on_a_tonic_channel() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let issuer = DevIssuer::start().await.expect("issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(AuthLayer::new(verifier))
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect");

    let token = issuer.token().sign().expect("token");
    let authed = tower::ServiceBuilder::new()
        .layer(BearerLayer::new(StaticToken::new(token)))
        .service(channel.clone());
    HealthClient::new(authed)
        .check(HealthCheckRequest::default())
        .await
        .expect("authenticated call");
    let refused = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
}
