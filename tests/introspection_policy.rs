//! `IntrospectionVerifier` against a scripted RFC 7662 endpoint on 127.0.0.1 that answers like
//! Keycloak (`active: true` for any token it knows, whatever its audience or type), can be made
//! slow, and counts its calls (per token, and in flight at once):
//! - the audience policy is stated and enforced; tokens that are not access tokens are refused;
//! - a flood of made-up tokens keeps the calls in flight under the bound, is answered at once
//!   (503 with `Retry-After`) beyond it, and does not disturb cached tokens;
//! - refusals are cached apart from active answers, so a flood of them evicts none;
//! - `MultiIssuer`'s fallback shape refuses tokens locally, with no call to the provider.
//!
//! The elapsed times are bounds (nothing waits past the timeout), not performance assertions.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Answer, TestApp};
use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};
use tower_authz::{
    AudienceCheck, AuthLayer, ClientAuth, ConfigErrorKind, IntrospectionVerifier, MultiIssuer,
};

/// The verifiers' timeout for one introspection call (the default).
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long the provider takes per answer during the flood.
const SLOW: Duration = Duration::from_secs(2);
/// Upper bound for any answer during the flood: the timeout plus a generous margin for a loaded
/// debug build.
const ANSWER_BOUND: Duration = Duration::from_secs(TIMEOUT.as_secs() + 4);

