//! Bounded memory: many distinct random tokens sent through `AuthLayer` leave the resident set
//! (VmRSS of this process) within a stated bound, because every cache is capacity-bounded and
//! nothing is kept per `kid` or per refused token.
//!
//! The tokens (all distinct, all refused):
//! - half forged JWTs with a valid structure and plausible claims (`iss`, `aud`, `exp`, ...)
//!   and a random signature: every other one with a random `kid` (unknown: may ask for a
//!   refetch, which the minimum interval turns down), the others with the issuer's real `kid`
//!   (a full signature check that fails);
//! - half random opaque strings.
//!
//! Then distinct *valid* tokens, five times the verified-token cache's capacity, to show that
//! cache stays bounded too; and random opaque tokens through an `IntrospectionVerifier`, whose
//! answers (inactive) are cached for 5 s in a cache of 10 000 entries.
//!
//! Requests go through an axum `Router` with `tower::ServiceExt::oneshot` (no HTTP), from 4
//! tasks on 2 worker threads, 16 requests in flight per task.
//!
//! The count is 100 000 by default; `TOWER_AUTHZ_MEMORY_TOKENS=1000000` runs the full million
//! (use `cargo test --release --all-features --test memory -- --nocapture`). Linux only (reads
//! `/proc/self/status`).
//!
//! The bounds:
//! - 64 MiB of growth over the baseline (taken after setup and a warm-up). Refused tokens are
//!   never cached, so the random tokens should add nothing; what may grow is the verified-token
//!   cache (at most 10 000 entries, measured at about 16 MiB full, claims and moka overhead),
//!   the introspection cache (at most 10 000 verdicts, about 10 MiB full), the per-thread
//!   copies (64 entries a thread, each with its token: at most 512 KiB a thread) and allocator
//!   slack: about 30 MiB, so 64 MiB leaves a margin of two.
//! - 8 MiB of growth over the second half of each phase, when the caches are already full: a
//!   leak of 17 bytes per token at a million random tokens (170 at the default 100 000)
//!   would break it.
#![cfg(target_os = "linux")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;
use http::Request;
use serde_json::json;
use tower::ServiceExt as _;
use tower_authz::{AuthLayer, Claims, ClientAuth, IntrospectionVerifier, JwksVerifier};
use tower_authz_dev::{DevAlgorithm, DevIssuer};

const AUDIENCE: &str = "dev-api";
const MIB: f64 = 1024.0 * 1024.0;
/// Growth allowed over the baseline, in bytes.
const TOTAL_BOUND: u64 = 64 * 1024 * 1024;
/// Growth allowed over the second half of the random tokens, in bytes.
const PLATEAU_BOUND: u64 = 8 * 1024 * 1024;
const TASKS: usize = 4;
const IN_FLIGHT: usize = 16;

/// The resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// xorshift64*: fast, and random enough to make every token distinct and unguessable here.
struct Rng(u64);

impl Rng {
    fn seeded(stream: u64) -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng((nanos ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn b64(&mut self, n: usize) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes(n))
    }
}

/// What the random tokens look like.
struct Forger {
    issuer: String,
    real_kid: String,
}

impl Forger {
    /// Token `i` of a stream: distinct by construction (the index is in it), random otherwise.
    fn token(&self, i: u64, rng: &mut Rng) -> String {
        match i % 4 {
            // Forged JWT, random kid.
            0 => self.jwt(&rng.b64(12), i, rng),
            // Forged JWT, the issuer's real kid: a full (failing) signature check.
            1 => self.jwt(&self.real_kid.clone(), i, rng),
            // Random opaque strings of varied lengths and alphabets.
            2 => {
                let len = 16 + (rng.next() % 48) as usize;
                format!("{}{i:x}", rng.b64(len))
            }
            _ => format!("at_{i}_{:016x}{:016x}", rng.next(), rng.next()),
        }
    }

    fn jwt(&self, kid: &str, i: u64, rng: &mut Rng) -> String {
        let now = unix_now();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
        let claims = json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": format!("user-{i}"),
            "iat": now, "exp": now + 3600, "jti": format!("{:016x}", rng.next()),
            "roles": ["viewer"], "scope": "openid profile",
        });
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            rng.b64(256)
        )
    }
}

