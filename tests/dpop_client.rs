//! The client side of DPoP (RFC 9449) over HTTP on 127.0.0.1: token providers get DPoP-bound
//! tokens from the development issuer (JWT and opaque, client credentials and jwt-bearer, with
//! and without its nonce), the issuer refuses bad proofs, a Bearer answer to a DPoP request is a
//! typed error, and the reqwest helper sends every call with a fresh proof and retries a nonce.

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tower_authz::client::{
    ClientCredentials, DpopKey, JwtBearer, RequestBuilderExt, TokenErrorKind, TokenProvider,
    zitadel_audience_scope,
};
use tower_authz::{ClientAuth, JwksVerifier, ServiceAccountKey, Verifier};
use tower_authz_dev::{DEV_PROJECT_ID, DevClient, DevIssuer};

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
}

fn sha256_b64(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        value.as_bytes(),
    ))
}

/// The development issuer with a client `daemon` (JWT access tokens), a new key, and a
/// `ClientCredentials` of that client with DPoP.
async fn dpop_daemon() -> (DevIssuer, DpopKey, ClientCredentials) {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("daemon", "daemon-secret").jwt_access_tokens());
    let key = DpopKey::generate().expect("key");
    let tokens = ClientCredentials::discover(
        issuer.issuer(),
        ClientAuth::basic("daemon", "daemon-secret"),
    )
    .expect("provider")
    .with_dpop(key.clone());
    (issuer, key, tokens)
}

#[tokio::test]
async fn client_credentials_with_dpop_get_a_token_bound_to_the_key() {
    let (issuer, key, tokens) = dpop_daemon().await;
    let token = tokens.token().await.expect("a DPoP-bound token");
    assert_eq!(token.scheme(), "DPoP");
    assert_eq!(
        token.dpop_key().map(DpopKey::thumbprint),
        Some(key.thumbprint())
    );
    let claims = JwksVerifier::discover(issuer.issuer(), DEV_PROJECT_ID)
        .expect("verifier")
        .verify(token.as_str())
        .await
        .expect("a valid JWT");
    assert_eq!(claims.get("cnf"), Some(&json!({"jkt": key.thumbprint()})));

    // Without with_dpop: a Bearer token without cnf.
    let bearer = ClientCredentials::discover(
        issuer.issuer(),
        ClientAuth::basic("daemon", "daemon-secret"),
    )
    .expect("provider")
    .token()
    .await
    .expect("token");
    assert_eq!(bearer.scheme(), "Bearer");
    assert!(payload(bearer.as_str()).get("cnf").is_none());
}

#[tokio::test]
async fn the_nonce_is_retried_once_and_remembered_for_the_next_request() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("daemon", "daemon-secret").jwt_access_tokens());
    issuer.require_dpop_nonce(true);
    let key = DpopKey::generate().expect("key");
    let provider = || {
        ClientCredentials::new(
            issuer.token_endpoint(),
            ClientAuth::post("daemon", "daemon-secret"),
        )
        .expect("provider")
        .with_dpop(key.clone())
    };
    let token = provider()
        .token()
        .await
        .expect("a token after the nonce retry");
    assert_eq!(payload(token.as_str())["cnf"]["jkt"], key.thumbprint());
    assert_eq!(issuer.token_requests(), 2, "use_dpop_nonce, then the token");
    provider().token().await.expect("token");
    assert_eq!(issuer.token_requests(), 3, "the nonce was remembered");
}

