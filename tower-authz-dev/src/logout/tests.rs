//! Tests of back-channel logout over real HTTP on 127.0.0.1: a small axum
//! receiver records what the issuer posts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_authz::{Claims, JwtVerifier, Verifier};

use super::{BACKCHANNEL_LOGOUT_EVENT, DeliveryOutcome, LogoutDelivery};
use crate::{
    DevAlgorithm, DevIssuer, DevKey, FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, FusionAuthApp,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Far above the 2 s delivery timeout: a bound so a broken test fails
/// instead of hanging, not a timing assertion.
const NO_HANG: Duration = Duration::from_secs(30);

/// One `POST` a receiver got.
#[derive(Debug, Clone)]
struct Post {
    content_type: Option<String>,
    body: String,
}

impl Post {
    /// The `logout_token` of the form body, which must be its only parameter.
    fn logout_token(&self) -> String {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs.len(), 1, "one parameter: {pairs:?}");
        assert_eq!(pairs[0].0, "logout_token");
        pairs[0].1.clone()
    }
}

#[derive(Debug, Default)]
struct Recorded {
    posts: Mutex<Vec<Post>>,
    /// Requests to `/followed`, where a `302` answer points.
    followed: AtomicUsize,
}

/// A back-channel logout receiver on 127.0.0.1 answering `answer` at `/bcl`.
struct Receiver {
    addr: SocketAddr,
    recorded: Arc<Recorded>,
    task: JoinHandle<()>,
}

impl Receiver {
    async fn start(answer: StatusCode) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Recorded::default());
        let state = (Arc::clone(&recorded), answer, addr);
        let app = Router::new()
            .route("/bcl", post(record))
            .route("/followed", any(followed))
            .with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            addr,
            recorded,
            task,
        }
    }

    fn uri(&self) -> String {
        format!("http://{}/bcl", self.addr)
    }

    fn posts(&self) -> Vec<Post> {
        self.recorded.posts.lock().unwrap().clone()
    }

    /// The one token this receiver got.
    fn only_token(&self) -> String {
        let posts = self.posts();
        assert_eq!(posts.len(), 1, "{posts:?}");
        posts[0].logout_token()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ReceiverState = (Arc<Recorded>, StatusCode, SocketAddr);

async fn record(
    State((recorded, answer, addr)): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    recorded.posts.lock().unwrap().push(Post {
        content_type: headers
            .get(CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned()),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    if answer.is_redirection() {
        let location = format!("http://{addr}/followed");
        return (answer, [(LOCATION, location)]).into_response();
    }
    answer.into_response()
}

async fn followed(State((recorded, _, _)): State<ReceiverState>) -> StatusCode {
    recorded.followed.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    b64_json(token.split('.').next().unwrap())
}

fn now() -> u64 {
    crate::clock::unix_now()
}

/// Verifies a Logout Token as a receiver would: the JWKS fetched from the
/// issuer, `typ: logout+jwt`, `iss`, `aud` = `client_id`.
async fn verify(issuer: &DevIssuer, client_id: &str, token: &str) -> Claims {
    let jwks = reqwest::get(issuer.jwks_uri())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    JwtVerifier::new(issuer.issuer(), client_id)
        .with_typ("logout+jwt")
        .with_leeway(Duration::ZERO)
        .with_jwks(&jwks)
        .unwrap()
        .verify(token)
        .into_ready()
        .unwrap()
        .unwrap_or_else(|error| panic!("the logout token does not verify: {error}"))
}

/// Asserts the header and claims of Back-Channel Logout 1.0 §2.4.
async fn assert_logout_token(
    issuer: &DevIssuer,
    client_id: &str,
    token: &str,
    sub: Option<&str>,
    sid: Option<&str>,
) -> Claims {
    let header = header_of(token);
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], issuer.current_key(DevAlgorithm::RS256).kid());
    let claims = verify(issuer, client_id, token).await;
    assert_eq!(claims.get("iss").unwrap(), issuer.issuer());
    assert_eq!(claims.get("aud").unwrap(), client_id);
    let iat = claims.get("iat").unwrap().as_u64().unwrap();
    assert!(iat.abs_diff(now()) < 60, "iat {iat}");
    assert_eq!(claims.get("exp").unwrap().as_u64(), Some(iat + 120));
    assert!(!claims.get("jti").unwrap().as_str().unwrap().is_empty());
    assert_eq!(
        claims.get("events").unwrap(),
        &json!({ BACKCHANNEL_LOGOUT_EVENT: {} })
    );
    assert_eq!(claims.get("sub").and_then(Value::as_str), sub);
    assert_eq!(claims.get("sid").and_then(Value::as_str), sid);
    assert!(claims.get("nonce").is_none());
    claims
}

fn jti(claims: &Claims) -> String {
    claims.get("jti").unwrap().as_str().unwrap().to_owned()
}

async fn ended<F: Future<Output = Vec<LogoutDelivery>>>(sending: F) -> Vec<LogoutDelivery> {
    tokio::time::timeout(NO_HANG, sending)
        .await
        .expect("the deliveries hang")
}

#[tokio::test]
async fn end_session_posts_one_verifiable_logout_token_to_every_receiver() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let (a, b) = (
        Receiver::start(StatusCode::OK).await,
        Receiver::start(StatusCode::NO_CONTENT).await,
    );
    issuer.add_backchannel_logout("app-a", &a.uri())?;
    issuer.add_backchannel_logout("app-b", &b.uri())?;
    // The same pair again is one receiver.
    issuer.add_backchannel_logout("app-a", &a.uri())?;
    assert_eq!(issuer.logout_deliveries(), 0);

    let deliveries = ended(issuer.end_session("alice", "session-1")).await;

    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    for (delivery, (client_id, receiver)) in deliveries.iter().zip([("app-a", &a), ("app-b", &b)]) {
        assert_eq!(delivery.client_id, client_id);
        assert_eq!(delivery.uri, receiver.uri());
        assert_eq!(delivery.outcome, DeliveryOutcome::Delivered);
        assert!(delivery.is_delivered());
        let posts = receiver.posts();
        assert_eq!(posts.len(), 1);
        assert_eq!(
            posts[0].content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            delivery.logout_token.as_deref(),
            Some(posts[0].logout_token().as_str())
        );
    }
    let claims_a = assert_logout_token(
        &issuer,
        "app-a",
        &a.only_token(),
        Some("alice"),
        Some("session-1"),
    )
    .await;
    let claims_b = assert_logout_token(
        &issuer,
        "app-b",
        &b.only_token(),
        Some("alice"),
        Some("session-1"),
    )
    .await;
    assert_ne!(jti(&claims_a), jti(&claims_b));
    assert_eq!(issuer.logout_deliveries(), 2);
    // The Debug output does not show the token.
    let debug = format!("{deliveries:?}");
    assert!(!debug.contains(&a.only_token()), "{debug}");
    Ok(())
}

