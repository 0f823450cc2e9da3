//! What verification costs per request, as ratios within one run:
//!
//! - `floor/*`: a hand-written axum middleware per algorithm (split, base64-decode, aws-lc-rs
//!   verify with a pre-parsed key, one claims parse into a `serde_json::Value`, claim checks);
//! - `floor-typed/*`: the same middleware with the header and claims deserialized into fixed
//!   structs of borrowed fields (`Cow<str>`, copied only where a JSON escape forces it) and the
//!   signature decoded on the stack: the least a correct middleware can do;
//! - `layer/*`: `AuthLayer` through the same `Router`, uncached (signature checked every time)
//!   and cached (verified-token cache hit), the same hit with a metrics recorder collecting
//!   (`layer/cached-metrics`, feature `metrics`), the same hit behind a `MultiIssuer`, and an
//!   introspection cache hit (`layer/introspection-cached`), a miss answered by the provider
//!   (`layer/introspection-miss`: a new opaque token each iteration, introspected by the
//!   development issuer over loopback), and a local miss answered by Redis
//!   (`layer/introspection-redis-hit`, feature `redis`, when `redis-server` is installed);
//!   `layer/dpop-ES256` and `layer/dpop-cached`: a DPoP request
//!   (RFC 9449: the ES256 proof checked, the replay cache written, then the ES256 token uncached
//!   or from the cache, and its `cnf.jkt`), beside `layer/ES256` and `layer/cached` (a fresh
//!   proof per iteration, made outside the timing);
//! - `refusal/*`: tokens the layer refuses (expired, wrong `iss`, unknown `kid`, not a JWT,
//!   forged signature, too large), through the `layer/RS256` router: what attack traffic costs;
//! - `verifier/*`: the verifiers alone, without HTTP;
//! - `baseline/no-auth`: the router with no authentication at all;
//! - `throughput/*`: requests on a multi-threaded runtime with 1 and with 2 worker threads;
//! - `policy/*`: one policy decision alone (`Policy::evaluate`, no HTTP), for a user's token
//!   allowed to `GET /api/todolist`: `policy/rust` the Rust rule `scope_or_role`,
//!   `policy/cedar-small` the 5 Cedar policies of examples/todolist.cedar, `policy/cedar-100`
//!   100 Cedar policies that all apply to the action (each condition evaluated), the last one
//!   allowing (feature `cedar`: `cargo bench --bench verify --features cedar,introspection --
//!   '^policy/'`).
//!
//! Run with `cargo bench --bench verify`; `python3 scripts/bench-report` prints the table and
//! ratios of BENCHMARKS.md from the results.

use std::borrow::Cow;
use std::fmt;
use std::hint::black_box;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use axum::Router;
use axum::body::Body;
use axum::extract::Request as AxumRequest;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, StatusCode};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::Value;
use tower::{Service, ServiceExt};
use tower_authz::{
    AudienceCheck, AuthError, AuthLayer, ClientAuth, DpopPolicy, IntrospectionVerifier,
    JwksVerifier, JwtVerifier, MultiIssuer, Revocable, Revocations, Verifier,
};
use tower_authz_dev::{DevAlgorithm, DevClient, DevIssuer, DevKey};

const AUDIENCE: &str = "dev-api";
const HMAC_SECRET: &[u8] = b"bench-hmac-secret-of-at-least-32-bytes!!";

/// The hand-written floor: one pre-parsed key, nothing configurable.
#[derive(Clone)]
struct Floor {
    check: Arc<FloorKey>,
    alg: &'static str,
    issuer: Arc<str>,
}

enum FloorKey {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

impl Floor {
    fn signature_valid(&self, signing_input: &str, signature: &[u8]) -> bool {
        match &*self.check {
            FloorKey::Public(key) => key.verify_sig(signing_input.as_bytes(), signature).is_ok(),
            FloorKey::Hmac(key) => hmac::verify(key, signing_input.as_bytes(), signature).is_ok(),
        }
    }

    /// `floor/*`: header and claims parsed into `serde_json::Value`s.
    fn verify(&self, token: &str) -> Option<Value> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header.get("alg")?.as_str()? != self.alg {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        if !self.signature_valid(signing_input, &signature) {
            return None;
        }
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let fresh = claims.get("exp")?.as_u64()? + 60 > now;
        let ours = claims.get("iss")?.as_str()? == &*self.issuer;
        let for_us = match claims.get("aud")? {
            Value::String(aud) => aud == AUDIENCE,
            Value::Array(auds) => auds.iter().any(|a| a == AUDIENCE),
            _ => false,
        };
        (fresh && ours && for_us).then_some(claims)
    }

