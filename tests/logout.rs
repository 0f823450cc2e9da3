//! Logout and revocation on one replica, over real HTTP on 127.0.0.1: the development issuer
//! sends OpenID Connect back-channel logout tokens to our `BackChannelLogout` endpoint, and the
//! API behind `Revocable` refuses the tokens of what was logged out; the service's own revoke
//! calls; every way a logout token is refused.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use common::{Answer, client, get_with, serve};
use http::HeaderMap;
use serde_json::{Value, json};
use tower_authz::{
    ApplicationKey, AudienceCheck, AuthLayer, Claims, ClientAuth, IntrospectionVerifier,
    JwksVerifier, Revocable, Revocations, RoleSource,
};
use tower_authz::{BackChannelLogout, Verifier};
use tower_authz_dev::DevIssuer;

/// The client id the logout tokens are addressed to.
const CLIENT: &str = "orders-web";

struct Service {
    base: String,
    revocations: Revocations,
    _task: tokio::task::JoinHandle<()>,
}

impl Service {
    async fn get(&self, token: &str) -> Answer {
        get_with(&format!("{}/whoami", self.base), Some(token)).await
    }

    fn logout_uri(&self) -> String {
        format!("{}/backchannel-logout", self.base)
    }

    /// Posts `form` to the logout endpoint: status and body.
    async fn post_logout(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = client()
            .post(self.logout_uri())
            .form(form)
            .send()
            .await
            .expect("logout request");
        let status = response.status().as_u16();
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store")
        );
        let body = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// The API (`/whoami`, `/logout` revoking the caller's token, `/logout-everywhere` revoking
/// the caller) behind `Revocable::new(verifier)`, and the back-channel logout endpoint.
async fn service(issuer: &DevIssuer, verifier: impl Verifier) -> Service {
    let revocations = Revocations::new();
    let logout = BackChannelLogout::new(
        JwksVerifier::discover(issuer.issuer(), CLIENT).expect("logout keys"),
        revocations.clone(),
    );
    let own = revocations.clone();
    let everywhere = revocations.clone();
    let router = Router::new()
        .route(
            "/whoami",
            get(|claims: Claims| async move { claims.subject().unwrap_or_default().to_owned() }),
        )
        .route(
            "/logout",
            post(move |claims: Claims, headers: HeaderMap| async move {
                let token = bearer(&headers);
                own.revoke_token(&token, &claims).await.expect("no store");
                "logged out"
            }),
        )
        .route(
            "/logout-everywhere",
            post(move |claims: Claims| async move {
                everywhere
                    .revoke_subject(claims.issuer(), claims.subject().unwrap_or_default())
                    .await
                    .expect("no store");
                "logged out everywhere"
            }),
        )
        .layer(AuthLayer::new(Revocable::new(
            verifier,
            revocations.clone(),
        )))
        .route_service("/backchannel-logout", logout);
    let (base, task) = serve(router).await;
    issuer
        .add_backchannel_logout(CLIENT, &format!("{base}/backchannel-logout"))
        .expect("receiver");
    Service {
        base,
        revocations,
        _task: task,
    }
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn jwks(issuer: &DevIssuer) -> JwksVerifier {
    JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier")
}

#[tokio::test]
async fn a_session_logout_refuses_that_sessions_tokens_only() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let api = service(&issuer, jwks(&issuer)).await;
    let session = issuer
        .token()
        .subject("alice")
        .session("s1")
        .sign()
        .unwrap();
    let other_session = issuer
        .token()
        .subject("alice")
        .session("s2")
        .sign()
        .unwrap();
    let bob = issuer.token().subject("bob").session("s3").sign().unwrap();
    for token in [&session, &other_session, &bob] {
        assert_eq!(api.get(token).await.status, 200);
    }

    let deliveries = issuer.end_session("alice", "s1").await;
    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].is_delivered(), "{:?}", deliveries[0].outcome);

    api.get(&session).await.assert_refused(401, "invalid_token");
    assert_eq!(api.get(&other_session).await.status, 200);
    assert_eq!(api.get(&bob).await.status, 200);
    // A token of the same session issued after the logout (a new login) is accepted.
    let later = issuer
        .token()
        .subject("alice")
        .session("s1")
        .claim("iat", now() + 2)
        .sign()
        .unwrap();
    assert_eq!(api.get(&later).await.status, 200);

    // The same logout token again: a replay, refused (the logout holds).
    let replayed = deliveries[0].logout_token.clone().expect("token");
    let (status, body) = api.post_logout(&[("logout_token", &replayed)]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "the logout token was used before"
    );
    api.get(&session).await.assert_refused(401, "invalid_token");
}