#[tokio::test]
async fn logout_subject_sends_sub_without_sid() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let receiver = Receiver::start(StatusCode::OK).await;
    issuer.add_backchannel_logout("my-app", &receiver.uri())?;

    let deliveries = ended(issuer.logout_subject("bob")).await;

    assert_eq!(deliveries.len(), 1);
    assert!(deliveries[0].is_delivered());
    assert_logout_token(&issuer, "my-app", &receiver.only_token(), Some("bob"), None).await;
    assert_eq!(issuer.logout_deliveries(), 1);
    Ok(())
}

#[tokio::test]
async fn only_loopback_receivers() -> TestResult {
    let issuer = DevIssuer::start().await?;
    for refused in [
        "https://rp.example/bcl",
        "http://127.0.0.1.rp.example/bcl",
        "ftp://127.0.0.1/bcl",
        "http://127.0.0.1:3/bcl#fragment",
        "/bcl",
        "",
    ] {
        let error = issuer
            .add_backchannel_logout("my-app", refused)
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{refused}");
    }
    // Nothing was registered: no delivery.
    assert!(ended(issuer.logout_subject("bob")).await.is_empty());
    for accepted in [
        "http://localhost:1/bcl",
        "https://[::1]:2/",
        "http://127.0.0.1:3/x",
    ] {
        issuer.add_backchannel_logout("my-app", accepted)?;
    }
    Ok(())
}