    /// `floor-typed/*`: the same checks, the header and claims deserialized into fixed structs
    /// of borrowed fields, the header and signature decoded into stack buffers, and only the
    /// fields a handler reads copied into the extensions. Header and claims must be UTF-8
    /// throughout (RFC 7515 §5.2, RFC 7519 §7.2), as the layer requires.
    fn verify_typed(&self, token: &str) -> Option<FloorClaims> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let mut header_buf = [0u8; 1024];
        let header = decode_into(header, &mut header_buf)?;
        let header: TypedHeader<'_> =
            serde_json::from_str(std::str::from_utf8(header).ok()?).ok()?;
        if header.alg != self.alg {
            return None;
        }
        let mut signature_buf = [0u8; 1024];
        let signature = decode_into(signature, &mut signature_buf)?;
        if !self.signature_valid(signing_input, signature) {
            return None;
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let claims: TypedClaims<'_> =
            serde_json::from_str(std::str::from_utf8(&payload).ok()?).ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        let fresh = claims.exp.0.saturating_add(LEEWAY) > now
            && claims
                .nbf
                .as_ref()
                .is_none_or(|nbf| nbf.0 <= now.saturating_add(LEEWAY));
        let ours = claims.iss == *self.issuer;
        let for_us = match &claims.aud {
            Audience::One(aud) => aud == AUDIENCE,
            Audience::Many(auds) => auds.iter().any(|aud| aud.0 == AUDIENCE),
        };
        (fresh && ours && for_us).then(|| FloorClaims::from(claims))
    }
}

/// The clock skew allowed on `exp` and `nbf`, as the layer's default.
const LEEWAY: u64 = 60;

/// Decodes base64url (no padding) into `buf`; `None` if malformed or too long for `buf`.
fn decode_into<'b>(input: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let n = URL_SAFE_NO_PAD.decode_slice(input, buf).ok()?;
    buf.get(..n)
}

/// The typed floor's header: only `alg` is read, borrowed.
#[derive(Deserialize)]
struct TypedHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
}

/// A string borrowed from the JSON text, or copied when it has escapes. A newtype because serde
/// borrows a `Cow<str>` only as a field marked `borrow`, not inside an `Option` or a `Vec`.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The typed floor's claims. Other members (`iat`, `jti`, ...) are skipped unread; a duplicate
/// member is an error (a `Value` keeps the last one).
#[derive(Deserialize)]
struct TypedClaims<'a> {
    #[serde(borrow)]
    iss: Cow<'a, str>,
    #[serde(borrow)]
    aud: Audience<'a>,
    exp: NumericDate,
    #[serde(default)]
    nbf: Option<NumericDate>,
    #[serde(borrow, default)]
    sub: Option<Text<'a>>,
    #[serde(borrow, default)]
    scope: Option<Text<'a>>,
    #[serde(borrow, default)]
    roles: Vec<Text<'a>>,
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
enum Audience<'a> {
    One(Cow<'a, str>),
    Many(Vec<Text<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor<'a>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for AudienceVisitor<'a> {
            type Value = Audience<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_borrowed_str<E: de::Error>(self, aud: &'de str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Borrowed(aud)))
            }

            fn visit_str<E: de::Error>(self, aud: &str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Owned(aud.to_owned())))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut auds = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(aud) = seq.next_element()? {
                    auds.push(aud);
                }
                Ok(Audience::Many(auds))
            }
        }

        deserializer.deserialize_any(AudienceVisitor(PhantomData))
    }
}

/// A NumericDate (RFC 7519 §2): a non-negative number of seconds, fractions dropped, as the
/// layer reads it.
struct NumericDate(u64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DateVisitor;

        impl Visitor<'_> for DateVisitor {
            type Value = NumericDate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number of seconds")
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
                Ok(NumericDate(seconds))
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
                u64::try_from(seconds)
                    .map(NumericDate)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(seconds), &self))
            }

            fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Self::Value, E> {
                if seconds.is_finite() && seconds >= 0.0 {
                    // `as` saturates: a date past `u64::MAX` reads as `u64::MAX`, as in the layer.
                    Ok(NumericDate(seconds as u64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(seconds), &self))
                }
            }
        }

        deserializer.deserialize_any(DateVisitor)
    }
}

/// What the typed floor hands to the handler: the fields it reads, owned.
#[derive(Clone)]
#[allow(dead_code)] // Read by no handler here; their copy is part of the cost.
struct FloorClaims {
    sub: Option<Box<str>>,
    scope: Option<Box<str>>,
    roles: Box<[Box<str>]>,
    exp: u64,
}