// ---------------------------------------------------------------------------------------------
// The scripted provider
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct ProviderState {
    /// Active tokens and the members of their answers (beyond `active`, `sub` and `exp`).
    active: Mutex<HashMap<String, Map<String, Value>>>,
    delay: Mutex<Duration>,
    calls: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts a call out of flight however the handler ends (answered, or dropped by a client that
/// gave up).
struct InFlight(Arc<ProviderState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Provider {
    state: Arc<ProviderState>,
    base: String,
    _task: Aborted,
}

struct Aborted(tokio::task::JoinHandle<()>);

impl Drop for Aborted {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn introspect(State(state): State<Arc<ProviderState>>, body: Bytes) -> axum::Json<Value> {
    let token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    state.total.fetch_add(1, Ordering::SeqCst);
    *lock(&state.calls).entry(token.clone()).or_default() += 1;
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(Arc::clone(&state));
    let delay = *lock(&state.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let members = lock(&state.active).get(&token).cloned();
    axum::Json(match members {
        Some(members) => {
            let mut answer = json!({
                "active": true,
                "sub": "alice",
                "client_id": "some-client",
                "exp": unix_now() + 3600,
            });
            if let Some(map) = answer.as_object_mut() {
                map.extend(members);
            }
            answer
        }
        None => json!({ "active": false }),
    })
}

impl Provider {
    async fn start() -> Provider {
        let state = Arc::new(ProviderState::default());
        let router = Router::new()
            .route("/introspect", post(introspect))
            .with_state(Arc::clone(&state));
        let (base, task) = common::serve(router).await;
        Provider {
            state,
            base,
            _task: Aborted(task),
        }
    }

    fn endpoint(&self) -> String {
        format!("{}/introspect", self.base)
    }

    /// A fresh token the provider calls active, with these answer members.
    fn token_with(&self, members: Value) -> String {
        let token = random_token();
        let members = match members {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        lock(&self.state.active).insert(token.clone(), members);
        token
    }

    /// A fresh active access token for `audience`.
    fn token_for(&self, audience: &str) -> String {
        self.token_with(json!({ "aud": [audience], "token_type": "Bearer" }))
    }

    fn set_delay(&self, delay: Duration) {
        *lock(&self.state.delay) = delay;
    }

    fn calls(&self, token: &str) -> usize {
        lock(&self.state.calls).get(token).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.state.total.load(Ordering::SeqCst)
    }

    fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    fn verifier(&self, audience: impl Into<AudienceCheck>) -> IntrospectionVerifier {
        IntrospectionVerifier::new(
            self.base.as_str(),
            self.endpoint(),
            ClientAuth::basic("orders-api", "secret"),
            audience,
        )
        .expect("verifier")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// 32 random bytes, base64url: the shape of many providers' opaque tokens (43 characters).
fn random_token() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("random");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One GET with a shared client (the flood opens many connections; one pool for all of them).
async fn get(client: &reqwest::Client, url: &str, token: &str) -> Answer {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let header = |name: http::HeaderName| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let challenge = header(http::header::WWW_AUTHENTICATE);
    let retry_after = header(http::header::RETRY_AFTER);
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        challenge,
        retry_after,
        body,
    }
}

// ---------------------------------------------------------------------------------------------
// Item 6: the audience policy and the token type
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_of_another_client_is_refused_unless_the_audience_is_left_to_the_provider() {
    let provider = Provider::start().await;
    // Keycloak-like: active for any token of the realm, whichever client it was issued to.
    let ours = provider.token_for("orders-api");
    let theirs = provider.token_for("billing-spa");

    let checked = TestApp::start(AuthLayer::new(provider.verifier("orders-api"))).await;
    assert_eq!(checked.get("/whoami", Some(&ours)).await.status, 200);
    checked
        .get("/whoami", Some(&theirs))
        .await
        .assert_refused(401, "invalid_token");

    let several = TestApp::start(AuthLayer::new(
        provider.verifier(AudienceCheck::any_of(["account", "orders-api"])),
    ))
    .await;
    assert_eq!(several.get("/whoami", Some(&ours)).await.status, 200);
    several
        .get("/whoami", Some(&theirs))
        .await
        .assert_refused(401, "invalid_token");

    // The named opt-out does what it says: the provider's word is taken (right for ZITADEL,
    // which would have answered `active: false` here; wrong for this provider).
    let trusting = TestApp::start(AuthLayer::new(
        provider.verifier(AudienceCheck::left_to_provider()),
    ))
    .await;
    assert_eq!(trusting.get("/whoami", Some(&theirs)).await.status, 200);
}

#[test]
fn an_audience_check_naming_no_audience_is_a_configuration_error() {
    for audience in [
        AudienceCheck::any_of(Vec::<String>::new()),
        AudienceCheck::from(""),
    ] {
        let error = IntrospectionVerifier::new(
            "https://id.example.com",
            "https://id.example.com/introspect",
            ClientAuth::basic("api", "secret"),
            audience,
        )
        .expect_err("no audience");
        assert_eq!(error.kind(), ConfigErrorKind::InvalidValue);
    }
}

#[tokio::test]
async fn only_access_tokens_are_accepted() {
    let provider = Provider::start().await;
    let app = TestApp::start(AuthLayer::new(provider.verifier("orders-api"))).await;
    let refused = [
        json!("Refresh"),
        json!("refresh_token"),
        json!("urn:ietf:params:oauth:token-type:refresh_token"),
        json!("id_token"),
        json!("urn:ietf:params:oauth:token-type:id_token"),
        json!("N_A"),
        json!(""),
        json!(42),
        json!(null),
    ];
    for token_type in refused {
        let token = provider.token_with(json!({ "aud": "orders-api", "token_type": token_type }));
        let answer = app.get("/whoami", Some(&token)).await;
        assert_eq!(answer.status, 401, "token_type {token_type}: {answer:?}");
        answer.assert_refused(401, "invalid_token");
    }
    let accepted = [
        json!("Bearer"),
        json!("bearer"),
        json!("DPoP"),
        json!("access_token"),
        json!("urn:ietf:params:oauth:token-type:access_token"),
        json!("URN:IETF:PARAMS:OAUTH:TOKEN-TYPE:ACCESS_TOKEN"),
    ];
    for token_type in accepted {
        let token = provider.token_with(json!({ "aud": "orders-api", "token_type": token_type }));
        let answer = app.get("/whoami", Some(&token)).await;
        assert_eq!(answer.status, 200, "token_type {token_type}: {answer:?}");
    }
    // No token_type at all (it is optional in RFC 7662): accepted.
    let token = provider.token_with(json!({ "aud": "orders-api" }));
    assert_eq!(app.get("/whoami", Some(&token)).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Item 7: floods of made-up tokens
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_tokens_keeps_calls_bounded_and_cached_tokens_served() {
    const BOUND: usize = 16;
    const FLOOD: usize = 1000;
    let provider = Provider::start().await;
    let verifier = provider
        .verifier("orders-api")
        .with_max_concurrent_calls(BOUND)
        .expect("bound");
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let url = format!("{}/whoami", app.base);
    let client = common::client();
    let valid = provider.token_for("orders-api");
    assert_eq!(get(&client, &url, &valid).await.status, 200, "cached");

    provider.set_delay(SLOW);
    let flooding = Arc::new(AtomicBool::new(true));
    // The cached token, sent again and again while the flood lasts.
    let steady = {
        let (client, url, valid, flooding) = (
            client.clone(),
            url.clone(),
            valid.clone(),
            Arc::clone(&flooding),
        );
        tokio::spawn(async move {
            let mut answers = Vec::new();
            while flooding.load(Ordering::SeqCst) {
                let started = Instant::now();
                let answer = get(&client, &url, &valid).await;
                answers.push((answer, started.elapsed()));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answers
        })
    };
    let flood = (0..FLOOD).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = get(&client, &url, &random_token()).await;
            (answer, started.elapsed())
        })
    });
    let answers: Vec<(Answer, Duration)> = futures_util::future::join_all(flood)
        .await
        .into_iter()
        .map(|joined| joined.expect("flood request"))
        .collect();
    flooding.store(false, Ordering::SeqCst);
    let steady = steady.await.expect("steady requests");

    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for (answer, elapsed) in &answers {
        *statuses.entry(answer.status.as_u16()).or_default() += 1;
        assert!(*elapsed < ANSWER_BOUND, "{elapsed:?}: {answer:?}");
        match answer.status.as_u16() {
            // Asked of the provider: inactive.
            401 => answer.assert_refused(401, "invalid_token"),
            // Beyond the bound: at once, with Retry-After.
            503 => assert!(answer.retry_after.is_some(), "{answer:?}"),
            _ => panic!("unexpected answer during the flood: {answer:?}"),
        }
    }
    println!(
        "{FLOOD} made-up tokens, provider {SLOW:?} per answer, bound {BOUND}: {statuses:?}, \
         {} calls to the provider, at most {} in flight; the cached token answered {} times",
        provider.total(),
        provider.max_in_flight(),
        steady.len()
    );
    assert!(
        provider.max_in_flight() <= BOUND,
        "{} calls in flight at once, bound {BOUND}",
        provider.max_in_flight()
    );
    assert!(statuses.get(&503).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert!(!steady.is_empty());
    for (answer, elapsed) in &steady {
        assert_eq!(
            answer.status, 200,
            "cached token during the flood: {answer:?}"
        );
        assert!(*elapsed < ANSWER_BOUND, "{elapsed:?}");
    }
    assert_eq!(
        provider.calls(&valid),
        1,
        "the cached token was not asked again"
    );

    // Every permit came back: a new token is introspected once the provider is quick again.
    provider.set_delay(Duration::ZERO);
    let fresh = provider.token_for("orders-api");
    assert_eq!(get(&client, &url, &fresh).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_inactive_tokens_does_not_evict_a_cached_active_token() {
    const CAPACITY: u64 = 50;
    const FLOOD: usize = 2000;
    let provider = Provider::start().await;
    let verifier = provider
        .verifier("orders-api")
        .with_cache(Duration::from_secs(60), CAPACITY)
        .with_negative_cache(Duration::from_secs(60), CAPACITY);
    let app = TestApp::start(AuthLayer::new(verifier)).await;
    let url = format!("{}/whoami", app.base);
    let client = common::client();
    let active = provider.token_for("orders-api");
    assert_eq!(get(&client, &url, &active).await.status, 200);

    // Forty times the capacity in distinct inactive tokens, each sent three times (so that each
    // is seen more often than the active token was, and would win a shared cache's admission).
    let requests = (0..FLOOD).flat_map(|_| {
        let token = random_token();
        [token.clone(), token.clone(), token]
    });
    let statuses: Vec<u16> = futures_util::stream::iter(requests)
        .map(|token| {
            let (client, url) = (client.clone(), url.clone());
            async move { get(&client, &url, &token).await.status.as_u16() }
        })
        .buffered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|&s| s == 401), "all inactive");

    assert_eq!(get(&client, &url, &active).await.status, 200);
    assert_eq!(
        provider.calls(&active),
        1,
        "the active token was evicted by the refusals"
    );
}

#[tokio::test]
async fn the_fallback_shape_refuses_other_tokens_without_asking_the_provider() {
    let provider = Provider::start().await;
    let opaque = |token: &str| {
        (32..=128).contains(&token.len())
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let verifier = MultiIssuer::new().with_fallback_for(provider.verifier("orders-api"), opaque);
    let app = TestApp::start(AuthLayer::new(verifier)).await;

    let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let jwt_of_unknown_issuer = format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(json!({"iss": "https://unknown.example", "sub": "mallory", "exp": unix_now() + 60})),
        URL_SAFE_NO_PAD.encode([7u8; 64]),
    );
    let misshapen = [
        "abc".to_owned(),
        jwt_of_unknown_issuer,
        "a".repeat(129),
        format!("{}~", "a".repeat(40)),
    ];
    for token in &misshapen {
        let answer = app.get("/whoami", Some(token)).await;
        answer.assert_refused(401, "invalid_token");
    }
    assert_eq!(provider.total(), 0, "refused locally");

    let active = provider.token_for("orders-api");
    assert_eq!(app.get("/whoami", Some(&active)).await.status, 200);
    assert_eq!(provider.total(), 1);
}

#[tokio::test]
async fn a_zero_bound_on_concurrent_calls_is_a_configuration_error() {
    let provider = Provider::start().await;
    let error = provider
        .verifier("orders-api")
        .with_max_concurrent_calls(0)
        .expect_err("zero");
    assert_eq!(error.kind(), ConfigErrorKind::InvalidValue);
}