#[tokio::test]
async fn redirects_and_refusals_are_reported_not_followed() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let redirecting = Receiver::start(StatusCode::FOUND).await;
    let refusing = Receiver::start(StatusCode::BAD_REQUEST).await;
    issuer.add_backchannel_logout("redirecting", &redirecting.uri())?;
    issuer.add_backchannel_logout("refusing", &refusing.uri())?;

    let deliveries = ended(issuer.end_session("alice", "s-1")).await;

    assert_eq!(
        deliveries[0].outcome,
        DeliveryOutcome::Rejected { status: 302 }
    );
    assert_eq!(
        deliveries[1].outcome,
        DeliveryOutcome::Rejected { status: 400 }
    );
    assert!(!deliveries[0].is_delivered());
    assert_eq!(redirecting.posts().len(), 1);
    assert_eq!(redirecting.recorded.followed.load(Ordering::SeqCst), 0);
    assert_eq!(refusing.posts().len(), 1);
    assert_eq!(issuer.logout_deliveries(), 2);
    Ok(())
}

#[tokio::test]
async fn a_down_or_silent_receiver_is_a_failed_delivery() -> TestResult {
    let issuer = DevIssuer::start().await?;
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    // A port that accepts connections (the kernel's backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await?;
    let working = Receiver::start(StatusCode::OK).await;
    issuer.add_backchannel_logout("down", &format!("http://{closed}/bcl"))?;
    issuer.add_backchannel_logout("silent", &format!("http://{}/bcl", silent.local_addr()?))?;
    issuer.add_backchannel_logout("working", &working.uri())?;

    let deliveries = ended(issuer.end_session("alice", "s-1")).await;

    assert_eq!(deliveries.len(), 3);
    for delivery in &deliveries[..2] {
        assert!(
            matches!(&delivery.outcome, DeliveryOutcome::Failed { reason } if !reason.is_empty()),
            "{delivery:?}"
        );
        assert!(delivery.logout_token.is_some());
    }
    assert!(deliveries[2].is_delivered());
    assert_eq!(working.posts().len(), 1);
    // Every POST counts, answered or not.
    assert_eq!(issuer.logout_deliveries(), 3);
    drop(silent);
    Ok(())
}

#[tokio::test]
async fn a_token_that_cannot_be_signed_is_a_failed_delivery_and_no_post() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let receiver = Receiver::start(StatusCode::OK).await;
    issuer.add_backchannel_logout("my-app", &receiver.uri())?;
    assert!(issuer.retire(issuer.current_key(DevAlgorithm::RS256).kid()));

    let deliveries = ended(issuer.end_session("alice", "s-1")).await;

    assert!(
        matches!(&deliveries[0].outcome, DeliveryOutcome::Failed { reason } if reason.contains("sign")),
        "{deliveries:?}"
    );
    assert_eq!(deliveries[0].logout_token, None);
    assert!(receiver.posts().is_empty());
    assert_eq!(issuer.logout_deliveries(), 0);
    Ok(())
}

#[tokio::test]
async fn discovery_advertises_back_channel_logout() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let discovery: Value = reqwest::get(issuer.discovery_url()).await?.json().await?;
    assert_eq!(
        discovery["end_session_endpoint"],
        format!("{}/oidc/v1/end_session", issuer.issuer())
    );
    assert_eq!(
        issuer.end_session_endpoint(),
        discovery["end_session_endpoint"]
    );
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
    Ok(())
}

/// The end-session endpoint with this query.
fn end_session_url(issuer: &DevIssuer, query: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{}?{query}", issuer.end_session_endpoint())
}