impl From<TypedClaims<'_>> for FloorClaims {
    fn from(claims: TypedClaims<'_>) -> Self {
        let owned = |text: Cow<'_, str>| text.into_owned().into_boxed_str();
        Self {
            sub: claims.sub.map(|sub| owned(sub.0)),
            scope: claims.scope.map(|scope| owned(scope.0)),
            roles: claims.roles.into_iter().map(|role| owned(role.0)).collect(),
            exp: claims.exp.0,
        }
    }
}

/// Checks, once before the typed floor is measured, that it borrows where it can and reads
/// escaped strings correctly.
fn check_typed_claims() {
    let plain = r#"{"iss":"https://id.example","aud":["a","dev-api"],"exp":1.5e9,"sub":"u1","scope":"read write","roles":["viewer"],"jti":"x"}"#;
    let claims: TypedClaims<'_> = serde_json::from_str(plain).expect("plain claims");
    assert!(matches!(claims.iss, Cow::Borrowed("https://id.example")));
    assert!(
        matches!(&claims.aud, Audience::Many(auds) if matches!(auds[1].0, Cow::Borrowed("dev-api")))
    );
    assert_eq!(claims.exp.0, 1_500_000_000);
    assert!(matches!(claims.sub, Some(Text(Cow::Borrowed("u1")))));
    assert!(matches!(claims.roles[..], [Text(Cow::Borrowed("viewer"))]));
    let escaped = r#"{"iss":"https:\/\/id.example","aud":"dev\u002dapi","exp":1,"nbf":0,"sub":"a\"b","roles":["vi\u00e9wer"]}"#;
    let claims: TypedClaims<'_> = serde_json::from_str(escaped).expect("escaped claims");
    assert_eq!(claims.iss, "https://id.example");
    assert!(matches!(&claims.aud, Audience::One(aud) if aud == AUDIENCE));
    assert_eq!(claims.sub.map(|sub| sub.0).as_deref(), Some("a\"b"));
    assert_eq!(claims.roles[0].0, "viéwer");
    for refused in [
        r#"{"iss":"i","aud":"dev-api","exp":-1}"#,
        r#"{"iss":"i","aud":"dev-api"}"#,
        r#"{"iss":"i","aud":7,"exp":1}"#,
        r#"{"iss":"i","iss":"j","aud":"dev-api","exp":1}"#,
    ] {
        assert!(
            serde_json::from_str::<TypedClaims<'_>>(refused).is_err(),
            "{refused}"
        );
    }
}

/// Runs `next` with the claims `verify` found for the bearer token, or answers 401.
async fn guard<C: Clone + Send + Sync + 'static>(
    mut request: AxumRequest,
    next: Next,
    verify: impl FnOnce(&str) -> Option<C>,
) -> Response {
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(verify) {
        Some(claims) => {
            request.extensions_mut().insert(claims);
            next.run(request).await
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn floor_middleware(
    axum::extract::State(floor): axum::extract::State<Floor>,
    request: AxumRequest,
    next: Next,
) -> Response {
    guard(request, next, |token| floor.verify(token)).await
}

async fn floor_typed_middleware(
    axum::extract::State(floor): axum::extract::State<Floor>,
    request: AxumRequest,
    next: Next,
) -> Response {
    guard(request, next, |token| floor.verify_typed(token)).await
}

fn public_floor(issuer: &DevIssuer, alg: DevAlgorithm) -> Floor {
    let jwk = issuer.current_key(alg).public_jwk();
    let b64 = |field: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[field].as_str().unwrap_or_default())
            .unwrap_or_default()
    };
    let key = match alg {
        DevAlgorithm::RS256 => RsaPublicKeyComponents {
            n: b64("n"),
            e: b64("e"),
        }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("rsa key"),
        DevAlgorithm::ES256 => {
            let mut point = vec![4];
            point.extend(b64("x"));
            point.extend(b64("y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).expect("ec key")
        }
        DevAlgorithm::EdDSA => {
            ParsedPublicKey::new(&signature::ED25519, b64("x")).expect("ed25519 key")
        }
    };
    Floor {
        check: Arc::new(FloorKey::Public(key)),
        alg: alg.as_str(),
        issuer: issuer.issuer().into(),
    }
}

fn hs256_token(issuer: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"iss": issuer, "aud": AUDIENCE, "sub": "bench", "exp": now + 3600, "roles": ["viewer"]})
            .to_string(),
    );
    let input = format!("{header}.{claims}");
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, HMAC_SECRET),
        input.as_bytes(),
    );
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn router() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