#[tokio::test]
async fn a_subject_logout_refuses_all_its_tokens_issued_before() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let api = service(&issuer, jwks(&issuer)).await;
    let one = issuer
        .token()
        .subject("alice")
        .session("s1")
        .sign()
        .unwrap();
    let two = issuer.token().subject("alice").sign().unwrap();
    let bob = issuer.token().subject("bob").sign().unwrap();
    let deliveries = issuer.logout_subject("alice").await;
    assert!(deliveries.iter().all(|d| d.is_delivered()));
    api.get(&one).await.assert_refused(401, "invalid_token");
    api.get(&two).await.assert_refused(401, "invalid_token");
    assert_eq!(api.get(&bob).await.status, 200);
}

#[tokio::test]
async fn the_services_own_logout_calls() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let api = service(&issuer, jwks(&issuer)).await;
    let post = |path: &'static str, token: String| {
        let url = format!("{}{path}", api.base);
        async move {
            client()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("post")
                .status()
                .as_u16()
        }
    };
    // With a jti, and without one (refused by a keyed hash of the token).
    let with_jti = issuer.token().subject("alice").sign().unwrap();
    let without_jti = issuer
        .token()
        .subject("alice")
        .remove_claim("jti")
        .sign()
        .unwrap();
    let kept = issuer.token().subject("alice").sign().unwrap();
    assert_eq!(post("/logout", with_jti.clone()).await, 200);
    assert_eq!(post("/logout", without_jti.clone()).await, 200);
    api.get(&with_jti)
        .await
        .assert_refused(401, "invalid_token");
    api.get(&without_jti)
        .await
        .assert_refused(401, "invalid_token");
    assert_eq!(api.get(&kept).await.status, 200);

    assert_eq!(post("/logout-everywhere", kept.clone()).await, 200);
    api.get(&kept).await.assert_refused(401, "invalid_token");
    assert!(!api.revocations.is_revoked(
        &Claims::from_value(json!({"sub": "bob", "iat": now()}), &RoleSource::default()).unwrap(),
        "x"
    ));
}

