//! Issue 12, black-box over HTTP on 127.0.0.1: malformed bearer tokens are `401 invalid_token`,
//! invalid UTF-8 in a JWS is refused, two token cookies are refused, a key removed from the JWKS
//! voids even the verifications that raced its removal, keys past the stale limit are not
//! trusted while the provider is down, refetch intervals cannot be set below a second, and an
//! ID token is told from an access token only by `typ` (what the docs say).

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::TestApp;
use tower_authz::{AuthLayer, JwksVerifier, JwtVerifier, TokenSource};
use tower_authz_dev::{DevAlgorithm, DevIssuer};

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "api";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn far_future() -> u64 {
    4_102_444_800
}

/// An HS256 JWS over raw header and payload bytes (which need not be UTF-8).
fn hs256_raw(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn valid_payload() -> Vec<u8> {
    format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","exp":{}}}"#,
        far_future()
    )
    .into_bytes()
}

async fn hmac_app() -> TestApp {
    let verifier = JwtVerifier::new(ISSUER, AUDIENCE)
        .with_hmac_secret(SECRET)
        .expect("secret");
    TestApp::start(AuthLayer::new(verifier)).await
}

/// Sends `Authorization: <value>` as it is.
async fn get_raw_authorization(app: &TestApp, value: &str) -> common::Answer {
    let response = common::client()
        .get(format!("{}/whoami", app.base))
        .header("authorization", value)
        .send()
        .await
        .expect("request");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    common::Answer {
        status: response.status(),
        challenge,
        retry_after: None,
        body: response.text().await.unwrap_or_default(),
    }
}