fn request(bearer: &HeaderValue) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = http::Uri::from_static("/");
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, bearer.clone());
    request
}

async fn call(app: &Router, bearer: &HeaderValue) {
    call_expecting(app, bearer, StatusCode::OK).await
}

async fn call_expecting(app: &Router, bearer: &HeaderValue, status: StatusCode) {
    let response = app
        .clone()
        .oneshot(request(bearer))
        .await
        .expect("response");
    assert_eq!(response.status(), status);
}

/// A DPoP client of the benches: its proof key and a token of the development issuer bound to
/// it, for `GET http://bench.example/`.
struct DpopClient {
    key: DevKey,
    token: String,
    authorization: HeaderValue,
    /// Makes each `jti` unique.
    proofs: std::sync::atomic::AtomicU64,
}

impl DpopClient {
    fn new(issuer: &DevIssuer) -> Self {
        let key = DevKey::generate(DevAlgorithm::ES256).expect("key");
        let jkt = tower_authz::dpop::jwk_thumbprint(&key.public_jwk()).expect("thumbprint");
        let token = issuer
            .token()
            .algorithm(DevAlgorithm::ES256)
            .roles(["viewer"])
            .claim("cnf", serde_json::json!({ "jkt": jkt }))
            .sign()
            .expect("token");
        let authorization = HeaderValue::from_str(&format!("DPoP {token}")).expect("header");
        Self {
            key,
            token,
            authorization,
            proofs: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A request with a fresh proof.
    fn request(&self) -> Request<Body> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        let ath = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.token.as_bytes());
        let header =
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.public_jwk()});
        let claims = serde_json::json!({
            "htm": "GET",
            "htu": "http://bench.example/",
            "iat": now.as_secs(),
            "jti": self.proofs.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string(),
            "ath": URL_SAFE_NO_PAD.encode(ath),
        });
        let proof = self
            .key
            .sign_jws(header.as_object().expect("object"), &claims)
            .expect("proof");
        let mut request = request(&self.authorization);
        let headers = request.headers_mut();
        headers.insert(
            http::header::HOST,
            HeaderValue::from_static("bench.example"),
        );
        headers.insert("dpop", HeaderValue::from_str(&proof).expect("header"));
        request
    }
}

