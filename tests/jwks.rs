//! `JwksVerifier` behind `AuthLayer`, over real HTTP on 127.0.0.1 against the development issuer:
//! every reject path (status, challenge, handler not run), key rotation, refetch limits, and a
//! provider that stops or never answers.

mod common;

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{TestApp, closed_port};
use serde_json::{Map, Value, json};
use tower_authz::{AuthLayer, JwksVerifier, Tenants};
use tower_authz_dev::{DevAlgorithm, DevIssuer, DevKey};

const AUDIENCE: &str = "dev-api";

async fn setup() -> (DevIssuer, TestApp) {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier");
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    (issuer, app)
}

fn header(fields: Value) -> Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_pass_and_claims_reach_the_handler() {
    let (issuer, app) = setup().await;
    for alg in [
        DevAlgorithm::RS256,
        DevAlgorithm::ES256,
        DevAlgorithm::EdDSA,
    ] {
        let token = issuer
            .token()
            .algorithm(alg)
            .subject("alice")
            .sign()
            .expect("token");
        let answer = app.get("/whoami", Some(&token)).await;
        assert_eq!(answer.status, 200, "{alg:?}: {answer:?}");
        let claims: Value = serde_json::from_str(&answer.body).expect("json");
        assert_eq!(claims["sub"], "alice");
    }
    assert_eq!(app.hits(), 3);
}

#[tokio::test]
async fn no_token_is_401_without_error_code() {
    let (_issuer, app) = setup().await;
    let answer = app.get("/whoami", None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.challenge.as_deref(), Some("Bearer"));
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused_before_the_handler() {
    let (issuer, app) = setup().await;
    let valid = issuer.token().sign().expect("token");
    let parts: Vec<&str> = valid.split('.').collect();
    let claims = issuer.token().claims();
    let rsa = issuer.current_key(DevAlgorithm::RS256);
    let attacker = DevKey::generate(DevAlgorithm::RS256).expect("key");

    // alg none, with and without a signature part.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let none_sig = format!("{none}c2ln");
    // HS256 keyed with the issuer's RSA public key (PEM and JWK forms): the classic confusion.
    let hs_with_public = |secret: &[u8]| {
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "HS256", "kid": rsa.kid()})),
            b64(&claims)
        );
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    };
    let hs_pem = hs_with_public(rsa.public_key_pem().as_bytes());
    let hs_jwk = hs_with_public(rsa.public_jwk().to_string().as_bytes());
    // Signature stripped, or taken from another token.
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    let other = issuer.token().subject("mallory").sign().expect("token");
    let foreign = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        other.split('.').nth(2).unwrap_or_default()
    );
    // Signed by a key the issuer never published.
    let unknown_kid = issuer.token().signed_with(&attacker).sign().expect("token");
    // The attacker's key offered in `jwk` / `jku` headers, under the real kid and under its own.
    let embedded_jwk = attacker
        .sign_jws(
            &header(json!({"alg": "RS256", "kid": rsa.kid(), "jwk": attacker.public_jwk()})),
            &claims,
        )
        .expect("jws");
    let jku = attacker
        .sign_jws(
            &header(json!({"alg": "RS256", "kid": attacker.kid(), "jku": format!("http://127.0.0.1:{}/keys", closed_port().await), "x5u": "http://127.0.0.1:1/x"})),
            &claims,
        )
        .expect("jws");
    let five_parts = format!("{valid}.e30.e30");
    let oversized = issuer
        .token()
        .claim("padding", "x".repeat(9000))
        .sign()
        .expect("token");

    let cases = [
        ("alg none", none),
        ("alg none with signature", none_sig),
        ("HS256 with the RSA public key (PEM)", hs_pem),
        ("HS256 with the RSA public key (JWK)", hs_jwk),
        ("stripped signature", stripped),
        ("foreign signature", foreign),
        ("unknown kid", unknown_kid),
        ("attacker key in jwk header", embedded_jwk),
        ("attacker key at jku", jku),
        ("five parts (JWE shape)", five_parts),
        ("oversized", oversized),
        ("not a JWT", "opaque-token-value".to_owned()),
    ];
    for (name, token) in cases {
        let answer = app.get("/whoami", Some(&token)).await;
        assert_eq!(answer.status, 401, "{name}: {answer:?}");
        answer.assert_refused(401, "invalid_token");
    }
    assert_eq!(app.hits(), 0, "no forged token reached the handler");
}

