//! The examples, built by `cargo test` and driven over HTTP on 127.0.0.1.
#![cfg(feature = "dev")]

mod common;

use common::{Example, get_with};
use tower_authz::DevIssuer;

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
    assert_eq!(anonymous.challenge.as_deref(), Some("Bearer"));
    get_with(&format!("{base}/whoami"), Some("garbage.token.here"))
        .await
        .assert_refused(401, "invalid_token");
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