async fn call_with(app: &Router, request: Request<Body>) {
    let response = app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

struct Setup {
    issuer: DevIssuer,
    tokens: Vec<(DevAlgorithm, String)>,
    jwks: Arc<JwksVerifier>,
    jwks_uncached: Arc<JwksVerifier>,
}

async fn setup() -> Setup {
    let issuer = DevIssuer::start().await.expect("issuer");
    let jwks = JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier");
    jwks.fetch_keys().await.expect("keys");
    let jwks_uncached = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .without_verified_cache();
    jwks_uncached.fetch_keys().await.expect("keys");
    let tokens = DevAlgorithm::ALL
        .iter()
        .map(|alg| {
            let token = issuer
                .token()
                .algorithm(*alg)
                .roles(["viewer"])
                .sign()
                .expect("token");
            (*alg, token)
        })
        .collect();
    Setup {
        issuer,
        tokens,
        jwks: Arc::new(jwks),
        jwks_uncached: Arc::new(jwks_uncached),
    }
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("header")
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = runtime.block_on(setup());
    let hs_token = hs256_token(s.issuer.issuer());
    let hs_verifier = JwtVerifier::new(s.issuer.issuer(), AUDIENCE)
        .with_hmac_secret(HMAC_SECRET)
        .expect("secret")
        .without_verified_cache();

    let mut group = c.benchmark_group("verifier");
    for (alg, token) in &s.tokens {
        group.bench_function(format!("{alg}"), |b| {
            b.to_async(&runtime).iter(|| async {
                s.jwks_uncached
                    .verify(black_box(token))
                    .await
                    .expect("valid")
            })
        });
    }
    group.bench_function("HS256", |b| {
        b.iter(|| {
            hs_verifier
                .verify(black_box(&hs_token))
                .into_ready()
                .expect("fixed keys answer at once")
                .expect("valid")
        })
    });
    group.bench_function("cached", |b| {
        let token = &s.tokens[0].1;
        b.to_async(&runtime)
            .iter(|| async { s.jwks.verify(black_box(token)).await.expect("valid") })
    });
    group.finish();

    let mut floors = Vec::new();
    for (alg, token) in &s.tokens {
        floors.push((
            alg.to_string(),
            public_floor(&s.issuer, *alg),
            token.clone(),
        ));
    }
    let hs_floor = Floor {
        check: Arc::new(FloorKey::Hmac(Box::new(hmac::Key::new(
            hmac::HMAC_SHA256,
            HMAC_SECRET,
        )))),
        alg: "HS256",
        issuer: s.issuer.issuer().into(),
    };
    floors.push(("HS256".to_owned(), hs_floor, hs_token.clone()));
    check_typed_claims();
    for (group_name, typed) in [("floor", false), ("floor-typed", true)] {
        let mut group = c.benchmark_group(group_name);
        for (name, floor, token) in &floors {
            let app = match typed {
                false => router().layer(middleware::from_fn_with_state(
                    floor.clone(),
                    floor_middleware,
                )),
                true => router().layer(middleware::from_fn_with_state(
                    floor.clone(),
                    floor_typed_middleware,
                )),
            };
            let bearer = bearer(token);
            group.bench_function(name.as_str(), |b| {
                b.to_async(&runtime).iter(|| call(&app, &bearer))
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("layer");
    for (alg, token) in &s.tokens {
        let app = router().layer(AuthLayer::from_arc(s.jwks_uncached.clone()));
        let bearer = bearer(token);
        group.bench_function(format!("{alg}"), |b| {
            b.to_async(&runtime).iter(|| call(&app, &bearer))
        });
    }
    let hs_app = router().layer(AuthLayer::new(
        JwtVerifier::new(s.issuer.issuer(), AUDIENCE)
            .with_hmac_secret(HMAC_SECRET)
            .expect("secret")
            .without_verified_cache(),
    ));
    let hs_bearer = bearer(&hs_token);
    group.bench_function("HS256", |b| {
        b.to_async(&runtime).iter(|| call(&hs_app, &hs_bearer))
    });
    let cached_app = router().layer(AuthLayer::from_arc(s.jwks.clone()));
    let rs_bearer = bearer(&s.tokens[0].1);
    group.bench_function("cached", |b| {
        b.to_async(&runtime).iter(|| call(&cached_app, &rs_bearer))
    });
    // The same hit with a metrics recorder collecting: the Prometheus one, set for this thread
    // only (the other benches run with none). Feature `metrics`: `cargo bench --bench verify
    // --features metrics,introspection -- layer/cached`.
    #[cfg(feature = "metrics")]
    {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        group.bench_function("cached-metrics", |b| {
            let _local = metrics::set_default_local_recorder(&recorder);
            b.to_async(&runtime).iter(|| call(&cached_app, &rs_bearer))
        });
    }
    // Two issuers behind one layer: `iss` peeked, then the same cache hit.
    let multi_app = router().layer(AuthLayer::new(
        MultiIssuer::new()
            .with_issuer(
                "https://partner.example",
                JwtVerifier::new("https://partner.example", AUDIENCE)
                    .with_hmac_secret(HMAC_SECRET)
                    .expect("secret"),
            )
            .with_issuer(s.issuer.issuer(), s.jwks.clone()),
    ));
    group.bench_function("multi-issuer-cached", |b| {
        b.to_async(&runtime).iter(|| call(&multi_app, &rs_bearer))
    });

    // Revocations: the same hit checked against no record (two atomic loads), then against
    // 10 000 logged-out subjects and 10 000 ended sessions of other users (a look-up of the
    // token's `sub`; of its `sid` too when it has one, which this token has not).
    let revocations = Revocations::new();
    let revocable_app = router().layer(AuthLayer::new(Revocable::new(
        s.jwks.clone(),
        revocations.clone(),
    )));
    group.bench_function("cached-revocable", |b| {
        b.to_async(&runtime)
            .iter(|| call(&revocable_app, &rs_bearer))
    });
    runtime.block_on(async {
        for i in 0..10_000 {
            let _ = revocations.revoke_subject(None, &format!("user-{i}")).await;
            let _ = revocations
                .revoke_session(None, &format!("session-{i}"))
                .await;
        }
    });
    group.bench_function("cached-revocable-20k-records", |b| {
        b.to_async(&runtime)
            .iter(|| call(&revocable_app, &rs_bearer))
    });

    // DPoP: an ES256-bound ES256 token and a fresh ES256 proof per request.
    let dpop = DpopClient::new(&s.issuer);
    for (name, verifier) in [("dpop-ES256", &s.jwks_uncached), ("dpop-cached", &s.jwks)] {
        let app =
            router().layer(AuthLayer::from_arc(verifier.clone()).with_dpop(DpopPolicy::required()));
        runtime.block_on(call_with(&app, dpop.request()));
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_batched(
                || dpop.request(),
                |request| call_with(&app, request),
                BatchSize::SmallInput,
            )
        });
    }

    // Introspection: an opaque token, answered from the cache after the first call.
    s.issuer
        .add_client(DevClient::new("bench-api", "bench-secret"));
    let introspection = IntrospectionVerifier::discover(
        s.issuer.issuer(),
        ClientAuth::basic("bench-api", "bench-secret"),
        // The development issuer checks the audience, as ZITADEL does.
        AudienceCheck::left_to_provider(),
    )
    .expect("verifier");
    let opaque = s.issuer.opaque_token().issue();
    let introspection_app = router().layer(AuthLayer::new(introspection));
    let opaque_bearer = bearer(&opaque);
    runtime.block_on(call(&introspection_app, &opaque_bearer));
    group.bench_function("introspection-cached", |b| {
        b.to_async(&runtime)
            .iter(|| call(&introspection_app, &opaque_bearer))
    });
    // A miss: a new token each iteration (issued outside the timing), so every request is a
    // call to the provider's introspection endpoint over loopback, with the local caches on
    // (the answer is put into them, as in service).
    let app = &introspection_app;
    group.bench_function("introspection-miss", |b| {
        b.to_async(&runtime).iter_batched(
            || bearer(&s.issuer.opaque_token().issue()),
            |fresh| async move { call(app, &fresh).await },
            BatchSize::SmallInput,
        )
    });
    #[cfg(feature = "redis")]
    redis_hit(&mut group, &runtime, &s.issuer);
    group.finish();

    refusals(c, &runtime, &s);

    let mut group = c.benchmark_group("baseline");
    let plain = router();
    group.bench_function("no-auth", |b| {
        b.to_async(&runtime).iter(|| call(&plain, &rs_bearer))
    });
    group.finish();
}

/// `layer/introspection-redis-hit`: a local miss answered by Redis (a new token each iteration,
/// introspected and shared by another replica outside the timing): the Redis round trip, the
/// answer judged again and put into the local cache; `layer/floor-redis-get` beside it, and
/// `layer/logout-propagation`. Needs `redis-server` (started here on a free port); skipped
/// with a note without it.
#[cfg(feature = "redis")]
fn redis_hit(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    issuer: &DevIssuer,
) {
    use tower_authz::RedisCache;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let Ok(child) = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
    else {
        println!("layer/introspection-redis-hit: skipped (no redis-server on this machine)");
        return;
    };
    /// Kills the server at the end of the row.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("redis://127.0.0.1:{port}");
    let shared =
        Arc::new(RedisCache::new(&url, "a bench secret of 32 bytes or more").expect("cache"));
    let replica = || {
        let verifier = IntrospectionVerifier::new(
            issuer.issuer(),
            format!("{}/oauth/v2/introspect", issuer.issuer()),
            ClientAuth::basic("bench-api", "bench-secret"),
            AudienceCheck::left_to_provider(),
        )
        .expect("verifier")
        .with_shared_cache(Arc::clone(&shared));
        router().layer(AuthLayer::new(verifier))
    };
    // Two replicas: the writer asks the provider and shares each answer (outside the timing);
    // the reader, one long-lived verifier as in service, meets each token first: a local miss
    // answered by Redis (the `GET`, the answer judged again, put into the local cache).
    let (writer, reader) = (replica(), replica());
    group.bench_function("introspection-redis-hit", |b| {
        let (writer, reader) = (&writer, &reader);
        b.to_async(runtime).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let token = bearer(&issuer.opaque_token().issue());
                call(writer, &token).await;
                let start = Instant::now();
                call(reader, &token).await;
                timed += start.elapsed();
            }
            timed
        })
    });

    // `floor/redis-get`: the least a Redis hit can cost: one `GET` of a value the size of an
    // introspection answer on an open connection (the `redis` crate's `ConnectionManager`).
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut connection = runtime
        .block_on(redis::aio::ConnectionManager::new(client))
        .expect("connection");
    let value = "x".repeat(700);
    runtime
        .block_on(
            redis::cmd("SET")
                .arg("bench:floor")
                .arg(&value)
                .query_async::<()>(&mut connection),
        )
        .expect("set");
    group.bench_function("floor-redis-get", |b| {
        b.to_async(runtime).iter(|| {
            let mut connection = connection.clone();
            async move {
                let got: Option<Vec<u8>> = redis::cmd("GET")
                    .arg("bench:floor")
                    .query_async(&mut connection)
                    .await
                    .expect("get");
                black_box(got)
            }
        })
    });

    // `layer/logout-propagation`: a session revoked on replica A until replica B refuses its
    // token (the `SET`+`PUBLISH` pipeline, the message, B applying it), B polling its own
    // revocations as a request would.
    let store = || RedisCache::new(&url, "a bench secret of 32 bytes or more").expect("cache");
    let a = Revocations::new().with_store(store());
    let b_side = Revocations::new().with_store(store());
    let session = |i: u64| {
        tower_authz::Claims::from_value(
            serde_json::json!({"sub": "alice", "sid": format!("s-{i}"), "iat": 1}),
            &tower_authz::RoleSource::default(),
        )
        .expect("claims")
    };
    let sessions = std::sync::atomic::AtomicU64::new(0);
    let propagate = |i: u64| {
        let (a, b_side, claims) = (a.clone(), b_side.clone(), session(i));
        async move {
            let start = Instant::now();
            a.revoke_session(None, &format!("s-{i}"))
                .await
                .expect("shared");
            while !b_side.is_revoked(&claims, "token") {
                tokio::task::yield_now().await;
            }
            start.elapsed()
        }
    };
    // B starts following (subscribes, loads) before the row; the first logout shows it has.
    runtime.block_on(async {
        let _ = b_side.is_revoked(&session(u64::MAX), "token");
        tokio::time::timeout(Duration::from_secs(10), propagate(u64::MAX))
            .await
            .expect("B follows A");
    });
    group.bench_function("logout-propagation", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let propagate = &propagate;
            let sessions = &sessions;
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let i = sessions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    total += propagate(i).await;
                }
                total
            }
        })
    });
}