#[tokio::test]
async fn malformed_bearer_tokens_are_401_invalid_token_and_two_headers_400() {
    let app = hmac_app().await;
    let good = hs256_raw(br#"{"alg":"HS256"}"#, &valid_payload());
    assert_eq!(app.get("/whoami", Some(&good)).await.status, 200);
    let (header, rest) = good.split_once('.').expect("jws");
    let (payload, signature) = rest.split_once('.').expect("jws");
    let json_serialization =
        format!(r#"{{"payload":"{payload}","protected":"{header}","signature":"{signature}"}}"#);
    let polyglot = format!(r#"{header}.{payload}.{signature}{{"payload":"{payload}"}}"#);
    for value in [
        "Bearer".to_owned(),
        "Bearer    ".to_owned(),
        format!("Bearer {header}.{payload} .{signature}"),
        format!("Bearer {header}.{payload}!.{signature}"),
        format!("Bearer {json_serialization}"),
        format!("Bearer {polyglot}"),
        // A padded segment: `=` is only allowed at the very end of a b64token.
        format!("Bearer {header}==.{payload}.{signature}"),
        // Padding at the end is b64token syntax, but not a base64url JWS segment.
        format!("Bearer {good}=="),
        "Bearer ä".to_owned(),
    ] {
        let answer = get_raw_authorization(&app, &value).await;
        answer.assert_refused(401, "invalid_token");
    }

    // Several Authorization headers are a malformed request: 400.
    let response = common::client()
        .get(format!("{}/whoami", app.base))
        .header("authorization", format!("Bearer {good}"))
        .header("authorization", format!("Bearer {good}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii");
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{challenge}"
    );
    assert_eq!(app.hits(), 1, "no refused request reached the handler");
}

#[tokio::test]
async fn invalid_utf8_in_the_header_or_the_payload_is_refused() {
    let app = hmac_app().await;
    let mut header = br#"{"alg":"HS256","x-extra":""#.to_vec();
    header.extend_from_slice(&[0xc3, 0x28, 0xff]);
    header.extend_from_slice(br#""}"#);
    let mut payload = valid_payload();
    payload.pop();
    payload.extend_from_slice(br#","note":""#);
    payload.extend_from_slice(&[0xed, 0xa0, 0x80]);
    payload.extend_from_slice(br#""}"#);

    // The same tokens with valid UTF-8 in those places pass: only the bytes are at fault.
    let clean_header = br#"{"alg":"HS256","x-extra":"ok"}"#;
    assert_eq!(
        app.get("/whoami", Some(&hs256_raw(clean_header, &valid_payload())))
            .await
            .status,
        200
    );
    for token in [
        hs256_raw(&header, &valid_payload()),
        hs256_raw(br#"{"alg":"HS256"}"#, &payload),
    ] {
        app.get("/whoami", Some(&token))
            .await
            .assert_refused(401, "invalid_token");
    }
    assert_eq!(app.hits(), 1);
}

#[tokio::test]
async fn two_token_cookies_in_one_request_are_401() {
    let verifier = JwtVerifier::new(ISSUER, AUDIENCE)
        .with_hmac_secret(SECRET)
        .expect("secret");
    let app = TestApp::start(
        AuthLayer::new(verifier).with_token_sources([TokenSource::cookie("app.at")]),
    )
    .await;
    let good = hs256_raw(br#"{"alg":"HS256"}"#, &valid_payload());
    let send = |cookies: Vec<String>| {
        let url = format!("{}/whoami", app.base);
        async move {
            let mut request = common::client().get(url);
            for cookie in cookies {
                request = request.header("cookie", cookie);
            }
            let response = request.send().await.expect("request");
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            (response.status().as_u16(), challenge)
        }
    };
    assert_eq!(send(vec![format!("app.at={good}")]).await.0, 200);
    for cookies in [
        vec![format!("app.at={good}; app.at=attacker-token")],
        vec![format!("app.at=attacker-token; app.at={good}")],
        vec![format!("app.at={good}"), "other=1; app.at=x".to_owned()],
    ] {
        let (status, challenge) = send(cookies).await;
        assert_eq!(status, 401);
        assert!(
            challenge
                .as_deref()
                .is_some_and(|c| c.contains(r#"error="invalid_token""#)),
            "{challenge:?}"
        );
    }
    assert_eq!(app.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_removed_key_are_refused_even_if_verified_during_the_refetch() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let removed = issuer.current_key(DevAlgorithm::RS256);
    let verifier = JwksVerifier::new(issuer.issuer(), issuer.jwks_uri(), "dev-api")
        .expect("verifier")
        .with_min_refetch_interval(Duration::from_secs(1));
    let app = Arc::new(TestApp::start(AuthLayer::new(verifier)).await);
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..32)
            .map(|i| {
                issuer
                    .token()
                    .subject(format!("user-{i}"))
                    .signed_with(&removed)
                    .sign()
                    .expect("token")
            })
            .collect(),
    );
    // Half of them verified and cached before the key goes.
    for token in &tokens[..16] {
        assert_eq!(app.get("/whoami", Some(token)).await.status, 200);
    }
    assert_eq!(issuer.jwks_requests(), 1);

    // The provider rotates: a new key, the old one no longer published.
    issuer.rotate(DevAlgorithm::RS256).expect("rotate");
    assert!(issuer.retire(removed.kid()));
    let new_key_token = issuer.token().subject("new").sign().expect("token");

    // Tokens of the removed key keep coming while a token of the new key makes the verifier
    // refetch (once the minimum interval has passed).
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (app, tokens) = (Arc::clone(&app), Arc::clone(&tokens));
            tokio::spawn(async move {
                for _ in 0..3 {
                    for token in tokens.iter() {
                        let status = app.get("/whoami", Some(token)).await.status.as_u16();
                        assert!(status == 200 || status == 401, "{status}");
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut refetched = false;
    for _ in 0..100 {
        if app.get("/whoami", Some(&new_key_token)).await.status == 200 {
            refetched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refetched, "the new key was never fetched");
    for sender in senders {
        sender.await.expect("sender");
    }
    assert!(issuer.jwks_requests() >= 2);

    // Afterwards every token of the removed key is refused, cached, raced or new.
    for token in tokens.iter() {
        app.get("/whoami", Some(token))
            .await
            .assert_refused(401, "invalid_token");
    }
}

#[tokio::test]
async fn keys_past_the_stale_limit_are_not_trusted_while_the_provider_is_down() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::new(issuer.issuer(), issuer.jwks_uri(), "dev-api")
        .expect("verifier")
        .with_refresh_interval(Duration::from_secs(1))
        .with_min_refetch_interval(Duration::from_secs(1))
        .with_retry_interval(Duration::from_secs(1))
        .with_max_stale(Duration::from_secs(1));
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let cached = issuer.token().subject("cached").sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&cached)).await.status, 200);

    issuer.set_available(false);
    // Within the lifetime plus the stale limit, the held keys (and the cache) still serve.
    assert_eq!(app.get("/whoami", Some(&cached)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Past it: 503 with Retry-After, for a cached token and a new one alike.
    let fresh = issuer.token().subject("fresh").sign().expect("token");
    for token in [&cached, &fresh] {
        let answer = app.get("/whoami", Some(token)).await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert!(answer.retry_after.is_some(), "{answer:?}");
    }

    // The provider comes back: verified again once a fetch succeeds.
    issuer.set_available(true);
    let mut status = 0;
    for _ in 0..40 {
        status = app.get("/whoami", Some(&fresh)).await.status.as_u16();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(app.get("/whoami", Some(&cached)).await.status, 200);
}

#[tokio::test]
async fn refetch_and_retry_intervals_below_one_second_are_raised_to_it() {
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let verifier = JwksVerifier::new(issuer.issuer(), issuer.jwks_uri(), "dev-api")
        .expect("verifier")
        .with_min_refetch_interval(Duration::ZERO)
        .with_retry_interval(Duration::ZERO);
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let valid = issuer.token().sign().expect("token");
    assert_eq!(app.get("/whoami", Some(&valid)).await.status, 200);
    assert_eq!(issuer.jwks_requests(), 1);
    // Ten made-up kids within well under a second: at most one refetch, not ten.
    for i in 0..10 {
        let unknown = issuer
            .token()
            .kid(format!("made-up-{i}"))
            .sign()
            .expect("token");
        app.get("/whoami", Some(&unknown))
            .await
            .assert_refused(401, "invalid_token");
    }
    let fetches = issuer.jwks_requests();
    assert!(fetches <= 2, "{fetches} JWKS fetches for 10 unknown kids");
}

#[tokio::test]
async fn an_id_token_for_the_api_audience_passes_unless_at_jwt_is_required() {
    // What the docs of `JwksVerifier` and the README's security section say: `typ` is what
    // tells an RFC 9068 access token from an ID token of the same issuer and audience.
    let issuer = DevIssuer::start().await.expect("dev issuer");
    let id_token = issuer
        .token()
        .claim("nonce", "n-0S6_WzA2Mj")
        .claim("at_hash", "77QmUPtjPfzWtF2AnpK9RQ")
        .sign()
        .expect("token");
    let access_token = issuer
        .token()
        .header("typ", "at+jwt")
        .sign()
        .expect("token");
    let lenient = JwksVerifier::new(issuer.issuer(), issuer.jwks_uri(), "dev-api").expect("v");
    let lenient = TestApp::start(AuthLayer::new(lenient)).await;
    assert_eq!(lenient.get("/whoami", Some(&id_token)).await.status, 200);
    let strict = JwksVerifier::new(issuer.issuer(), issuer.jwks_uri(), "dev-api")
        .expect("v")
        .with_typ("at+jwt");
    let strict = TestApp::start(AuthLayer::new(strict)).await;
    strict
        .get("/whoami", Some(&id_token))
        .await
        .assert_refused(401, "invalid_token");
    assert_eq!(strict.get("/whoami", Some(&access_token)).await.status, 200);
}
