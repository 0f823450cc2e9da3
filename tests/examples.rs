//! The examples, built by `cargo test` and driven over HTTP on 127.0.0.1.

mod common;

use common::{Example, get_with};
use tower_authz_dev::DevIssuer;

#[tokio::test]
async fn jwt_api_on_the_development_issuer() {
    let mut example = Example::start("jwt_api", &["--port", "0"]);
    let base = example.wait_for("jwt_api listening on ");
    let user = example.wait_for("export USER_TOKEN=");
    let admin = example.wait_for("export ADMIN_TOKEN=");

    let whoami = get_with(&format!("{base}/whoami"), Some(&user)).await;
    assert_eq!(whoami.status, 200, "{whoami:?}");
    let claims: serde_json::Value = serde_json::from_str(&whoami.body).expect("json");
    assert_eq!(claims["sub"], "dev-user");

    get_with(&format!("{base}/admin"), Some(&user))
        .await
        .assert_refused(403, "insufficient_scope");
    let ok = get_with(&format!("{base}/admin"), Some(&admin)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.body.contains("hello, admin"));

    let anonymous = get_with(&format!("{base}/whoami"), None).await;
    assert_eq!(anonymous.status, 401);
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource");
    assert_eq!(
        anonymous.challenge,
        Some(format!("Bearer resource_metadata=\"{metadata_url}\"")),
    );
    get_with(&format!("{base}/whoami"), Some("garbage.token.here"))
        .await
        .assert_refused(401, "invalid_token");
}

/// `GET url` with `Authorization: DPoP token` and one `DPoP` header: status and challenge.
async fn dpop_get(url: &str, token: &str, proof: &str) -> (u16, String) {
    let reply = common::dpop::send("DPoP", url, token, &[proof], &[]).await;
    (reply.status, reply.challenge)
}

#[tokio::test]
async fn jwt_api_with_dpop_required_on_the_development_issuer() {
    let mut example = Example::start("jwt_api", &["--port", "0", "--dpop", "required"]);
    let base = example.wait_for("jwt_api listening on ");
    let user = example.wait_for("export USER_TOKEN=");
    let token = example.wait_for("export DPOP_TOKEN=");
    let proof = example.wait_for("export DPOP_PROOF=");
    let whoami = format!("{base}/whoami");
    let metadata = format!("resource_metadata=\"{base}/.well-known/oauth-protected-resource\"");

    assert_eq!(dpop_get(&whoami, &token, &proof).await.0, 200);
    let (status, challenge) = dpop_get(&whoami, &token, &proof).await;
    assert_eq!(status, 401);
    assert!(
        challenge.starts_with(
            "DPoP algs=\"ES256 ES384 RS256 PS256 EdDSA\", error=\"invalid_dpop_proof\", error_description=\"the DPoP proof was used before (jti)\""
        ),
        "{challenge}"
    );
    assert!(challenge.ends_with(&metadata), "{challenge}");
    // A bearer token is refused with the DPoP challenge.
    let bearer = get_with(&whoami, Some(&user)).await;
    assert_eq!(bearer.status, 401);
    assert!(
        bearer
            .challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("DPoP algs=") && c.contains("error=\"invalid_token\"")),
        "{bearer:?}"
    );
}

#[tokio::test]
async fn jwt_api_with_dpop_allowed_and_a_public_url() {
    let args = [
        "--port",
        "0",
        "--dpop",
        "allowed",
        "--public-url",
        "https://api.example.com",
    ];
    let mut example = Example::start("jwt_api", &args);
    let base = example.wait_for("jwt_api listening on ");
    let user = example.wait_for("export USER_TOKEN=");
    let token = example.wait_for("export DPOP_TOKEN=");
    let proof = example.wait_for("export DPOP_PROOF=");
    let whoami = format!("{base}/whoami");
    // Bearer tokens that are not bound still pass; the printed proof names the local URL,
    // not the public one.
    assert_eq!(get_with(&whoami, Some(&user)).await.status, 200);
    let (status, challenge) = dpop_get(&whoami, &token, &proof).await;
    assert_eq!(status, 401);
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("another URL (htu)"), "{challenge}");
    // The bound token as a bearer token.
    let bound = get_with(&whoami, Some(&token)).await;
    assert_eq!(bound.status, 401);
    assert!(
        bound.challenge.as_deref().is_some_and(
            |c| c.starts_with("Bearer error=\"invalid_token\"") && c.contains("DPoP algs=")
        ),
        "{bound:?}"
    );
}