/// `refusal/*`: tokens refused through the `layer/RS256` router (verified-token cache off, keys
/// held), each checked once for the refusal it is meant to measure.
fn refusals(c: &mut Criterion, runtime: &tokio::runtime::Runtime, s: &Setup) {
    let issuer = &s.issuer;
    // An unknown `kid` may start a JWKS fetch, at most once per minimum refetch interval: an
    // hour here, counted from the fetch just made, so that no fetch happens during the group.
    let verifier = JwksVerifier::discover(issuer.issuer(), AUDIENCE)
        .expect("verifier")
        .without_verified_cache()
        .with_min_refetch_interval(Duration::from_secs(3600));
    runtime.block_on(verifier.fetch_keys()).expect("keys");
    let app = router().layer(AuthLayer::new(verifier));
    let token = || issuer.token().roles(["viewer"]);
    let sign = |builder: tower_authz_dev::TokenBuilder| builder.sign().expect("token");
    let current = issuer.current_key(DevAlgorithm::RS256);
    let foreign = DevKey::generate(DevAlgorithm::RS256).expect("key");
    let cases = [
        ("expired", sign(token().expired()), "the token has expired"),
        (
            "wrong-iss",
            sign(token().issuer("https://attacker.example")),
            "the token is from another issuer",
        ),
        (
            "unknown-kid",
            sign(token().kid("made-up-kid")),
            "the token's signing key is unknown",
        ),
        (
            "malformed",
            "this-is-not-a-jwt-but-an-opaque-string-of-64-characters-no-dots".to_owned(),
            "the token is not a JWT",
        ),
        (
            "forged-signature",
            // The issuer's `kid`, another key's signature.
            sign(token().signed_with(&foreign).kid(current.kid())),
            "the token's signature is invalid",
        ),
        (
            "too-large",
            // Signed by the issuer, over the 8 KiB cap.
            sign(token().claim("padding", "x".repeat(9 * 1024))),
            "the token is too large",
        ),
    ];
    let fetches = issuer.jwks_requests();
    let mut group = c.benchmark_group("refusal");
    for (name, token, expected) in &cases {
        let bearer = bearer(token);
        let response = runtime.block_on(app.clone().oneshot(request(&bearer)));
        let response = response.expect("response");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        let error = response.extensions().get::<AuthError>().expect("error");
        assert_eq!(error.description(), *expected, "{name}");
        group.bench_function(*name, |b| {
            b.to_async(runtime)
                .iter(|| call_expecting(&app, &bearer, StatusCode::UNAUTHORIZED))
        });
    }
    group.finish();
    assert_eq!(
        issuer.jwks_requests(),
        fetches,
        "no JWKS fetch while refusing"
    );
}