#[tokio::test]
async fn claim_checks() {
    let (issuer, app) = setup().await;
    let cases = [
        ("expired", issuer.token().expired().sign()),
        ("not yet valid", issuer.token().not_yet_valid().sign()),
        (
            "wrong issuer",
            issuer.token().issuer("https://evil.example").sign(),
        ),
        (
            "wrong audience",
            issuer.token().audience("another-api").sign(),
        ),
        ("missing exp", issuer.token().remove_claim("exp").sign()),
        (
            "unknown crit",
            issuer
                .token()
                .header("crit", json!(["urn:example:unknown"]))
                .header("urn:example:unknown", true)
                .sign(),
        ),
    ];
    for (name, token) in cases {
        let token = token.expect("token");
        let answer = app.get("/whoami", Some(&token)).await;
        answer.assert_refused(401, "invalid_token");
        assert!(
            answer
                .challenge
                .as_deref()
                .is_some_and(|c| c.contains("error_description=")),
            "{name}: {answer:?}"
        );
    }
    assert_eq!(app.hits(), 0);

    // An audience array containing ours passes.
    let token = issuer
        .token()
        .audiences(["other", AUDIENCE])
        .sign()
        .expect("token");
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn roles_are_checked_and_a_wrong_typed_roles_claim_is_403_not_500() {
    let (issuer, app) = setup().await;
    let admin = issuer.token().roles(["admin"]).sign().expect("token");
    assert_eq!(app.get("/admin", Some(&admin)).await.status, 200);

    let user = issuer.token().roles(["viewer"]).sign().expect("token");
    let answer = app.get("/admin", Some(&user)).await;
    answer.assert_refused(403, "insufficient_scope");
    assert!(
        answer
            .challenge
            .as_deref()
            .is_some_and(|c| c.contains("scope=\"admin\""))
    );

    for roles in [json!({"admin": true}), json!(42), json!([1, 2])] {
        let odd = issuer.token().claim("roles", roles).sign().expect("token");
        app.get("/admin", Some(&odd))
            .await
            .assert_refused(403, "insufficient_scope");
    }
    assert_eq!(app.hits(), 1);
}

#[tokio::test]
async fn two_authorization_headers_are_400_and_a_malformed_token_401() {
    let (issuer, app) = setup().await;
    let token = issuer.token().sign().expect("token");
    let response = common::client()
        .get(format!("{}/whoami", app.base))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer another")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let answer = app.get("/whoami", Some("not b64token!")).await;
    answer.assert_refused(401, "invalid_token");
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_refetch() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .with_min_refetch_interval(Duration::from_secs(1));
    let app = TestApp::start(AuthLayer::new(verifier)).await;

    let old = issuer.token().sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&old)).await.status, 200);
    assert_eq!(issuer.jwks_requests(), 1);

    tokio::time::sleep(Duration::from_millis(1050)).await;
    issuer.rotate(DevAlgorithm::RS256).expect("rotate");
    let new = issuer.token().sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&new)).await.status, 200);
    assert_eq!(issuer.jwks_requests(), 2, "exactly one refetch");
    // The old key is still published, so its tokens still pass, with no further fetch.
    assert_eq!(app.get("/whoami", Some(&old)).await.status, 200);
    assert_eq!(issuer.jwks_requests(), 2);

    // A retired key's tokens fail once the keys are refetched.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let old_kid = old_kid(&old);
    assert!(issuer.retire(&old_kid));
    let unknown = issuer
        .token()
        .signed_with(&DevKey::generate(DevAlgorithm::RS256).expect("key"))
        .sign()
        .expect("token");
    // An unknown kid triggers the refetch that drops the retired key.
    assert_eq!(app.get("/whoami", Some(&unknown)).await.status, 401);
    assert_eq!(app.get("/whoami", Some(&old)).await.status, 401);
}

fn old_kid(token: &str) -> String {
    let header = token.split('.').next().unwrap_or_default();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    header["kid"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_flood_of_unknown_kids_causes_at_most_one_fetch_per_interval() {
    let (issuer, app) = setup().await;
    let valid = issuer.token().sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&valid)).await.status, 200);
    let before = issuer.jwks_requests();

    let client = common::client();
    let url = format!("{}/whoami", app.base);
    let claims = issuer.token().claims();
    let key = issuer.current_key(DevAlgorithm::RS256);
    let mut statuses = Vec::new();
    for batch in 0..20 {
        let mut requests = Vec::new();
        for i in 0..50 {
            let token = key
                .sign_jws(
                    &header(json!({"alg": "RS256", "kid": format!("random-{batch}-{i}")})),
                    &claims,
                )
                .expect("jws");
            requests.push(client.get(&url).bearer_auth(token).send());
        }
        for response in futures_util::future::join_all(requests).await {
            statuses.push(response.expect("response").status().as_u16());
        }
    }
    assert_eq!(statuses.len(), 1000);
    assert!(statuses.iter().all(|s| *s == 401));
    let fetches = issuer.jwks_requests() - before;
    assert!(fetches <= 1, "{fetches} JWKS fetches for 1000 unknown kids");
    // Valid tokens were never blocked meanwhile.
    assert_eq!(app.get("/whoami", Some(&valid)).await.status, 200);
}

