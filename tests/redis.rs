//! Introspection answers shared across replicas through a real Redis (`RedisCache`, feature
//! `redis`): each test starts its own `redis-server` on a free port of 127.0.0.1 (no disk, no
//! system service; `scripts/test` installs Debian's `redis-server` when it is missing) and the
//! development issuer as the provider.
//!
//! - two verifiers ("replicas") in this process: one introspection call for a new token however
//!   many requests reach both, a refusal shared too, Redis killed or hanging: both keep
//!   answering (503 only once the provider is down too);
//! - three `zitadel_api` processes with `--redis`: 300 requests with one new opaque token make
//!   one introspection call; a back-channel logout sent to one replica is refused by all three
//!   within a second; with Redis killed every replica keeps answering (and a logout holds on
//!   the replica it reached, which answers 503 so that the provider retries);
//! - revocations in this process's replicas: made on one, refused by the others and by a
//!   replica started later (it loads the kept records);
//! - Redis over TLS (`rediss://`) with a private CA and client certificates, generated here
//!   with the `openssl` command: replicas with the CA and a certificate share answers, one
//!   without either falls back to the provider (counted `unavailable`), never 500;
//! - a shared cache from the configuration (`[issuers.introspection.shared_cache]`).

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Example, TestApp, get_with};
use tower_authz::{
    ApplicationKey, AudienceCheck, AuthLayer, ClientAuth, IntrospectionVerifier, JwksVerifier,
    RedisCache, Revocable, Revocations, RoleSource,
};
use tower_authz_dev::{DEV_PROJECT_ID, DeliveryOutcome, DevIssuer};

const SECRET: &str = "a secret shared by every replica, 32+ bytes";

/// A `redis-server` of this test, killed when dropped.
struct Redis {
    child: Child,
    url: String,
}