/// `iters` requests spread over `tasks` tasks, each calling its own
/// clone of the service again and again, as a server connection does.
fn run_parallel(
    runtime: &tokio::runtime::Runtime,
    tasks: u64,
    app: &Router,
    bearer: &HeaderValue,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    runtime.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                // One service per task, called again and again, as a server connection does.
                let (mut app, bearer) = (app.clone(), bearer.clone());
                tokio::spawn(async move {
                    for _ in 0..iters.div_ceil(tasks) {
                        let ready = ServiceExt::<Request<Body>>::ready(&mut app)
                            .await
                            .expect("ready");
                        let response = ready.call(request(&bearer)).await.expect("response");
                        assert_eq!(response.status(), StatusCode::OK);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task");
        }
    });
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let setup_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let s = setup_runtime.block_on(setup());
    let rs_bearer = bearer(&s.tokens[0].1);
    let uncached = router().layer(AuthLayer::from_arc(s.jwks_uncached.clone()));
    let cached = router().layer(AuthLayer::from_arc(s.jwks.clone()));
    let plain = router();
    let mut group = c.benchmark_group("throughput");
    group.measurement_time(Duration::from_secs(8));
    for workers in [1, 2] {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("runtime");
        for (name, app) in [
            ("uncached", &uncached),
            ("cached", &cached),
            ("no-auth", &plain),
        ] {
            group.bench_function(format!("{name}/{workers}-threads"), |b| {
                b.iter_custom(|iters| {
                    run_parallel(&runtime, workers as u64, app, &rs_bearer, iters)
                })
            });
        }
    }
    group.finish();
    drop(s);
}