#[tokio::test]
async fn opaque_and_jwt_bearer_tokens_are_bound_in_introspection() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("daemon", "daemon-secret"));
    let dir = std::env::temp_dir().join(format!("tower-authz-dpop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let account = issuer
        .write_service_account_key_file(&dir.join("sa.json"), "machine-1")
        .expect("key file");
    let key = DpopKey::generate().expect("key");
    let opaque = ClientCredentials::discover(
        issuer.issuer(),
        ClientAuth::basic("daemon", "daemon-secret"),
    )
    .expect("provider")
    .with_dpop(key.clone())
    .token()
    .await
    .expect("opaque token");
    let service_account = JwtBearer::discover(
        issuer.issuer(),
        ServiceAccountKey::from_file(&account.path).expect("key file"),
    )
    .expect("provider")
    .with_scope(zitadel_audience_scope(DEV_PROJECT_ID))
    .with_dpop(key.clone())
    .token()
    .await
    .expect("jwt-bearer token");
    let _ = std::fs::remove_dir_all(&dir);
    for token in [opaque, service_account] {
        assert_eq!(token.scheme(), "DPoP");
        let answer = common::introspect(
            &issuer.introspection_endpoint(),
            "daemon",
            "daemon-secret",
            token.as_str(),
        )
        .await;
        assert_eq!(answer["active"], true);
        assert_eq!(answer["cnf"]["jkt"], key.thumbprint());
    }
}

#[tokio::test]
async fn the_dev_issuer_refuses_bad_proofs() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(DevClient::new("daemon", "daemon-secret"));
    let key = DpopKey::generate().expect("key");
    let endpoint = issuer.token_endpoint();
    let ask = |proof: String| {
        common::client()
            .post(issuer.token_endpoint())
            .basic_auth("daemon", Some("daemon-secret"))
            .header("dpop", proof)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let good = key.proof("POST", &endpoint, None, None).expect("proof");
    let answer = ask(good.clone()).await.expect("answer");
    assert_eq!(answer.status(), 200);
    let replayed = ask(good).await.expect("answer");
    let other_endpoint = format!("{}/elsewhere", issuer.issuer());
    let cases = [
        ("replayed", replayed),
        (
            "htm GET",
            ask(key.proof("GET", &endpoint, None, None).expect("proof"))
                .await
                .expect("answer"),
        ),
        (
            "another htu",
            ask(key
                .proof("POST", &other_endpoint, None, None)
                .expect("proof"))
            .await
            .expect("answer"),
        ),
        ("not a JWT", ask("x.y.z".into()).await.expect("answer")),
    ];
    for (case, answer) in cases {
        assert_eq!(answer.status(), 400, "{case}");
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["error"], "invalid_dpop_proof", "{case}");
    }
    let metadata: Value = common::client()
        .get(format!(
            "{}/.well-known/openid-configuration",
            issuer.issuer()
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256"])
    );
}

#[tokio::test]
async fn a_bearer_answer_to_a_dpop_request_is_a_typed_error() {
    let router = axum::Router::new().route(
        "/token",
        post(|| async { Json(json!({"access_token": "t", "token_type": "Bearer"})) }),
    );
    let (base, _task) = common::serve(router).await;
    let error = ClientCredentials::new(format!("{base}/token"), ClientAuth::post("c", "s"))
        .expect("provider")
        .with_dpop(DpopKey::generate().expect("key"))
        .token()
        .await
        .expect_err("a Bearer token");
    assert_eq!(error.kind(), TokenErrorKind::NotDpopBound);
}

/// An API that wants a nonce in the proof, and records what it was sent.
async fn nonce_api() -> (
    String,
    Arc<Mutex<Vec<HeaderMap>>>,
    tokio::task::JoinHandle<()>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let router = axum::Router::new().route(
        "/todos",
        get(move |headers: HeaderMap| {
            let record = Arc::clone(&record);
            async move {
                let proof = headers
                    .get("dpop")
                    .and_then(|p| p.to_str().ok())
                    .map(payload)
                    .unwrap_or_default();
                record.lock().expect("lock").push(headers);
                if proof["nonce"] == "api-nonce" {
                    return (StatusCode::OK, "todos").into_response();
                }
                (
                    StatusCode::UNAUTHORIZED,
                    [
                        ("www-authenticate", r#"DPoP error="use_dpop_nonce""#),
                        ("dpop-nonce", "api-nonce"),
                    ],
                )
                    .into_response()
            }
        }),
    );
    let (base, task) = common::serve(router).await;
    (base, seen, task)
}

#[tokio::test]
async fn reqwest_sends_fresh_proofs_and_retries_the_api_nonce() {
    let (_issuer, _key, tokens) = dpop_daemon().await;
    let (base, seen, _task) = nonce_api().await;
    let url = format!("{base}/todos?page=2");
    let answer = common::client()
        .get(&url)
        .send_with(&tokens)
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200, "retried with the API's nonce");
    let again = common::client()
        .get(&url)
        .send_with(&tokens)
        .await
        .expect("answer");
    assert_eq!(again.status(), 200);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "one retry, then the remembered nonce");
    let token = tokens.token().await.expect("token");
    let mut jtis = Vec::new();
    for headers in &seen {
        assert_eq!(
            headers["authorization"].to_str().expect("ascii"),
            format!("DPoP {}", token.as_str())
        );
        let proof = headers["dpop"].to_str().expect("ascii");
        let claims = payload(proof);
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], format!("{base}/todos"));
        assert_eq!(claims["ath"], sha256_b64(token.as_str()));
        jtis.push(claims["jti"].clone());
    }
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "a fresh proof per request");

    // bearer_from: the same headers, no retry.
    let (base, seen, _task) = nonce_api().await;
    let answer = common::client()
        .get(format!("{base}/todos"))
        .bearer_from(&tokens)
        .await
        .expect("token")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 401);
    assert!(seen.lock().expect("lock")[0].contains_key("dpop"));
}
