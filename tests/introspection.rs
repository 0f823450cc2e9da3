//! `IntrospectionVerifier` against the development issuer's RFC 7662 endpoint, over HTTP on
//! 127.0.0.1: each client-authentication method, the cache, revocation, a provider that goes
//! down and comes back, and JWTs and opaque tokens behind one layer.

mod common;

use std::time::Duration;

use common::TestApp;
use tower_authz::{
    ApplicationKey, AudienceCheck, AuthErrorKind, AuthLayer, ClientAuth, IntrospectionVerifier,
    JwksVerifier, MultiIssuer, RoleSource, Verifier,
};
use tower_authz_dev::DevIssuer;

struct Setup {
    issuer: DevIssuer,
    _dir: TempDir,
    key: ApplicationKey,
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn setup() -> Setup {
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = std::env::temp_dir().join(format!(
        "tower-authz-introspection-{}-{}",
        std::process::id(),
        issuer.addr().port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("api-key.json");
    issuer.write_api_key_file(&path).expect("key file");
    let key = ApplicationKey::from_file(&path).expect("key file parses");
    issuer.add_client(tower_authz_dev::DevClient::new("api-basic", "basic-secret"));
    Setup {
        issuer,
        _dir: TempDir(dir),
        key,
    }
}

/// The development issuer checks the audience as ZITADEL does (`active: false` for a token
/// whose `aud` has neither the API's client id nor its project id).
fn verifier(setup: &Setup) -> IntrospectionVerifier {
    verifier_for(setup, AudienceCheck::left_to_provider())
}

fn verifier_for(setup: &Setup, audience: AudienceCheck) -> IntrospectionVerifier {
    IntrospectionVerifier::discover(
        setup.issuer.issuer(),
        ClientAuth::private_key_jwt(setup.key.clone()),
        audience,
    )
    .expect("verifier")
    .with_role_source(RoleSource::zitadel())
}

#[tokio::test]
async fn each_client_authentication_method() {
    let s = setup().await;
    let token = s
        .issuer
        .opaque_token()
        .subject("alice")
        .roles(["admin"])
        .issue();
    let methods = [
        ClientAuth::private_key_jwt(s.key.clone()),
        ClientAuth::basic("api-basic", "basic-secret"),
        ClientAuth::post("api-basic", "basic-secret"),
    ];
    for auth in methods {
        let described = format!("{auth:?}");
        let verifier = IntrospectionVerifier::discover(s.issuer.issuer(), auth, "dev-api")
            .expect("verifier")
            .with_role_source(RoleSource::zitadel());
        let claims = verifier.verify(&token).await.expect(&described);
        assert_eq!(claims.subject(), Some("alice"), "{described}");
        assert!(claims.has_role("admin"), "{described}");
        assert!(!described.contains("basic-secret"));
    }
    // A rejected secret is the provider refusing us: 503, not the caller's fault.
    let wrong = IntrospectionVerifier::discover(
        s.issuer.issuer(),
        ClientAuth::basic("api-basic", "wrong"),
        "dev-api",
    )
    .expect("verifier");
    let error = wrong.verify(&token).await.expect_err("bad secret");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
}

#[tokio::test]
async fn inactive_expired_and_wrong_audience_tokens_are_refused() {
    let s = setup().await;
    let v = verifier_for(&s, "dev-api".into());
    let expired = s.issuer.opaque_token().expired().issue();
    assert_eq!(
        v.verify(&expired).await.expect_err("expired").kind(),
        AuthErrorKind::InvalidToken
    );
    assert_eq!(
        v.verify("no-such-token").await.expect_err("unknown").kind(),
        AuthErrorKind::InvalidToken
    );
    let other = s
        .issuer
        .opaque_token()
        .audiences([tower_authz_dev::DEV_PROJECT_ID, "another-api"])
        .issue();
    assert_eq!(
        v.verify(&other).await.expect_err("audience").kind(),
        AuthErrorKind::InvalidToken
    );
    let ok = s.issuer.opaque_token().issue();
    assert!(v.verify(&ok).await.is_ok());
}

#[tokio::test]
async fn left_to_the_provider_a_token_of_another_project_is_inactive() {
    // What the ZITADEL examples rely on: the development issuer, like ZITADEL, answers
    // `active: false` for a token whose audience has neither the API's client id nor its
    // project id, so `AudienceCheck::left_to_provider()` still refuses it.
    let s = setup().await;
    let app = TestApp::start(AuthLayer::new(verifier(&s))).await;
    let other = s.issuer.opaque_token().audiences(["another-api"]).issue();
    app.get("/whoami", Some(&other))
        .await
        .assert_refused(401, "invalid_token");
    let ours = s.issuer.opaque_token().issue();
    assert_eq!(app.get("/whoami", Some(&ours)).await.status, 200);
}

#[tokio::test]
async fn a_personal_access_token_is_active_with_the_users_roles() {
    let s = setup().await;
    s.issuer.set_user_roles("machine-1", ["admin"]);
    let pat = s.issuer.personal_access_token("machine-1");
    let claims = verifier(&s).verify(&pat).await.expect("PAT");
    assert_eq!(claims.subject(), Some("machine-1"));
    assert!(claims.has_role("admin"));
    assert!(claims.has_audience(s.key.client_id()));
}

#[tokio::test]
async fn the_second_request_with_a_token_is_served_from_the_cache() {
    let s = setup().await;
    let v = verifier(&s);
    let token = s.issuer.opaque_token().issue();
    let before = s.issuer.introspection_requests();
    v.verify(&token).await.expect("first");
    v.verify(&token).await.expect("second");
    v.verify(&token).await.expect("third");
    assert_eq!(s.issuer.introspection_requests() - before, 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_fresh_token_make_one_call() {
    let s = setup().await;
    let app = TestApp::start(AuthLayer::new(verifier(&s))).await;
    let token = s.issuer.opaque_token().issue();
    let before = s.issuer.introspection_requests();
    let requests = (0..200).map(|_| app.get("/whoami", Some(&token)));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(s.issuer.introspection_requests() - before, 1);
}

#[tokio::test]
async fn a_flood_of_inactive_tokens_is_not_amplified() {
    let s = setup().await;
    let v = verifier(&s).with_negative_cache(Duration::from_millis(500), 1000);
    let before = s.issuer.introspection_requests();
    for round in 0..3 {
        for i in 0..10 {
            let error = v.verify(&format!("bogus-{i}")).await.expect_err("inactive");
            assert_eq!(error.kind(), AuthErrorKind::InvalidToken, "round {round}");
        }
    }
    assert_eq!(
        s.issuer.introspection_requests() - before,
        10,
        "one call per token per negative TTL"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    v.verify("bogus-0").await.expect_err("inactive");
    assert_eq!(s.issuer.introspection_requests() - before, 11);
}

#[tokio::test]
async fn revocation_is_seen_once_the_cache_entry_expires() {
    let s = setup().await;
    let v = verifier(&s).with_cache(Duration::from_millis(300), 1000);
    let token = s.issuer.opaque_token().issue();
    v.verify(&token).await.expect("active");
    assert!(s.issuer.revoke(&token));
    // Within the cache lifetime the answer is still the cached one...
    v.verify(&token).await.expect("cached");
    tokio::time::sleep(Duration::from_millis(400)).await;
    // ...and after it, the provider's.
    let error = v.verify(&token).await.expect_err("revoked");
    assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
}

#[tokio::test]
async fn a_token_is_never_cached_past_its_exp() {
    let s = setup().await;
    let v = verifier(&s);
    let token = s
        .issuer
        .opaque_token()
        .lifetime(Duration::from_secs(2))
        .issue();
    v.verify(&token).await.expect("active");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let error = v.verify(&token).await.expect_err("expired");
    assert!(matches!(
        error.kind(),
        AuthErrorKind::InvalidToken | AuthErrorKind::Expired
    ));
}

#[tokio::test]
async fn provider_down_is_503_and_never_cached_then_recovers() {
    let s = setup().await;
    let app = TestApp::start(AuthLayer::new(verifier(&s))).await;
    let token = s.issuer.opaque_token().issue();
    // Discover first, then take the provider down.
    assert_eq!(
        app.get("/whoami", Some(&s.issuer.opaque_token().issue()))
            .await
            .status,
        200
    );
    s.issuer.set_available(false);
    for _ in 0..2 {
        let answer = app.get("/whoami", Some(&token)).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(answer.retry_after.is_some());
    }
    s.issuer.set_available(true);
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(app.hits(), 2);
}

#[tokio::test]
async fn a_timeout_is_503() {
    let s = setup().await;
    let v = verifier(&s)
        .with_timeout(Duration::from_millis(300))
        .expect("timeout");
    let token = s.issuer.opaque_token().issue();
    v.verify(&s.issuer.opaque_token().issue())
        .await
        .expect("discovered");
    s.issuer.set_response_delay(Some(Duration::from_secs(2)));
    let started = std::time::Instant::now();
    let error = v.verify(&token).await.expect_err("timeout");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);
    assert!(started.elapsed() < Duration::from_secs(2));
    s.issuer.set_response_delay(None);
    assert!(v.verify(&token).await.is_ok(), "a timeout is not cached");
}

#[tokio::test]
async fn jwts_are_verified_locally_and_opaque_tokens_introspected() {
    let s = setup().await;
    let issuer = s.issuer.issuer().to_owned();
    let verifier = MultiIssuer::new()
        .with_issuer(
            &issuer,
            JwksVerifier::discover(&issuer, "dev-api").expect("jwks"),
        )
        .with_fallback(verifier(&s));
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let before = s.issuer.introspection_requests();
    let jwt = s.issuer.token().sign().expect("jwt");
    assert_eq!(app.get("/whoami", Some(&jwt)).await.status, 200);
    assert_eq!(
        s.issuer.introspection_requests(),
        before,
        "a JWT of a known issuer is not introspected"
    );
    let opaque = s.issuer.opaque_token().issue();
    let answer = app.get("/whoami", Some(&opaque)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(s.issuer.introspection_requests(), before + 1);
    // A forged JWT of the known issuer is refused locally, not sent to introspection.
    let forged = format!("{}x", jwt);
    app.get("/whoami", Some(&forged))
        .await
        .assert_refused(401, "invalid_token");
    assert_eq!(s.issuer.introspection_requests(), before + 1);
}