/// The Cedar policy set of `policy/cedar-100`: 100 policies on every action, the last one
/// satisfied by the scope `s99`, and its schema.
#[cfg(feature = "cedar")]
fn hundred_cedar_policies() -> (String, String) {
    let policies = (0..100)
        .map(|i| {
            format!(
                "@id(\"p{i}\")\npermit (principal, action, resource)\n\
                 when {{ principal.scopes.contains(\"s{i}\") && context.method == \"GET\" }};\n"
            )
        })
        .collect();
    let schema = r#"
        entity Principal = { roles: Set<String>, scopes: Set<String> };
        entity Route;
        action "GET /api/todolist" appliesTo {
            principal: Principal, resource: Route, context: { method: String },
        };
    "#;
    (policies, schema.to_owned())
}

fn policies(c: &mut Criterion) {
    use tower_authz::policy::{self, Access, Policy, Verdict};
    use tower_authz::{Claims, RoleSource};

    let user = |scopes: &str| {
        let claims = serde_json::json!({
            "sub": "Ab3", "oid": "2f9c", "idtyp": "user", "scp": scopes,
        });
        Claims::from_value(claims, &RoleSource::default()).expect("claims")
    };
    let (parts, ()) = Request::get("/api/todolist")
        .body(())
        .expect("request")
        .into_parts();
    let allowed = |rule: &dyn Policy, claims: &Claims| {
        matches!(
            rule.evaluate(black_box(&Access::new(claims, &parts))),
            Verdict::Ready(Ok(()))
        )
    };

    let mut group = c.benchmark_group("policy");
    let reader = user("ToDoList.Read");
    let rust = policy::scope_or_role(
        ["ToDoList.Read", "ToDoList.ReadWrite"],
        ["ToDoList.Read.All", "ToDoList.ReadWrite.All"],
    );
    assert!(allowed(&rust, &reader));
    group.bench_function("rust", |b| b.iter(|| allowed(&rust, &reader)));

    #[cfg(feature = "cedar")]
    {
        use tower_authz::policy::CedarPolicy;

        let small = CedarPolicy::builder(
            include_str!("../examples/todolist.cedar"),
            include_str!("../examples/todolist.cedarschema"),
        )
        .with_principal_claim("oid", "oid")
        .with_principal_claim("idtyp", "idtyp")
        .build()
        .expect("examples/todolist.cedar");
        assert!(allowed(&small, &reader));
        group.bench_function("cedar-small", |b| b.iter(|| allowed(&small, &reader)));

        let (policies, schema) = hundred_cedar_policies();
        let hundred = CedarPolicy::from_str(&policies, &schema).expect("100 policies");
        assert_eq!(hundred.len(), 100);
        let last = user("s99");
        assert!(allowed(&hundred, &last));
        group.bench_function("cedar-100", |b| b.iter(|| allowed(&hundred, &last)));
    }
    group.finish();
}

criterion_group!(benches, per_request, throughput, policies);
criterion_main!(benches);