fn app(layer: AuthLayer) -> Router {
    Router::new()
        .route(
            "/whoami",
            get(|claims: Claims| async move { claims.subject().unwrap_or_default().to_owned() }),
        )
        .layer(layer)
}

/// Status counts of a run: [2xx, 401, 503, other].
#[derive(Default)]
struct Counts([AtomicU64; 4]);

impl Counts {
    fn add(&self, status: u16) {
        let slot = match status {
            200..=299 => 0,
            401 => 1,
            503 => 2,
            _ => 3,
        };
        self.0[slot].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> [u64; 4] {
        [0, 1, 2, 3].map(|i| self.0[i].load(Ordering::Relaxed))
    }
}

/// Sends `count` tokens made by `make(index, rng)` (indices from `start`) through `router`
/// from `TASKS` tasks, `IN_FLIGHT` requests each.
async fn drive<F>(router: &Router, start: u64, count: u64, make: Arc<F>, counts: &Arc<Counts>)
where
    F: Fn(u64, &mut Rng) -> String + Send + Sync + 'static,
{
    let mut tasks = Vec::new();
    for task in 0..TASKS as u64 {
        let (router, make, counts) = (router.clone(), Arc::clone(&make), Arc::clone(counts));
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::seeded(start + task);
            // Made one at a time, so that the test holds no more tokens than are in flight.
            let indices = (start..start + count).filter(move |i| i % TASKS as u64 == task);
            futures_util::stream::iter(indices)
                .map(|i| {
                    let token = make(i, &mut rng);
                    let request = Request::get("/whoami")
                        .header("authorization", format!("Bearer {token}"))
                        .body(Body::empty())
                        .expect("request");
                    router.clone().oneshot(request)
                })
                .buffer_unordered(IN_FLIGHT)
                .for_each(|response| {
                    let status = response.expect("infallible").status().as_u16();
                    counts.add(status);
                    async {}
                })
                .await;
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
}

/// RSS marks: (what was done, bytes).
struct Marks {
    baseline: u64,
    rows: Vec<(String, u64)>,
}

impl Marks {
    fn mark(&mut self, label: String) -> u64 {
        let bytes = rss();
        self.rows.push((label, bytes));
        bytes
    }
}

/// Runs `count` tokens through `router` in two halves, marking RSS after each; returns the
/// growth over the second half.
async fn phase<F>(
    marks: &mut Marks,
    what: &str,
    router: &Router,
    count: u64,
    make: Arc<F>,
    counts: &Arc<Counts>,
) -> u64
where
    F: Fn(u64, &mut Rng) -> String + Send + Sync + 'static,
{
    let half = count / 2;
    drive(router, 0, half, Arc::clone(&make), counts).await;
    let at_half = marks.mark(format!("{half} {what}"));
    drive(router, half, count - half, make, counts).await;
    let at_end = marks.mark(format!("{count} {what}"));
    at_end.saturating_sub(at_half)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_random_tokens_leave_resident_memory_bounded() {
    let count: u64 = std::env::var("TOWER_AUTHZ_MEMORY_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let started = Instant::now();
    let at_start = rss();

    let issuer = Arc::new(DevIssuer::start().await.expect("dev issuer"));
    issuer.add_client(tower_authz_dev::DevClient::new("api-basic", "basic-secret"));
    let jwks = JwksVerifier::discover(issuer.issuer(), AUDIENCE).expect("verifier");
    jwks.fetch_keys().await.expect("keys");
    let router = app(AuthLayer::new(jwks));
    let forger = Forger {
        issuer: issuer.issuer().to_owned(),
        real_kid: issuer.current_key(DevAlgorithm::RS256).kid().to_owned(),
    };
    let forge = Arc::new(move |i: u64, rng: &mut Rng| forger.token(i, rng));

    // Warm-up: runtime, thread-locals, allocator arenas, the first refetch of an unknown kid.
    // Its indices are far from the run's, so every token of the run is new.
    let warm_up = 2_000;
    let warm_counts = Arc::new(Counts::default());
    drive(&router, 1 << 40, warm_up, Arc::clone(&forge), &warm_counts).await;
    let mut marks = Marks {
        baseline: rss(),
        rows: Vec::new(),
    };

    // The random tokens.
    let counts = Arc::new(Counts::default());
    let random_growth = phase(
        &mut marks,
        "random tokens (JWKS)",
        &router,
        count,
        forge,
        &counts,
    )
    .await;
    let random_time = started.elapsed();
    let [ok, unauthorized, unavailable, other] = counts.get();
    assert_eq!(ok, 0, "no random token passed");
    assert_eq!(unauthorized, count, "every random token is a 401");
    assert_eq!(
        (unavailable, other),
        (0, 0),
        "no 503 and nothing else with the keys loaded"
    );

    // Distinct valid tokens (EdDSA: fast to sign), five times the verified cache's capacity.
    let valid_count = 50_000;
    let valid_counts = Arc::new(Counts::default());
    let sign = {
        let issuer = Arc::clone(&issuer);
        Arc::new(move |i: u64, _: &mut Rng| {
            issuer
                .token()
                .algorithm(DevAlgorithm::EdDSA)
                .subject(format!("user-{i}"))
                .sign()
                .expect("token")
        })
    };
    let valid_growth = phase(
        &mut marks,
        "distinct valid tokens (JWKS)",
        &router,
        valid_count,
        sign,
        &valid_counts,
    )
    .await;
    assert_eq!(valid_counts.get(), [valid_count, 0, 0, 0]);

    // Random opaque tokens through introspection (HTTP to the development issuer): each is
    // inactive, and the inactive verdicts are cached for 5 s, at most 10 000 of them.
    let introspection_count = (count / 10).max(40_000);
    let introspection = IntrospectionVerifier::new(
        issuer.issuer(),
        issuer.introspection_endpoint(),
        ClientAuth::basic("api-basic", "basic-secret"),
        AUDIENCE,
    )
    .expect("verifier")
    // Every request in flight may call the provider: no 503 for lack of a permit here.
    .with_max_concurrent_calls(TASKS * IN_FLIGHT)
    .expect("bound");
    let introspected = app(AuthLayer::new(introspection));
    let opaque = Arc::new(|i: u64, rng: &mut Rng| format!("at_{i}_{}", rng.b64(24)));
    let introspection_counts = Arc::new(Counts::default());
    let introspection_growth = phase(
        &mut marks,
        "random tokens (introspection)",
        &introspected,
        introspection_count,
        opaque,
        &introspection_counts,
    )
    .await;
    assert_eq!(
        introspection_counts.get(),
        [0, introspection_count, 0, 0],
        "every random token is inactive: 401"
    );

    let baseline = marks.baseline;
    let mut report = format!(
        "\nbounded memory: {count} random tokens in {:.1} s ({} build)\n",
        random_time.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    report += &format!(
        "  RSS at start {}; baseline after setup and {warm_up} warm-up tokens {}\n",
        mib(at_start),
        mib(baseline)
    );
    for (label, bytes) in &marks.rows {
        report += &format!(
            "  after {label:<42} {:>10} (+{})\n",
            mib(*bytes),
            mib(bytes.saturating_sub(baseline))
        );
    }
    report += &format!(
        "  growth over the second half: random {}, valid {}, introspection {}\n",
        mib(random_growth),
        mib(valid_growth),
        mib(introspection_growth)
    );
    report += &format!(
        "  bounds: +{} over the baseline, +{} over any second half; total {:.1} s",
        mib(TOTAL_BOUND),
        mib(PLATEAU_BOUND),
        started.elapsed().as_secs_f64()
    );
    println!("{report}");

    for (what, growth) in [
        ("random tokens", random_growth),
        ("valid tokens", valid_growth),
        ("introspection", introspection_growth),
    ] {
        assert!(
            growth < PLATEAU_BOUND,
            "RSS grew by {} over the second half of the {what}{report}",
            mib(growth)
        );
    }
    let peak = marks.rows.iter().map(|(_, b)| *b).max().unwrap_or(baseline);
    assert!(
        peak.saturating_sub(baseline) < TOTAL_BOUND,
        "RSS grew by {}{report}",
        mib(peak.saturating_sub(baseline))
    );
    // Nothing above relies on time, but a run that takes this long is a sign of something
    // quadratic.
    assert!(started.elapsed() < Duration::from_secs(30 * 60));
}