/// A client that does not follow redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn rp_initiated_logout_sends_the_hinted_session() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let receiver = Receiver::start(StatusCode::OK).await;
    issuer.add_backchannel_logout("my-app", &receiver.uri())?;
    let id_token = issuer
        .token()
        .audience("my-app")
        .subject("alice")
        .session("s-9")
        .sign()?;

    // GET with a redirect: 302 there, with the state.
    let response = client()
        .get(end_session_url(
            &issuer,
            &[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "http://127.0.0.1:3000/bye?x=1"),
                ("state", "st 1"),
            ],
        ))
        .send()
        .await?;
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()[LOCATION],
        "http://127.0.0.1:3000/bye?x=1&state=st+1"
    );
    assert_logout_token(
        &issuer,
        "my-app",
        &receiver.only_token(),
        Some("alice"),
        Some("s-9"),
    )
    .await;

    // POST (form) without a redirect: 200; a hint without sid and expired
    // (RP-Initiated Logout 1.0 §2 accepts expired hints) ends the subject.
    let expired_hint = issuer.token().subject("bob").expired().sign()?;
    let response = client()
        .post(issuer.end_session_endpoint())
        .form(&[("id_token_hint", expired_hint.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await?, "logged out\n");
    let posts = receiver.posts();
    assert_eq!(posts.len(), 2);
    assert_logout_token(
        &issuer,
        "my-app",
        &posts[1].logout_token(),
        Some("bob"),
        None,
    )
    .await;
    assert_eq!(issuer.logout_deliveries(), 2);
    Ok(())
}

#[tokio::test]
async fn rp_initiated_logout_refusals() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let receiver = Receiver::start(StatusCode::OK).await;
    issuer.add_backchannel_logout("my-app", &receiver.uri())?;
    let hint = issuer.token().subject("alice").session("s-1").sign()?;
    let foreign = DevKey::generate(DevAlgorithm::RS256)?;
    let foreign_hint = issuer.token().signed_with(&foreign).sign()?;
    let other_issuer_hint = issuer.token().issuer("https://other.example").sign()?;
    let without_sub = issuer.token().remove_claim("sub").sign()?;
    let refused: [&[(&str, &str)]; 8] = [
        &[],
        &[("id_token_hint", "")],
        &[("id_token_hint", "not-a-jwt")],
        &[("id_token_hint", &foreign_hint)],
        &[("id_token_hint", &other_issuer_hint)],
        &[("id_token_hint", &without_sub)],
        &[
            ("id_token_hint", &hint),
            ("post_logout_redirect_uri", "https://rp.example/bye"),
        ],
        &[("id_token_hint", &hint), ("id_token_hint", &hint)],
    ];
    for query in refused {
        let response = client().get(end_session_url(&issuer, query)).send().await?;
        assert_eq!(response.status(), 400, "{query:?}");
        let response = client()
            .post(issuer.end_session_endpoint())
            .form(query)
            .send()
            .await?;
        assert_eq!(response.status(), 400, "{query:?}");
    }
    issuer.set_available(false);
    let response = client()
        .get(end_session_url(&issuer, &[("id_token_hint", &hint)]))
        .send()
        .await?;
    assert_eq!(response.status(), 503);
    assert!(receiver.posts().is_empty());
    assert_eq!(issuer.logout_deliveries(), 0);
    Ok(())
}