#[tokio::test]
async fn valid_tokens_pass_after_the_jwks_server_stops() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .with_min_refetch_interval(Duration::from_secs(1))
        .with_refresh_interval(Duration::from_secs(1));
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let token = issuer.token().sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);

    issuer.stop().await;
    // Past the refresh interval: a background refresh fails, the held keys keep serving.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
    }
    assert_eq!(app.hits(), 4);
}

#[tokio::test]
async fn an_unreachable_provider_from_the_start_is_503_not_401() {
    let port = closed_port().await;
    let issuer = format!("http://127.0.0.1:{port}");
    let verifier = JwksVerifier::discover(&issuer, AUDIENCE).expect("verifier");
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let key = DevKey::generate(DevAlgorithm::RS256).expect("key");
    let token = key
        .sign_jws(
            &header(json!({"alg": "RS256", "kid": key.kid()})),
            &json!({"iss": issuer, "aud": AUDIENCE, "exp": 4102444800_u64}),
        )
        .expect("jws");
    for _ in 0..3 {
        let answer = app.get("/whoami", Some(&token)).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(answer.retry_after.is_some(), "{answer:?}");
        assert!(answer.challenge.is_none());
    }
    // A token that is malformed is still a 401: nothing is fetched for it.
    app.get("/whoami", Some("a.b.c"))
        .await
        .assert_refused(401, "invalid_token");
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn a_provider_that_comes_back_is_used_without_restart() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    issuer.set_available(false);
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .with_retry_interval(Duration::from_secs(1));
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let token = issuer.token().sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 503);
    issuer.set_available(true);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer_exactly() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    // A trailing slash makes it another issuer (zitadel/oidc and OIDC Discovery §4.3 agree).
    let verifier =
        JwksVerifier::discover(format!("{}/", issuer.issuer()), AUDIENCE).expect("verifier");
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let token = issuer
        .token()
        .issuer(format!("{}/", issuer.issuer()))
        .sign()
        .expect("token");
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 503);
    assert_eq!(issuer.jwks_requests(), 0);
}

#[tokio::test]
async fn optional_mode_lets_anonymous_through_but_not_bad_tokens() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier");
    let app = TestApp::start(AuthLayer::new(verifier).optional()).await;
    let answer = app.get("/whoami", None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "null");
    app.get("/whoami", Some("a.b.c"))
        .await
        .assert_refused(401, "invalid_token");
    // The role check answers 401 (not 403) to an anonymous caller.
    let answer = app.get("/admin", None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(app.hits(), 1);
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_time() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    issuer.set_jwks_max_age(Some(Duration::from_secs(1)));
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .with_min_refetch_interval(Duration::from_secs(1))
        // Without max-age the keys would be kept for an hour.
        .with_refresh_interval(Duration::from_secs(3600));
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let token = issuer.token().sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(issuer.jwks_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The first request after max-age starts a background refresh and is not held up by it.
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
    for _ in 0..50 {
        if issuer.jwks_requests() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(issuer.jwks_requests(), 2);
}

#[tokio::test]
async fn multi_tenant_issuer_templates_substitute_the_tokens_tid() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let template = format!("{}/{{tenantid}}/v2.0", issuer.issuer());
    let verifier = JwksVerifier::multi_tenant(
        &template,
        issuer.jwks_uri(),
        AUDIENCE,
        Tenants::only(["tenant-a", "tenant-b"]),
    )
    .expect("verifier");
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let token = |iss_tenant: &str, tid: &str| {
        issuer
            .token()
            .issuer(format!("{}/{iss_tenant}/v2.0", issuer.issuer()))
            .claim("tid", tid)
            .sign()
            .expect("token")
    };
    assert_eq!(
        app.get("/whoami", Some(&token("tenant-a", "tenant-a")))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get("/whoami", Some(&token("tenant-b", "tenant-b")))
            .await
            .status,
        200
    );
    for (iss_tenant, tid) in [
        ("tenant-a", "tenant-b"),
        ("tenant-c", "tenant-c"),
        ("{tenantid}", "{tenantid}"),
    ] {
        app.get("/whoami", Some(&token(iss_tenant, tid)))
            .await
            .assert_refused(401, "invalid_token");
    }
    assert!(JwksVerifier::discover(&template, AUDIENCE).is_err());
}

#[tokio::test]
async fn a_cached_token_is_still_refused_once_it_expires() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .with_leeway(Duration::ZERO);
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let token = issuer
        .token()
        .lifetime(Duration::from_secs(2))
        .sign()
        .expect("token");
    // `exp` has one-second granularity: the token lives between 1 and 2 seconds.
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.get("/whoami", Some(&token))
        .await
        .assert_refused(401, "invalid_token");
}