impl Redis {
    fn start() -> Redis {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> Redis {
        Self::start_with(port, &["--port", &port.to_string()], "redis")
    }

    /// A TLS-only server on a free port: its certificate from `pki`, clients must present one
    /// signed by the same CA.
    fn start_tls(pki: &Pki) -> Redis {
        let port = free_port();
        let file = |name: &str| pki.dir.join(name).display().to_string();
        let args = [
            "--port".to_owned(),
            "0".to_owned(),
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            file("server.pem"),
            "--tls-key-file".to_owned(),
            file("server.key"),
            "--tls-ca-cert-file".to_owned(),
            file("ca.pem"),
            "--tls-auth-clients".to_owned(),
            "yes".to_owned(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::start_with(port, &args, "rediss")
    }

    fn start_with(port: u16, args: &[&str], scheme: &str) -> Redis {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1"])
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
            url: format!("{scheme}://{addr}"),
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

/// A port of 127.0.0.1 that was free a moment ago (redis-server needs a fixed one).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A private CA, a certificate for 127.0.0.1 it signed (the server's), and a client certificate
/// it signed, made with the `openssl` command in a folder of their own.
struct Pki {
    dir: std::path::PathBuf,
}

impl Pki {
    fn generate() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "tower-authz-redis-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("the openssl command is not installed (apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=tower-authz test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        );
        for (name, subject, extensions) in [
            (
                "server",
                "/CN=127.0.0.1",
                "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "/CN=replica", "extendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(
                dir.join(format!("{name}.ext")),
                format!("basicConstraints=critical,CA:FALSE\n{extensions}"),
            )
            .expect("write");
            let (key, csr, pem, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            );
            openssl(
                &[
                    &["req"][..],
                    &ec,
                    &["-keyout", &key, "-out", &csr, "-subj", subject],
                ]
                .concat(),
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]);
        }
        Pki { dir }
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).expect("read")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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
    replica_with(
        provider,
        RedisCache::new(redis_url, SECRET).expect("redis cache"),
    )
    .await
}

/// A replica sharing `cache`.
async fn replica_with(provider: &Provider, cache: RedisCache) -> TestApp {
    let key = ApplicationKey::from_file(&provider.key_path).expect("key file");
    let verifier = IntrospectionVerifier::discover(
        provider.issuer.issuer(),
        ClientAuth::private_key_jwt(key),
        AudienceCheck::left_to_provider(),
    )
    .expect("verifier")
    .with_role_source(RoleSource::zitadel())
    .with_shared_cache(cache);
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

/// Asks each replica for `/api/tasks` with `token` until all answer 401, failing past
/// `deadline`: how long it took.
async fn all_refuse(bases: &[String], token: &str, deadline: Instant) -> Duration {
    let start = Instant::now();
    loop {
        let mut refused = 0;
        for base in bases {
            let status = get_with(&format!("{base}/api/tasks"), Some(token))
                .await
                .status;
            refused += usize::from(status == 401);
        }
        if refused == bases.len() {
            return start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{refused} of {} replicas refuse",
            bases.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The figure the shared cache is for: provider calls per token with 1 replica, and with 3
/// replicas without a shared cache (each asks) and with one (one call).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn provider_calls_per_token_with_one_and_three_replicas() {
    let redis = Redis::start();
    let p = provider().await;
    let local = |p: &Provider| {
        let key = ApplicationKey::from_file(&p.key_path).expect("key file");
        IntrospectionVerifier::discover(
            p.issuer.issuer(),
            ClientAuth::private_key_jwt(key),
            AudienceCheck::left_to_provider(),
        )
        .expect("verifier")
    };
    let mut calls = Vec::new();
    for (replicas, shared) in [(1, false), (3, false), (3, true)] {
        let mut apps = Vec::new();
        for _ in 0..replicas {
            apps.push(match shared {
                true => replica(&p, &redis.url).await,
                false => TestApp::start(AuthLayer::new(local(&p))).await,
            });
        }
        let bases: Vec<String> = apps.iter().map(|app| app.base.clone()).collect();
        let before = p.issuer.introspection_requests();
        let token = p.issuer.opaque_token().subject("alice").issue();
        let statuses = spread(&bases, "/whoami", &token, 60).await;
        assert!(all(&statuses, 200), "{statuses:?}");
        calls.push(p.issuer.introspection_requests() - before);
    }
    eprintln!("provider calls per token (1 replica, 3 replicas, 3 replicas + Redis): {calls:?}");
    assert_eq!(calls, [1, 3, 1]);
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

/// The shared cache's lookups that found it unusable, as the Prometheus recorder of this
/// thread counted them (feature `metrics`).
#[cfg(feature = "metrics")]
fn unavailable(handle: &metrics_exporter_prometheus::PrometheusHandle) -> u64 {
    handle
        .render()
        .lines()
        .find(|line| {
            line.starts_with("tower_authz_cache_lookups_total{")
                && line.contains("cache=\"introspection_shared\"")
                && line.contains("result=\"unavailable\"")
        })
        .and_then(|line| line.rsplit(' ').next())
        .map_or(0, |value| value.parse().expect("a count"))
}

/// Over TLS with a private CA and client certificates. A current-thread runtime: the metrics
/// recorder is this thread's, and every task (replicas, provider) runs on it.
#[tokio::test]
async fn replicas_share_over_tls_with_a_private_ca_and_fall_back_without_it() {
    #[cfg(feature = "metrics")]
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    #[cfg(feature = "metrics")]
    let handle = recorder.handle();
    #[cfg(feature = "metrics")]
    let _local = metrics::set_default_local_recorder(&recorder);

    let pki = Pki::generate();
    let redis = Redis::start_tls(&pki);
    assert!(redis.url.starts_with("rediss://127.0.0.1:"));
    let p = provider().await;
    let trusted = || {
        RedisCache::builder(&redis.url, SECRET)
            .with_root_certificates(pki.read("ca.pem"))
            .with_client_certificate(pki.read("client.pem"), pki.read("client.key"))
            .build()
            .expect("redis cache")
    };
    let (a, b) = (
        replica_with(&p, trusted()).await,
        replica_with(&p, trusted()).await,
    );
    let bases = [a.base.clone(), b.base.clone()];
    let token = p.issuer.opaque_token().subject("alice").issue();
    let statuses = spread(&bases, "/whoami", &token, 40).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    assert_eq!(p.issuer.introspection_requests(), 1);
    #[cfg(feature = "metrics")]
    assert_eq!(unavailable(&handle), 0);

    // Without the CA (the system's roots do not know it): this replica cannot use Redis, and
    // asks the provider itself.
    let untrusting = replica_with(
        &p,
        RedisCache::builder(&redis.url, SECRET)
            .with_client_certificate(pki.read("client.pem"), pki.read("client.key"))
            .build()
            .expect("redis cache"),
    )
    .await;
    let statuses = spread(std::slice::from_ref(&untrusting.base), "/whoami", &token, 5).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    assert_eq!(p.issuer.introspection_requests(), 2);
    #[cfg(feature = "metrics")]
    assert_eq!(unavailable(&handle), 1);

    // With the CA but no client certificate: the server refuses it, the same fallback.
    let anonymous = replica_with(
        &p,
        RedisCache::builder(&redis.url, SECRET)
            .with_root_certificates(pki.read("ca.pem"))
            .build()
            .expect("redis cache"),
    )
    .await;
    let statuses = spread(std::slice::from_ref(&anonymous.base), "/whoami", &token, 5).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    assert_eq!(p.issuer.introspection_requests(), 3);
    #[cfg(feature = "metrics")]
    assert_eq!(unavailable(&handle), 2);

    // The trusted replicas still share: a new token, one call.
    let fresh = p.issuer.opaque_token().subject("bob").issue();
    let statuses = spread(&bases, "/whoami", &fresh, 20).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    assert_eq!(p.issuer.introspection_requests(), 4);
}

/// Replicas built from the configuration (`[issuers.introspection.shared_cache]`, the secret
/// from a file) share answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_configured_with_a_shared_cache_section_share_answers() {
    let redis = Redis::start();
    let p = provider().await;
    let secret_path = p.dir.join("cache-secret");
    std::fs::write(&secret_path, format!("{SECRET}\n")).expect("write");
    let config = tower_authz::config::AuthConfig::from_toml_str(&format!(
        r#"
        [[issuers]]
        issuer = "{issuer}"
        roles_claim = "urn:zitadel:iam:org:project:roles"
        [issuers.introspection]
        key_file = "{key}"
        provider_checks_audience = true
        [issuers.introspection.shared_cache]
        url = "{url}"
        secret = {{ file = "{secret}" }}
        lock_ttl_milliseconds = 3000
        "#,
        issuer = p.issuer.issuer(),
        key = p.key_path,
        url = redis.url,
        secret = secret_path.display(),
    ))
    .expect("configuration");
    let (a, b) = (
        TestApp::start(config.build_layer().expect("layer")).await,
        TestApp::start(config.build_layer().expect("layer")).await,
    );
    let token = p.issuer.opaque_token().subject("alice").issue();
    let statuses = spread(&[a.base.clone(), b.base.clone()], "/whoami", &token, 40).await;
    assert!(all(&statuses, 200), "{statuses:?}");
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

    // A back-channel logout sent to one replica: all three refuse that session's token
    // within a second, other sessions' tokens still pass.
    let client_id = ApplicationKey::from_file(&p.key_path)
        .expect("key")
        .client_id()
        .to_owned();
    let first_replica = format!("{}/api/backchannel-logout", bases[0]);
    p.issuer
        .add_backchannel_logout(&client_id, &first_replica)
        .expect("receiver");
    let session_token = |sid: &str| {
        p.issuer
            .token()
            .subject("tasks-user")
            .session(sid)
            .audience(DEV_PROJECT_ID)
            .sign()
            .expect("token")
    };
    let (ended, kept) = (session_token("s-ended"), session_token("s-kept"));
    for token in [&ended, &kept] {
        let statuses = spread(&bases, "/api/tasks", token, 6).await;
        assert!(all(&statuses, 200), "{statuses:?}");
    }
    assert_eq!(p.issuer.introspection_requests(), 3, "one call per token");
    let logout = Instant::now();
    let deliveries = p.issuer.end_session("tasks-user", "s-ended").await;
    assert!(
        deliveries.iter().all(|d| d.is_delivered()),
        "{deliveries:?}"
    );
    let propagated = all_refuse(&bases, &ended, logout + Duration::from_secs(1)).await;
    eprintln!("back-channel logout on one replica refused by all three after {propagated:?}");
    let statuses = spread(&bases, "/api/tasks", &kept, 6).await;
    assert!(all(&statuses, 200), "{statuses:?}");

    // Redis killed mid-test: every replica keeps answering, asking the provider itself.
    let before = p.issuer.introspection_requests();
    redis.kill();
    let statuses = spread(&bases, "/api/tasks", &token, 30).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    let fresh = p.issuer.personal_access_token("tasks-admin");
    let statuses = spread(&bases, "/api/tasks", &fresh, 30).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    let calls = p.issuer.introspection_requests() - before;
    assert!((1..=3).contains(&calls), "{calls} introspection calls");

    // A logout while Redis is down holds on the replica it reached, which answers 503 so that
    // the provider tries again (the others cannot know yet).
    let late = session_token("s-late");
    assert_eq!(
        get_with(&format!("{}/api/tasks", bases[0]), Some(&late))
            .await
            .status,
        200
    );
    let deliveries = p.issuer.end_session("tasks-user", "s-late").await;
    assert!(
        matches!(
            deliveries[0].outcome,
            DeliveryOutcome::Rejected { status: 503 }
        ),
        "{deliveries:?}"
    );
    assert_eq!(
        get_with(&format!("{}/api/tasks", bases[0]), Some(&late))
            .await
            .status,
        401
    );

    // And the provider down as well: cached tokens still 200, a new one 503.
    p.issuer.set_available(false);
    let statuses = spread(&bases, "/api/tasks", &token, 30).await;
    assert!(all(&statuses, 200), "{statuses:?}");
    let third = p.issuer.personal_access_token("someone-else");
    let statuses = spread(&bases, "/api/tasks", &third, 6).await;
    assert!(all(&statuses, 503), "{statuses:?}");
    drop(replicas);
}

/// A replica of a JWT API in this process: `Revocable` JWKS verification, revocations shared
/// through `redis_url`.
async fn revocable_replica(issuer: &DevIssuer, redis_url: &str) -> (TestApp, Revocations) {
    let store = RedisCache::new(redis_url, SECRET).expect("redis");
    let revocations = Revocations::new().with_store(store);
    let verifier = JwksVerifier::discover(issuer.issuer(), "dev-api").expect("verifier");
    let app = TestApp::start(AuthLayer::new(Revocable::new(
        verifier,
        revocations.clone(),
    )))
    .await;
    (app, revocations)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_every_replica_and_one_started_later() {
    let redis = Redis::start();
    let issuer = DevIssuer::start().await.expect("issuer");
    let (a, revocations_a) = revocable_replica(&issuer, &redis.url).await;
    let (b, _revocations_b) = revocable_replica(&issuer, &redis.url).await;
    let alice = issuer
        .token()
        .subject("alice")
        .session("s1")
        .sign()
        .expect("token");
    let bob = issuer.token().subject("bob").sign().expect("token");
    for app in [&a, &b] {
        assert_eq!(app.get("/whoami", Some(&alice)).await.status, 200);
        assert_eq!(app.get("/whoami", Some(&bob)).await.status, 200);
    }
    // Made on A; B learns it by pub/sub.
    revocations_a
        .revoke_session(Some(issuer.issuer()), "s1")
        .await
        .expect("shared");
    a.get("/whoami", Some(&alice))
        .await
        .assert_refused(401, "invalid_token");
    let deadline = Instant::now() + Duration::from_secs(1);
    while b.get("/whoami", Some(&alice)).await.status != 401 {
        assert!(
            Instant::now() < deadline,
            "B did not learn the logout within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(b.get("/whoami", Some(&bob)).await.status, 200);

    // A replica started after the logout loads it from Redis before (or as) it serves.
    let (c, _revocations_c) = revocable_replica(&issuer, &redis.url).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    while c.get("/whoami", Some(&alice)).await.status != 401 {
        assert!(Instant::now() < deadline, "C did not load the kept logout");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(c.get("/whoami", Some(&bob)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_with_redis_down_holds_here_and_says_it_was_not_shared() {
    let mut redis = Redis::start();
    let issuer = DevIssuer::start().await.expect("issuer");
    let (a, revocations) = revocable_replica(&issuer, &redis.url).await;
    let alice = issuer.token().subject("alice").sign().expect("token");
    assert_eq!(a.get("/whoami", Some(&alice)).await.status, 200);
    redis.kill();
    let started = Instant::now();
    let shared = revocations
        .revoke_subject(Some(issuer.issuer()), "alice")
        .await;
    assert!(
        shared.is_err(),
        "Redis is down: the revocation cannot have been shared"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the store's timeout bounds it"
    );
    a.get("/whoami", Some(&alice))
        .await
        .assert_refused(401, "invalid_token");
}