#[tokio::test]
async fn jwt_api_serves_its_protected_resource_metadata() {
    let mut example = Example::start("jwt_api", &["--port", "0"]);
    let base = example.wait_for("jwt_api listening on ");
    let metadata_url = example.wait_for("resource metadata: ");
    assert_eq!(
        metadata_url,
        format!("{base}/.well-known/oauth-protected-resource")
    );
    let issuer = example.wait_for("development issuer: ");

    // Served without a token, as JSON naming this resource and its authorization server.
    let document = get_with(&metadata_url, None).await;
    assert_eq!(document.status, 200, "{document:?}");
    let document: serde_json::Value = serde_json::from_str(&document.body).expect("json");
    assert_eq!(document["resource"], base.as_str());
    assert_eq!(
        document["authorization_servers"],
        serde_json::json!([issuer])
    );
    assert_eq!(
        document["bearer_methods_supported"],
        serde_json::json!(["header"])
    );

    // Every 401 challenge points at it, the invalid_token ones too.
    let refused = get_with(&format!("{base}/admin"), Some("garbage.token.here")).await;
    refused.assert_refused(401, "invalid_token");
    let challenge = refused.challenge.unwrap_or_default();
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
}

#[tokio::test]
async fn jwt_api_with_an_algorithm_allow_list() {
    let mut example = Example::start("jwt_api", &["--port", "0", "--algorithms", "ES256"]);
    let base = example.wait_for("jwt_api listening on ");
    let rs256_user = example.wait_for("export USER_TOKEN=");
    let es256_user = example.wait_for("export ES256_USER_TOKEN=");

    get_with(&format!("{base}/whoami"), Some(&rs256_user))
        .await
        .assert_refused(401, "invalid_token");
    let ok = get_with(&format!("{base}/whoami"), Some(&es256_user)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let claims: serde_json::Value = serde_json::from_str(&ok.body).expect("json");
    assert_eq!(claims["sub"], "dev-user");

    // Several names, comma-separated: both tokens pass.
    let mut example = Example::start("jwt_api", &["--port", "0", "--algorithms", "RS256,ES256"]);
    let base = example.wait_for("jwt_api listening on ");
    for token in [
        example.wait_for("export USER_TOKEN="),
        example.wait_for("export ES256_USER_TOKEN="),
    ] {
        let ok = get_with(&format!("{base}/whoami"), Some(&token)).await;
        assert_eq!(ok.status, 200, "{ok:?}");
    }
}

#[test]
fn jwt_api_refuses_unknown_algorithm_names() {
    for names in ["ES256,XX256", "none", "es256", ""] {
        let example = Example::start("jwt_api", &["--port", "0", "--algorithms", names]);
        let (output, status) = example.finish();
        // A clap usage error (exit code 2), before anything listens.
        assert_eq!(status.code(), Some(2), "--algorithms {names:?}: {output:?}");
        assert!(output.is_empty(), "{output:?}");
    }
}

#[tokio::test]
async fn jwt_api_against_an_external_issuer_with_flags() {
    // An issuer the example did not start stands in for a real provider.
    let issuer = DevIssuer::start().await.expect("issuer");
    let jwks_uri = issuer.jwks_uri();
    for extra in [vec![], vec!["--jwks-uri", jwks_uri.as_str()]] {
        let mut args = vec![
            "--port",
            "0",
            "--issuer",
            issuer.issuer(),
            "--audience",
            "my-api",
            "--roles-claim",
            "/app/roles",
        ];
        args.extend(extra);
        let mut example = Example::start("jwt_api", &args);
        let base = example.wait_for("jwt_api listening on ");

        let admin = issuer
            .token()
            .audience("my-api")
            .claim("app", serde_json::json!({"roles": ["admin"]}))
            .sign()
            .expect("token");
        let ok = get_with(&format!("{base}/admin"), Some(&admin)).await;
        assert_eq!(ok.status, 200, "{ok:?}");

        let other_audience = issuer.token().sign().expect("token");
        get_with(&format!("{base}/whoami"), Some(&other_audience))
            .await
            .assert_refused(401, "invalid_token");
    }
}

#[test]
fn jwt_api_requires_an_audience_with_an_issuer() {
    let example = Example::start(
        "jwt_api",
        &["--port", "0", "--issuer", "http://127.0.0.1:1"],
    );
    let (_, status) = example.finish();
    assert!(!status.success());
}

#[test]
fn jwt_api_refuses_a_plain_http_issuer_on_another_host() {
    // Fails at startup, before any request (nothing is sent to the host).
    let mut child = std::process::Command::new(common::example_binary("jwt_api"))
        .args([
            "--port",
            "0",
            "--issuer",
            "http://idp.example.com",
            "--audience",
            "api",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start example");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("jwt_api started with a plain http issuer");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    assert!(!status.success());
    assert!(stderr.contains("InsecureUrl"), "{stderr}");
    assert!(
        stderr.contains("ProviderUrl::allow_insecure_http"),
        "{stderr}"
    );
}

#[tokio::test]
async fn dpop_client_on_the_development_issuer() {
    let mut example = Example::start("dpop_client", &["--calls", "3"]);
    let thumbprint = example.wait_for("DPoP key: ES256, thumbprint ").to_owned();
    assert!(
        example
            .wait_for("API: ")
            .ends_with("(DPoP required, with server nonces)")
    );
    let token = example.wait_for("token: ");
    assert_eq!(token, format!("DPoP, cnf.jkt {thumbprint}"));
    // The first call is answered use_dpop_nonce by the layer and retried with the nonce (a
    // failed call would end the example): each answer is the claims the layer verified.
    for call in 1..=3 {
        let answer = example.wait_for(&format!("call {call}: "));
        let (status, body) = answer.split_once(' ').expect("status and body");
        assert_eq!(status, "200", "{answer}");
        let claims: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(claims["cnf"]["jkt"], thumbprint.as_str());
        assert!(
            claims["aud"]
                .as_array()
                .is_some_and(|aud| aud.contains(&"dev-api".into())),
            "{claims}"
        );
    }
    let (_, status) = example.finish();
    assert!(status.success());
}

// Multi-threaded: the test's issuer and API answer while the test waits for the example.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_client_against_another_provider_with_flags() {
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};

    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(tower_authz_dev::DevClient::new(
        "flag-daemon",
        "flag-secret",
    ));
    // The token endpoint wants its nonce too.
    issuer.require_dpop_nonce(true);
    let seen = Arc::new(Mutex::new(Vec::<HeaderMap>::new()));
    let record = Arc::clone(&seen);
    let api = axum::Router::new().route(
        "/api",
        axum::routing::get(move |headers: HeaderMap| {
            record.lock().expect("lock").push(headers);
            async { "ok" }
        }),
    );
    let (base, _task) = common::serve(api).await;
    let api_url = format!("{base}/api");
    let mut example = Example::start(
        "dpop_client",
        &[
            "--issuer",
            issuer.issuer(),
            "--client-id",
            "flag-daemon",
            "--client-secret",
            "flag-secret",
            "--api-url",
            &api_url,
        ],
    );
    let token = example.wait_for("token: ");
    assert!(
        token.starts_with("DPoP, cnf.jkt unknown"),
        "opaque: {token}"
    );
    assert_eq!(example.wait_for("call 2: "), "200 ok");
    let (_, status) = example.finish();
    assert!(status.success());
    assert_eq!(issuer.token_requests(), 2, "use_dpop_nonce, then the token");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    for headers in &seen {
        let authorization = headers["authorization"].to_str().expect("ascii");
        assert!(authorization.starts_with("DPoP "), "{authorization}");
        assert!(headers.contains_key("dpop"));
    }
    assert_ne!(seen[0]["dpop"], seen[1]["dpop"], "a fresh proof per call");
}

// Multi-threaded: the test's issuer answers while the test waits for the examples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_client_calls_jwt_api_with_dpop_required() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.add_client(
        tower_authz_dev::DevClient::new("api-daemon", "api-secret").jwt_access_tokens(),
    );
    let mut api = Example::start(
        "jwt_api",
        &[
            "--port",
            "0",
            "--issuer",
            issuer.issuer(),
            "--audience",
            "dev-api",
            "--dpop",
            "required",
        ],
    );
    let base = api.wait_for("jwt_api listening on ");
    let whoami = format!("{base}/whoami");
    let mut client = Example::start(
        "dpop_client",
        &[
            "--issuer",
            issuer.issuer(),
            "--client-id",
            "api-daemon",
            "--client-secret",
            "api-secret",
            "--resource",
            "dev-api",
            "--api-url",
            &whoami,
            "--calls",
            "2",
        ],
    );
    let thumbprint = client.wait_for("DPoP key: ES256, thumbprint ").to_owned();
    assert_eq!(
        client.wait_for("token: "),
        format!("DPoP, cnf.jkt {thumbprint}")
    );
    for call in 1..=2 {
        let answer = client.wait_for(&format!("call {call}: "));
        let (status, body) = answer.split_once(' ').expect("status and body");
        assert_eq!(status, "200", "{answer}");
        let claims: serde_json::Value = serde_json::from_str(body).expect("claims");
        assert_eq!(claims["cnf"]["jkt"], thumbprint.as_str());
    }
    let (_, status) = client.finish();
    assert!(status.success());
}
