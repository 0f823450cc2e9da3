//! Introspection answers shared across replicas through a real Redis (`RedisCache`, feature
//! `redis`): each test starts its own `redis-server` on a free port of 127.0.0.1 (no disk, no
//! system service; `scripts/test` installs Debian's `redis-server` when it is missing) and the
//! development issuer as the provider.
//!
//! - two verifiers ("replicas") in this process: one introspection call for a new token however
//!   many requests reach both, a refusal shared too, Redis killed or hanging: both keep
//!   answering (503 only once the provider is down too);
//! - three `zitadel_api` processes with `--redis`: 300 requests with one new opaque token make
//!   one introspection call; with Redis killed every replica keeps answering.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Example, TestApp, get_with};
use tower_authz::{
    ApplicationKey, AudienceCheck, AuthLayer, ClientAuth, IntrospectionVerifier, RedisCache,
    RoleSource,
};
use tower_authz_dev::DevIssuer;

const SECRET: &str = "a secret shared by every replica, 32+ bytes";

/// A `redis-server` of this test, killed when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "redis-server is not installed: run scripts/test, or apt-get install redis-server",
            );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            child,
            url: format!("redis://{addr}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The development issuer and the API's key file.
struct Provider {
    issuer: DevIssuer,
    dir: std::path::PathBuf,
    key_path: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn provider() -> Provider {
    let issuer = DevIssuer::start().await.expect("issuer");
    let dir = std::env::temp_dir().join(format!(
        "tower-authz-redis-{}-{}",
        std::process::id(),
        issuer.addr().port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("api-key.json");
    issuer.write_api_key_file(&path).expect("key file");
    Provider {
        issuer,
        dir,
        key_path: path.display().to_string(),
    }
}

/// A replica: its own verifier (own local caches) sharing `redis_url`.
async fn replica(provider: &Provider, redis_url: &str) -> TestApp {
    let key = ApplicationKey::from_file(&provider.key_path).expect("key file");
    let verifier = IntrospectionVerifier::discover(
        provider.issuer.issuer(),
        ClientAuth::private_key_jwt(key),
        AudienceCheck::left_to_provider(),
    )
    .expect("verifier")
    .with_role_source(RoleSource::zitadel())
    .with_shared_cache(RedisCache::new(redis_url, SECRET).expect("redis cache"));
    TestApp::start(AuthLayer::new(verifier)).await
}

/// `n` concurrent requests with `token`, spread over `bases`: their statuses.
async fn spread(bases: &[String], path: &str, token: &str, n: usize) -> Vec<u16> {
    let requests = (0..n).map(|i| {
        let url = format!("{}{path}", bases[i % bases.len()]);
        async move { get_with(&url, Some(token)).await.status.as_u16() }
    });
    futures_util::future::join_all(requests).await
}

fn all(statuses: &[u16], status: u16) -> bool {
    statuses.iter().all(|s| *s == status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_make_one_call_for_a_new_token_and_share_refusals() {
    let redis = Redis::start();
    let p = provider().await;
    let (a, b) = (replica(&p, &redis.url).await, replica(&p, &redis.url).await);
    let bases = [a.base.clone(), b.base.clone()];
    let token = p.issuer.opaque_token().subject("alice").issue();

    let statuses = spread(&bases, "/whoami", &token, 40).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    assert_eq!(p.issuer.introspection_requests(), 1);

    // A refusal is shared as well: one call for both replicas.
    let statuses = spread(&bases, "/whoami", "made-up-opaque-token", 40).await;
    assert!(all(&statuses, 401), "{statuses:?}");
    assert_eq!(p.issuer.introspection_requests(), 2);

    // A third replica started later finds both answers in Redis.
    let c = replica(&p, &redis.url).await;
    assert_eq!(c.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(
        c.get("/whoami", Some("made-up-opaque-token")).await.status,
        401
    );
    assert_eq!(p.issuer.introspection_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_with_another_secret_do_not_share() {
    let redis = Redis::start();
    let p = provider().await;
    let a = replica(&p, &redis.url).await;
    let key = ApplicationKey::from_file(&p.key_path).expect("key file");
    let other = IntrospectionVerifier::discover(
        p.issuer.issuer(),
        ClientAuth::private_key_jwt(key),
        AudienceCheck::left_to_provider(),
    )
    .expect("verifier")
    .with_shared_cache(RedisCache::new(&redis.url, "another secret, also 32 bytes long").unwrap());
    let b = TestApp::start(AuthLayer::new(other)).await;
    let token = p.issuer.opaque_token().subject("alice").issue();
    assert_eq!(a.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(b.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(p.issuer.introspection_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_killed_both_replicas_keep_answering() {
    let mut redis = Redis::start();
    let p = provider().await;
    let (a, b) = (replica(&p, &redis.url).await, replica(&p, &redis.url).await);
    let bases = [a.base.clone(), b.base.clone()];
    let cached = p.issuer.opaque_token().subject("alice").issue();
    assert!(all(&spread(&bases, "/whoami", &cached, 10).await, 200));
    assert_eq!(p.issuer.introspection_requests(), 1);

    redis.kill();
    // Cached answers and new tokens alike: the provider is asked instead (once per replica).
    assert!(all(&spread(&bases, "/whoami", &cached, 10).await, 200));
    let fresh = p.issuer.opaque_token().subject("bob").issue();
    assert!(all(&spread(&bases, "/whoami", &fresh, 10).await, 200));
    let calls = p.issuer.introspection_requests();
    assert!((2..=3).contains(&calls), "{calls} introspection calls");
    assert!(all(&spread(&bases, "/whoami", "made-up", 4).await, 401));

    // Redis back on the same port: once the pause after the failure is over, the replicas
    // share again (the connection manager reconnects).
    let port: u16 = redis
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let _back = Redis::start_on(port);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The first command may still meet the broken connection (one more pause): a few tries,
    // each with a new token, until one costs a single call for both replicas.
    let mut shared = false;
    for _ in 0..3 {
        let before = p.issuer.introspection_requests();
        let again = p.issuer.opaque_token().subject("dave").issue();
        assert!(all(&spread(&bases, "/whoami", &again, 10).await, 200));
        if p.issuer.introspection_requests() == before + 1 {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert!(
        shared,
        "the replicas did not share again once Redis was back"
    );

    // The provider down too: what was cached still answers, a new token is 503.
    p.issuer.set_available(false);
    assert!(all(&spread(&bases, "/whoami", &cached, 4).await, 200));
    let third = p.issuer.opaque_token().subject("carol").issue();
    assert!(all(&spread(&bases, "/whoami", &third, 4).await, 503));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_that_never_answers_costs_its_timeout_not_the_request() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("redis://{}", silent.local_addr().expect("addr"));
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let p = provider().await;
    let a = replica(&p, &url).await;
    let token = p.issuer.opaque_token().subject("alice").issue();
    assert_eq!(a.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(a.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(p.issuer.introspection_requests(), 1);
}

/// Three `zitadel_api` processes against one Redis and one provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_zitadel_api_processes_share_one_introspection_call() {
    let mut redis = Redis::start();
    let p = provider().await;
    let domain = p.issuer.issuer().to_owned();
    let mut replicas: Vec<Example> = (0..3)
        .map(|_| {
            Example::start_with_env(
                "zitadel_api",
                &[
                    "--domain",
                    &domain,
                    "--key",
                    &p.key_path,
                    "--port",
                    "0",
                    "--redis",
                    &redis.url,
                ],
                &[("TOWER_AUTHZ_CACHE_SECRET", SECRET)],
            )
        })
        .collect();
    let bases: Vec<String> = replicas
        .iter_mut()
        .map(|replica| replica.wait_for("zitadel_api listening on "))
        .collect();

    let token = p.issuer.personal_access_token("tasks-user");
    let statuses = spread(&bases, "/api/tasks", &token, 300).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    assert_eq!(p.issuer.introspection_requests(), 1);

    // Redis killed mid-test: every replica keeps answering, asking the provider itself.
    redis.kill();
    let statuses = spread(&bases, "/api/tasks", &token, 30).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    let fresh = p.issuer.personal_access_token("tasks-admin");
    let statuses = spread(&bases, "/api/tasks", &fresh, 30).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    let calls = p.issuer.introspection_requests();
    assert!((2..=4).contains(&calls), "{calls} introspection calls");

    // And the provider down as well: cached tokens still 200, a new one 503.
    p.issuer.set_available(false);
    let statuses = spread(&bases, "/api/tasks", &token, 30).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    let third = p.issuer.personal_access_token("someone-else");
    let statuses = spread(&bases, "/api/tasks", &third, 6).await;
    assert!(all(&statuses, 503), "{statuses:?}");
    drop(replicas);
}