#[tokio::test]
async fn every_bad_logout_token_is_refused_with_400() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let api = service(&issuer, jwks(&issuer)).await;
    let alice = issuer
        .token()
        .subject("alice")
        .session("s1")
        .sign()
        .unwrap();
    let good = || {
        issuer
            .logout_token()
            .audience(CLIENT)
            .subject("alice")
            .session("s1")
    };
    let cases = [
        (
            "nonce",
            good().nonce("n").sign().unwrap(),
            "a logout token must not carry a nonce",
        ),
        (
            "no events",
            good().without_events().sign().unwrap(),
            "the token has no back-channel logout event",
        ),
        (
            "another event",
            good()
                .events(json!({"https://example.com/other": {}}))
                .sign()
                .unwrap(),
            "the token has no back-channel logout event",
        ),
        (
            "too old",
            good().issued_at(now() - 600).sign().unwrap(),
            "the logout token is too old",
        ),
        (
            "no jti",
            good().remove_claim("jti").sign().unwrap(),
            "the logout token has no jti",
        ),
        (
            "another client",
            good().audience("someone-else").sign().unwrap(),
            "the token is for another audience",
        ),
        (
            "expired",
            good().expires_at(now() - 120).sign().unwrap(),
            "the token has expired",
        ),
        (
            "neither sub nor sid",
            good()
                .remove_claim("sub")
                .remove_claim("sid")
                .sign()
                .unwrap(),
            "the logout token has neither sub nor sid",
        ),
        (
            "an access token",
            issuer
                .token()
                .audience(CLIENT)
                .subject("alice")
                .sign()
                .unwrap(),
            "the token has no back-channel logout event",
        ),
        (
            "typed as an access token",
            good().typ("at+jwt").sign().unwrap(),
            "the token type is not accepted",
        ),
        (
            "not a JWT",
            "not-a-jwt".to_owned(),
            "the token is not a JWT",
        ),
    ];
    for (case, token, why) in cases {
        let (status, body) = api.post_logout(&[("logout_token", &token)]).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_eq!(body["error"], "invalid_request", "{case}");
        assert_eq!(
            body["error_description"]
                .as_str()
                .unwrap_or_default()
                .split(':')
                .next(),
            Some(why),
            "{case}: {body}"
        );
    }
    // None of them logged alice out.
    assert_eq!(api.get(&alice).await.status, 200);

    // Not a form, no token, two tokens, another method.
    let token = good().sign().unwrap();
    let (status, _) = api.post_logout(&[]).await;
    assert_eq!(status, 400);
    let (status, _) = api
        .post_logout(&[("logout_token", &token), ("logout_token", &token)])
        .await;
    assert_eq!(status, 400);
    let json = client()
        .post(api.logout_uri())
        .json(&json!({"logout_token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status().as_u16(), 400);
    let get = client().get(api.logout_uri()).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    assert_eq!(api.get(&alice).await.status, 200);

    // A logout token is not an access token either.
    let as_access = issuer
        .logout_token()
        .audience("dev-api")
        .subject("alice")
        .sign()
        .unwrap();
    api.get(&as_access)
        .await
        .assert_refused(401, "invalid_token");

    // The good one, untyped as older providers send them, is accepted.
    let untyped = good().remove_header("typ").sign().unwrap();
    let (status, body) = api.post_logout(&[("logout_token", &untyped)]).await;
    assert_eq!(status, 200, "{body}");
    api.get(&alice).await.assert_refused(401, "invalid_token");
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_answer_503_not_400() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let api = service(&issuer, jwks(&issuer)).await;
    let token = issuer
        .logout_token()
        .audience(CLIENT)
        .subject("alice")
        .sign()
        .unwrap();
    issuer.set_available(false);
    let response = client()
        .post(api.logout_uri())
        .form(&[("logout_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    issuer.set_available(true);
    // Once the provider is back, the same token (it was not marked used) is accepted.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = api.post_logout(&[("logout_token", &token)]).await;
        if status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opaque tokens: refused after their subject's logout, and their cached introspection answers
/// dropped (the provider is asked again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspected_tokens_are_refused_and_their_cached_answers_dropped() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = std::env::temp_dir().join(format!(
        "tower-authz-logout-{}-{}",
        std::process::id(),
        issuer.addr().port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("api-key.json");
    issuer.write_api_key_file(&path).unwrap();
    let verifier = IntrospectionVerifier::discover(
        issuer.issuer(),
        ClientAuth::private_key_jwt(ApplicationKey::from_file(&path).unwrap()),
        AudienceCheck::left_to_provider(),
    )
    .unwrap();
    let revocations = Revocations::new();
    let router = Router::new()
        .route(
            "/whoami",
            get(|claims: Claims| async move { claims.subject().unwrap_or_default().to_owned() }),
        )
        .layer(AuthLayer::new(Revocable::new(
            verifier,
            revocations.clone(),
        )));
    let (base, _task) = serve(router).await;
    let whoami = format!("{base}/whoami");
    let alice = issuer.opaque_token().subject("alice").issue();
    let bob = issuer.opaque_token().subject("bob").issue();
    for _ in 0..4 {
        assert_eq!(get_with(&whoami, Some(&alice)).await.status, 200);
        assert_eq!(get_with(&whoami, Some(&bob)).await.status, 200);
    }
    assert_eq!(issuer.introspection_requests(), 2);

    revocations
        .revoke_subject(Some(issuer.issuer()), "alice")
        .await
        .unwrap();
    for _ in 0..4 {
        get_with(&whoami, Some(&alice))
            .await
            .assert_refused(401, "invalid_token");
        assert_eq!(get_with(&whoami, Some(&bob)).await.status, 200);
    }
    // Bob's answer stayed cached; alice's was dropped, asked of the provider once more (it
    // still says active: this logout was the service's own) and refused by the record.
    assert_eq!(issuer.introspection_requests(), 3);
    let _ = std::fs::remove_dir_all(dir);
}

/// oidc-provider gives up on a logout after 2.5 s and never sends it again, while the first
/// logout token may wait for discovery and the JWKS: the logout completes even when the
/// provider hangs up first.
#[tokio::test]
async fn a_logout_completes_after_the_provider_hung_up() {
    let issuer = DevIssuer::start().await.expect("issuer");
    let api = service(&issuer, jwks(&issuer)).await;
    let alice = issuer
        .token()
        .subject("alice")
        .session("s1")
        .sign()
        .unwrap();
    assert_eq!(api.get(&alice).await.status, 200);
    let token = issuer
        .logout_token()
        .audience(CLIENT)
        .subject("alice")
        .session("s1")
        .sign()
        .unwrap();
    // The logout verifier has no keys yet: discovery and the JWKS answer late.
    issuer.set_response_delay(Some(Duration::from_millis(400)));
    let hung_up = client()
        .post(api.logout_uri())
        .form(&[("logout_token", &token)])
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(hung_up.is_err(), "the client gave up first");
    issuer.set_response_delay(None);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while api.get(&alice).await.status != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the logout was dropped with the request"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