/// Logs the development user in at the hosted backend with `scope`; returns
/// the `Cookie` header of the session (`app.at`, `app.rt` with
/// `offline_access`).
async fn hosted_login(issuer: &DevIssuer, scope: &str) -> String {
    let (login_id, password) = FUSIONAUTH_DEV_USER;
    let response = client()
        .post(format!("{}/app/login/{FUSIONAUTH_APP_ID}", issuer.issuer()))
        .form(&[
            ("loginId", login_id),
            ("password", password),
            ("redirect_uri", "http://127.0.0.1:3000/profile.html"),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let callback = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let response = client().get(callback).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let cookies: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| {
            let value = value.to_str().unwrap();
            value.split(';').next().unwrap().to_owned()
        })
        .filter(|pair| pair.starts_with("app.at=") || pair.starts_with("app.rt="))
        .collect();
    cookies.join("; ")
}

/// The (sub, sid) of the `app.at` in a `Cookie` header.
fn access_token_session(cookie: &str) -> (String, String) {
    let token = cookie
        .split("; ")
        .find_map(|pair| pair.strip_prefix("app.at="))
        .unwrap();
    let claims = b64_json(token.split('.').nth(1).unwrap());
    (
        claims["sub"].as_str().unwrap().to_owned(),
        claims["sid"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn fusionauth_logout_sends_the_session_to_the_apps_receivers() -> TestResult {
    let issuer = DevIssuer::start().await?;
    issuer.add_fusionauth_app(FusionAuthApp::new(FUSIONAUTH_APP_ID));
    let this_app = Receiver::start(StatusCode::OK).await;
    let other_app = Receiver::start(StatusCode::OK).await;
    issuer.add_backchannel_logout(FUSIONAUTH_APP_ID, &this_app.uri())?;
    issuer.add_backchannel_logout("another-app", &other_app.uri())?;
    let logout_url = format!("{}/app/logout/{FUSIONAUTH_APP_ID}", issuer.issuer());

    // With app.rt (offline_access): the refresh token's session.
    let cookie = hosted_login(&issuer, "openid offline_access").await;
    assert!(cookie.contains("app.rt="), "{cookie}");
    let (sub, sid) = access_token_session(&cookie);
    let response = client()
        .get(&logout_url)
        .header(COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(response.status(), 302);
    assert_logout_token(
        &issuer,
        FUSIONAUTH_APP_ID,
        &this_app.only_token(),
        Some(&sub),
        Some(&sid),
    )
    .await;
    assert!(other_app.posts().is_empty());

    // With app.at only (no offline_access): the access token's session.
    let cookie = hosted_login(&issuer, "openid").await;
    assert!(!cookie.contains("app.rt="), "{cookie}");
    let (sub_2, sid_2) = access_token_session(&cookie);
    assert_ne!(sid_2, sid);
    let response = client()
        .get(&logout_url)
        .header(COOKIE, &cookie)
        .send()
        .await?;
    assert_eq!(response.status(), 302);
    let posts = this_app.posts();
    assert_eq!(posts.len(), 2);
    assert_logout_token(
        &issuer,
        FUSIONAUTH_APP_ID,
        &posts[1].logout_token(),
        Some(&sub_2),
        Some(&sid_2),
    )
    .await;

    // Without a session (no cookies, or an unknown refresh token): nothing is sent.
    let response = client().get(&logout_url).send().await?;
    assert_eq!(response.status(), 302);
    let response = client()
        .get(&logout_url)
        .header(COOKIE, "app.rt=unknown; app.at=not-a-token")
        .send()
        .await?;
    assert_eq!(response.status(), 302);
    assert_eq!(this_app.posts().len(), 2);
    assert_eq!(issuer.logout_deliveries(), 2);
    Ok(())
}

#[tokio::test]
async fn crafted_logout_tokens() -> TestResult {
    let issuer = DevIssuer::start().await?;
    let valid = issuer
        .logout_token()
        .audience("my-app")
        .subject("alice")
        .session("s-1")
        .sign()?;
    let claims = assert_logout_token(&issuer, "my-app", &valid, Some("alice"), Some("s-1")).await;
    assert_ne!(jti(&claims), "");

    let defaults = issuer.logout_token().claims();
    assert_eq!(defaults["aud"], "dev-api");
    assert_eq!(defaults["sub"], "dev-user");
    assert!(defaults.get("sid").is_none());

    let crafted = issuer
        .logout_token()
        .issued_at(1_000)
        .expires_at(2_000)
        .jti("same-jti")
        .nonce("n-1")
        .claim("extra", 7)
        .remove_claim("sub")
        .claims();
    assert_eq!(crafted["iat"], 1_000);
    assert_eq!(crafted["exp"], 2_000);
    assert_eq!(crafted["jti"], "same-jti");
    assert_eq!(crafted["nonce"], "n-1");
    assert_eq!(crafted["extra"], 7);
    assert!(crafted.get("sub").is_none());

    assert!(
        issuer
            .logout_token()
            .without_events()
            .claims()
            .get("events")
            .is_none()
    );
    let events = json!({ "http://schemas.openid.net/event/other": {} });
    assert_eq!(
        issuer.logout_token().events(events.clone()).claims()["events"],
        events
    );

    let typ = issuer.logout_token().typ("JWT").sign()?;
    assert_eq!(header_of(&typ)["typ"], "JWT");
    let no_typ = issuer.logout_token().remove_header("typ").sign()?;
    assert!(header_of(&no_typ).get("typ").is_none());
    let es256 = issuer
        .logout_token()
        .algorithm(DevAlgorithm::ES256)
        .sign()?;
    assert_eq!(header_of(&es256)["alg"], "ES256");
    let foreign = DevKey::generate(DevAlgorithm::RS256)?;
    let foreign_token = issuer.logout_token().signed_with(&foreign).sign()?;
    assert_eq!(header_of(&foreign_token)["kid"], foreign.kid());
    assert_eq!(header_of(&foreign_token)["typ"], "logout+jwt");
    Ok(())
}

#[tokio::test]
async fn access_tokens_carry_a_session() -> TestResult {
    let issuer = DevIssuer::start().await?;
    assert_eq!(issuer.token().session("s-1").claims()["sid"], "s-1");
    assert!(issuer.token().claims().get("sid").is_none());
    Ok(())
}
