//! Readiness over HTTP on 127.0.0.1 (issue 15, item 3): the `jwt_api` example's `/readyz`
//! follows its provider (503 while the keys cannot be loaded, 200 once held, 503 again past the
//! stale limit, 200 when the provider is back); a check never fetches more than the verifier's
//! own intervals allow; `MultiIssuer` is ready only when every issuer is.

mod common;

use std::time::Duration;

use common::{Answer, Example, get_with};
use serde_json::Value;
use tower_authz::{
    AudienceCheck, ClientAuth, IntrospectionVerifier, JwksVerifier, MultiIssuer, ReadinessCheck,
};
use tower_authz_dev::DevIssuer;

/// Polls `url` until it answers `status` (within 60 s; polling, not a timing assertion).
async fn poll_until(url: &str, status: u16) -> Answer {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = get_with(url, None).await;
        if answer.status.as_u16() == status {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never answered {status}; last: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `jwt_api` verifying tokens of `issuer` (audience `my-api`), with `extra` flags.
fn jwt_api_against(issuer: &DevIssuer, extra: &[&str]) -> Example {
    let mut args = vec![
        "--port",
        "0",
        "--issuer",
        issuer.issuer(),
        "--audience",
        "my-api",
    ];
    args.extend(extra);
    Example::start("jwt_api", &args)
}

fn body(answer: &Answer) -> Value {
    serde_json::from_str(&answer.body).expect("a JSON body")
}

#[tokio::test]
async fn jwt_api_readiness_flips_with_the_provider() {
    let issuer = DevIssuer::start().await.expect("issuer");
    // Down from the start: the example starts anyway (lazy), and is not ready.
    issuer.set_available(false);
    let mut example = jwt_api_against(&issuer, &["--refresh-interval", "1", "--max-stale", "1"]);
    let base = example.wait_for("jwt_api listening on ");
    let readyz = example.wait_for("readiness: ");
    assert_eq!(readyz, format!("{base}/readyz"));

    let not_loaded = poll_until(&readyz, 503).await;
    let status = body(&not_loaded);
    assert_eq!(status["ready"], false, "{status}");
    let jwks = &status["verifiers"][0];
    assert_eq!(jwks["verifier"], "jwks");
    assert_eq!(jwks["issuer"], issuer.issuer());
    assert_eq!(jwks["keys"], 0);

    // The provider comes up: ready with no token ever sent (the probe started the fetch).
    issuer.set_available(true);
    let ready = poll_until(&readyz, 200).await;
    let status = body(&ready);
    assert_eq!(status["ready"], true, "{status}");
    let jwks = &status["verifiers"][0];
    assert!(
        jwks["keys"].as_u64().is_some_and(|keys| keys > 0),
        "{status}"
    );
    assert_eq!(jwks["last_fetch"]["ok"], true, "{status}");
    assert!(ready.body.len() < 1024, "a short body: {}", ready.body);
    let token = issuer.token().audience("my-api").sign().expect("token");
    let ok = get_with(&format!("{base}/whoami"), Some(&token)).await;
    assert_eq!(ok.status, 200, "{ok:?}");

    // The provider goes away: past the stale limit, not ready, and requests get 503 too.
    issuer.set_available(false);
    let stale = poll_until(&readyz, 503).await;
    let status = body(&stale);
    let jwks = &status["verifiers"][0];
    assert_eq!(jwks["ready"], false, "{status}");
    assert!(
        jwks["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("stale limit")),
        "{status}"
    );
    assert!(
        jwks["keys"].as_u64().is_some_and(|keys| keys > 0),
        "{status}"
    );
    assert_eq!(jwks["last_fetch"]["ok"], false, "{status}");
    assert_eq!(
        jwks["last_fetch"]["error"], "the identity provider answered with an error",
        "{status}"
    );
    let refused = get_with(&format!("{base}/whoami"), Some(&token)).await;
    assert_eq!(refused.status, 503, "{refused:?}");

    // Back: ready again, and the token passes.
    issuer.set_available(true);
    poll_until(&readyz, 200).await;
    let ok = get_with(&format!("{base}/whoami"), Some(&token)).await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[tokio::test]
async fn readyz_needs_no_token_and_is_not_cached() {
    let mut example = Example::start("jwt_api", &["--port", "0"]);
    let readyz = example.wait_for("readiness: ");
    poll_until(&readyz, 200).await;
    let response = common::client()
        .get(&readyz)
        .header("authorization", "Bearer garbage")
        .send()
        .await
        .expect("request");
    // Not behind the auth layer: even a bad token is not looked at.
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["content-type"], "application/json");
}

#[test]
fn jwt_api_fail_fast_exits_when_the_keys_cannot_be_loaded() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let issuer = runtime.block_on(DevIssuer::start()).expect("issuer");
    issuer.set_available(false);
    let example = jwt_api_against(&issuer, &["--fail-fast"]);
    let (output, status) = example.finish();
    assert!(!status.success(), "{output:?}");
    assert!(
        !output
            .iter()
            .any(|line| line.starts_with("jwt_api listening")),
        "{output:?}"
    );
}

/// Waits until the first key fetch of each of `check`'s JWKS verifiers has ended.
async fn first_fetch_ended(check: &ReadinessCheck) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while check
        .check()
        .statuses()
        .iter()
        .any(|status| status.verifier == "jwks" && status.last_fetch.is_none())
    {
        assert!(tokio::time::Instant::now() < deadline, "no fetch ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn checks_never_fetch_more_than_the_verifier_would() {
    let issuer = DevIssuer::start().await.expect("issuer");
    issuer.set_available(false);
    // Default intervals: 5 s between attempts while no keys are held.
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let readiness = verifier.readiness();
    first_fetch_ended(&readiness).await;
    let report = readiness.check();
    let status = &report.statuses()[0];
    assert!(!status.is_ready());
    assert_eq!(
        status.last_fetch.and_then(|fetch| fetch.error),
        Some("the identity provider answered with an error")
    );
    assert!(status.next_attempt.is_some(), "{status:?}");
    // A probe storm: each check answers at once, and none fetches again.
    for _ in 0..200 {
        assert!(!readiness.check().is_ready());
    }
    assert_eq!(issuer.discovery_requests(), 1);
    assert_eq!(issuer.jwks_requests(), 0);
}

#[tokio::test]
async fn multi_issuer_is_ready_when_every_issuer_is() {
    let up = DevIssuer::start().await.expect("issuer");
    let down = DevIssuer::start().await.expect("issuer");
    down.set_available(false);
    let verifier = MultiIssuer::new()
        .with_issuer(
            up.issuer(),
            JwksVerifier::discover(up.issuer(), "dev-api").expect("verifier"),
        )
        .with_issuer(
            down.issuer(),
            JwksVerifier::discover(down.issuer(), "dev-api").expect("verifier"),
        )
        .with_fallback(
            IntrospectionVerifier::new(
                up.issuer(),
                format!("{}/oauth/v2/introspect", up.issuer()),
                ClientAuth::basic("api", "secret"),
                AudienceCheck::left_to_provider(),
            )
            .expect("verifier"),
        );
    let readiness = verifier.readiness();
    first_fetch_ended(&readiness).await;
    let report = readiness.check();
    let by_issuer = |issuer: &str, kind: &str| {
        report
            .statuses()
            .iter()
            .find(|status| status.issuer == issuer && status.verifier == kind)
            .unwrap_or_else(|| panic!("{issuer} {kind}: {report:?}"))
            .clone()
    };
    assert_eq!(report.statuses().len(), 3, "{report:?}");
    assert!(by_issuer(up.issuer(), "jwks").is_ready());
    assert!(by_issuer(up.issuer(), "jwks").keys > 0);
    // A fixed introspection endpoint is known: ready.
    assert!(by_issuer(up.issuer(), "introspection").is_ready());
    assert!(!by_issuer(down.issuer(), "jwks").is_ready());
    assert!(!report.is_ready());

    down.set_available(true);
    // The next attempt is the verifier's own retry, started by a later check.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !readiness.check().is_ready() {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
