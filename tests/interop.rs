//! Interoperability suite: the library against a real, OpenID-certified authorization server,
//! [oidc-provider](https://www.npmjs.com/package/oidc-provider) (`tests/interop/provider.mjs`,
//! run by Node on 127.0.0.1), instead of our own development issuer, so that a mistake made in
//! both our issuer and our verifier cannot cancel out.
//!
//! Each test starts its own provider process (killed when the test ends) and then drives the
//! library: `JwksVerifier` (discovery, JWKS, RS256/ES256/EdDSA, rotation, outage),
//! `IntrospectionVerifier` (`private_key_jwt` and client secrets, revocation, expiry, outage),
//! `ClientCredentials` (resource indicators, every client authentication method),
//! `BackChannelLogout` with `Revocable` (logout tokens of a real session), and the
//! examples `jwt_api`, `zitadel_api` and `entra_todolist_api` as processes.
//!
//! Needs Node.js (20.19 or later) and npm; `npm ci` is run in `tests/interop` when its
//! `node_modules` is missing. See `tests/interop/README.md`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Answer, Example, TestApp, client, get_with};
use serde_json::{Value, json};
use tower_authz::client::{ClientCredentials, DpopKey, JwtBearer, TokenErrorKind, TokenProvider};
use tower_authz::{
    ApplicationKey, AuthErrorKind, AuthLayer, ClientAuth, IntrospectionVerifier, JwksVerifier,
    ServiceAccountKey, Verifier,
};

// --- what the provider knows: resources (RFC 8707) and clients ----------------------------------

/// JWT access tokens signed RS256, audience `rs256-api`, scopes `read write`.
const RS256: &str = "https://rs256.api.test";
/// JWT access tokens signed ES256, audience `es256-api`.
const ES256: &str = "https://es256.api.test";
/// JWT access tokens signed EdDSA (Ed25519), audience `eddsa-api`.
const EDDSA: &str = "https://eddsa.api.test";
/// JWT access tokens signed with the fully-specified `Ed25519` algorithm (RFC 9864).
const ED25519: &str = "https://ed25519.api.test";
/// RS256 JWTs that live 2 seconds, audience `short-api`.
const SHORT_JWT: &str = "https://short-jwt.api.test";
/// Opaque access tokens, audience `opaque-api`.
const OPAQUE: &str = "https://opaque.api.test";
/// Opaque access tokens that live 2 seconds, audience `opaque-api`.
const SHORT_OPAQUE: &str = "https://short-opaque.api.test";
/// Opaque tokens for the ZITADEL guide's API (`zitadel_api`).
const TASKS: &str = "https://tasks.api.test";
/// The Entra ToDoList API's client id: the `aud` of its tokens.
const TODO_API_ID: &str = "6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b";
/// Its app id URI, the resource daemons ask for.
const TODO_RESOURCE: &str = "api://6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b";

/// `client_secret_basic`, role `admin`.
const ADMIN: &str = "admin-daemon";
/// `client_secret_post`, role `viewer`.
const VIEWER: &str = "viewer-daemon";
/// `private_key_jwt` with a ZITADEL-format key file, role `admin`.
const KEY_DAEMON: &str = "key-daemon";
/// The API's own credentials at the introspection endpoint, one client per method.
const INTROSPECT_JWT: &str = "introspector-jwt";
const INTROSPECT_BASIC: &str = "introspector-basic";
const INTROSPECT_POST: &str = "introspector-post";
/// ZITADEL guide: a user without roles, an admin (ZITADEL's role map), and the API's key.
const TASKS_USER: &str = "tasks-user";
const TASKS_ADMIN: &str = "tasks-admin";
const ZITADEL_API: &str = "zitadel-api";
/// Entra daemons: read-write and read-only app roles, and one whose token is not an app token.
const TODO_WRITER: &str = "todo-writer";
const TODO_READER: &str = "todo-reader";
const TODO_DELEGATED: &str = "todo-delegated";

fn signing_keys(kids: &[&str]) -> Value {
    kids.iter()
        .map(|kid| {
            let kty = match kid.split('-').next() {
                Some("rsa") => "RSA",
                Some("ec") => "EC",
                _ => "OKP",
            };
            json!({"kid": kid, "kty": kty})
        })
        .collect()
}

/// The provider's configuration (see `tests/interop/provider.mjs`).
fn config() -> Value {
    let jwt = |audience: &str, alg: &str| {
        json!({
            "audience": audience, "format": "jwt", "alg": alg, "scope": "read write", "ttl": 300,
        })
    };
    let secret = |id: &str, auth: &str, extra: Value| {
        json!({
            "client_id": id, "client_secret": format!("{id}-secret"), "auth": auth,
            "extra_claims": extra,
        })
    };
    let keyed = |id: &str, extra: Value| {
        json!({
            "client_id": id, "auth": "private_key_jwt", "key_file": format!("{id}.json"),
            "extra_claims": extra,
        })
    };
    // ZITADEL's role map: role -> {organization id: organization domain}.
    let zitadel_roles = json!({
        "urn:zitadel:iam:org:project:roles": {"admin": {"231848297847848": "acme.127.0.0.1"}},
    });
    let app = |role: &str, idtyp: &str| json!({"roles": [role], "idtyp": idtyp});
    json!({
        "signing_keys": signing_keys(&["rsa-1", "ec-1", "ed-1"]),
        "resources": {
            RS256: jwt("rs256-api", "RS256"),
            ES256: jwt("es256-api", "ES256"),
            EDDSA: jwt("eddsa-api", "EdDSA"),
            ED25519: jwt("ed25519-api", "Ed25519"),
            SHORT_JWT: {"audience": "short-api", "format": "jwt", "alg": "RS256", "ttl": 2},
            OPAQUE: {"audience": "opaque-api", "format": "opaque", "ttl": 300},
            SHORT_OPAQUE: {"audience": "opaque-api", "format": "opaque", "ttl": 2},
            TASKS: {"audience": "tasks-api", "format": "opaque", "ttl": 300},
            TODO_RESOURCE: {"audience": TODO_API_ID, "format": "jwt", "alg": "RS256", "ttl": 300},
        },
        "clients": [
            secret(ADMIN, "client_secret_basic", json!({"roles": ["admin"]})),
            secret(VIEWER, "client_secret_post", json!({"roles": ["viewer"]})),
            keyed(KEY_DAEMON, json!({"roles": ["admin"]})),
            keyed(INTROSPECT_JWT, json!({})),
            secret(INTROSPECT_BASIC, "client_secret_basic", json!({})),
            secret(INTROSPECT_POST, "client_secret_post", json!({})),
            secret(TASKS_USER, "client_secret_basic", json!({})),
            secret(TASKS_ADMIN, "client_secret_basic", zitadel_roles),
            keyed(ZITADEL_API, json!({})),
            secret(TODO_WRITER, "client_secret_post", app("ToDoList.ReadWrite.All", "app")),
            secret(TODO_READER, "client_secret_post", app("ToDoList.Read.All", "app")),
            secret(TODO_DELEGATED, "client_secret_post", app("ToDoList.ReadWrite.All", "user")),
        ],
    })
}

// --- the provider process -----------------------------------------------------------------------

const INTEROP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");
const NEED_NODE: &str = "the interoperability suite (tests/interop.rs) runs oidc-provider and \
    needs Node.js 20.19 or later and npm on PATH: install them (Debian/Ubuntu: \
    `apt-get install nodejs npm`), then run `npm ci --prefix tests/interop` (bash scripts/test \
    does that)";

/// Checks Node and installs the pinned packages (`npm ci`) once per test run if missing.
fn ensure_node_modules() {
    static READY: Mutex<bool> = Mutex::new(false);
    let mut ready = READY.lock().unwrap_or_else(PoisonError::into_inner);
    if *ready {
        return;
    }
    let version = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{NEED_NODE} (starting `node` failed: {e})"));
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(major >= 20, "{NEED_NODE} (found node {version:?})");
    let installed = Path::new(INTEROP_DIR).join("node_modules/oidc-provider/package.json");
    if !installed.exists() {
        eprintln!("tests/interop/node_modules is missing: running `npm ci` in {INTEROP_DIR}");
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(INTEROP_DIR)
            .status()
            .unwrap_or_else(|e| panic!("{NEED_NODE} (starting `npm` failed: {e})"));
        assert!(status.success(), "`npm ci` in {INTEROP_DIR} failed");
    }
    *ready = true;
}

/// oidc-provider running on 127.0.0.1; killed, and its state removed, when dropped.
struct Provider {
    dir: PathBuf,
    config: Value,
    issuer: String,
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Provider {
    /// Starts a provider with `config` on a free port.
    async fn start(name: &str, mut config: Value) -> Provider {
        ensure_node_modules();
        let dir =
            std::env::temp_dir().join(format!("tower-authz-interop-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("state dir");
        config["state_dir"] = json!(dir);
        config["port"] = json!(0);
        let mut provider = Provider {
            dir,
            config,
            issuer: String::new(),
            child: None,
            stderr: Arc::default(),
        };
        if let Err(error) = provider.spawn().await {
            panic!("{error}");
        }
        provider
    }

    /// Runs `node provider.mjs` and waits (at most 30 s) for its `READY <issuer>` line; on
    /// failure, says why with the provider's stderr.
    async fn spawn(&mut self) -> Result<(), String> {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let config_path = self.dir.join("config.json");
        std::fs::write(&config_path, self.config.to_string()).expect("write config");
        let mut child = Command::new("node")
            .arg(Path::new(INTEROP_DIR).join("provider.mjs"))
            .arg(&config_path)
            // The provider exits when this pipe closes, even if this process dies abruptly.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{NEED_NODE} (starting `node` failed: {e})"));
        let (tx, mut ready) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let collected = self.stderr.clone();
        let echo = std::env::var_os("INTEROP_DEBUG").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[provider] {line}");
                }
                collected
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        self.child = Some(child);
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = ready.recv().await {
                if let Some(issuer) = line.strip_prefix("READY ") {
                    return Some(issuer.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(issuer) = issuer else {
            self.stop();
            // Give the reader thread a moment to collect the last lines.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Err(format!(
                "oidc-provider did not print READY within 30 s; its stderr:\n{}",
                self.stderr
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .join("\n")
            ));
        };
        assert!(
            issuer.starts_with("http://127.0.0.1:"),
            "the provider must bind 127.0.0.1 only, it says {issuer}"
        );
        self.issuer = issuer;
        Ok(())
    }

    /// Kills the provider (as a crash or an outage would) and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the provider and starts it again on the same port (same issuer), keeping its state
    /// (keys, issued tokens), with `signing_keys` as its JWKS if given.
    async fn restart(&mut self, signing_keys: Option<Value>) {
        let issuer = self.issuer.clone();
        self.stop();
        let port: u16 = issuer
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        self.config["port"] = json!(port);
        if let Some(keys) = signing_keys {
            self.config["signing_keys"] = keys;
        }
        // The port was free a moment ago; should anything take it meanwhile, try again.
        let mut attempts = 0;
        while let Err(error) = self.spawn().await {
            attempts += 1;
            assert!(attempts < 5, "cannot restart the provider: {error}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(self.issuer, issuer, "restarted on the same port");
    }

    /// The ZITADEL-format key file the provider wrote for a `private_key_jwt` client.
    fn key_file(&self, client_id: &str) -> PathBuf {
        self.dir.join(format!("{client_id}.json"))
    }

    /// How `client_id` authenticates, as registered at the provider.
    fn auth(&self, client_id: &str) -> ClientAuth {
        let client = self.config["clients"]
            .as_array()
            .and_then(|clients| clients.iter().find(|c| c["client_id"] == client_id))
            .unwrap_or_else(|| panic!("no client {client_id}"));
        let secret = format!("{client_id}-secret");
        match client["auth"].as_str() {
            Some("client_secret_basic") => ClientAuth::basic(client_id, secret),
            Some("client_secret_post") => ClientAuth::post(client_id, secret),
            _ => ClientAuth::private_key_jwt(
                ApplicationKey::from_file(self.key_file(client_id)).expect("key file parses"),
            ),
        }
    }

    /// A fresh client-credentials token of `client_id` for `resource`, through our own
    /// `ClientCredentials` (discovery, then the token endpoint with a resource indicator).
    async fn token(&self, client_id: &str, resource: &str) -> String {
        let tokens = ClientCredentials::discover(&self.issuer, self.auth(client_id))
            .expect("token provider")
            .with_resource(resource);
        let token = tokens.token().await.unwrap_or_else(|e| {
            panic!("{client_id} got no token for {resource}: {e:?}");
        });
        token.as_str().to_owned()
    }

    /// The discovery document.
    /// DPoP-bound tokens of `client_id` for `resource`, bound to `key`.
    fn dpop_tokens(&self, client_id: &str, resource: &str, key: &DpopKey) -> ClientCredentials {
        ClientCredentials::discover(&self.issuer, self.auth(client_id))
            .expect("token provider")
            .with_resource(resource)
            .with_dpop(key.clone())
    }

    async fn metadata(&self) -> Value {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        client()
            .get(url)
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery JSON")
    }

    /// Revokes `token` at the provider (RFC 7009), as `client_id` (which holds the token).
    async fn revoke(&self, client_id: &str, token: &str) {
        let endpoint = self.metadata().await["revocation_endpoint"]
            .as_str()
            .expect("revocation_endpoint")
            .to_owned();
        let response = client()
            .post(endpoint)
            .basic_auth(client_id, Some(format!("{client_id}-secret")))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .expect("revocation");
        assert_eq!(response.status().as_u16(), 200, "revocation accepted");
    }

    /// How often `path` was requested since the provider (re)started.
    async fn requests(&self, path: &str) -> u64 {
        let counts: Value = client()
            .get(format!("{}/_interop/requests", self.issuer))
            .send()
            .await
            .expect("request counts")
            .json()
            .await
            .expect("counts JSON");
        counts[path].as_u64().unwrap_or(0)
    }
}

// --- small helpers ------------------------------------------------------------------------------

/// The decoded JOSE header of a JWT.
fn jwt_header(token: &str) -> Value {
    let header = token.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("JSON")
}

/// The JSON body of a 200 answer.
#[track_caller]
fn ok_json(answer: &Answer) -> Value {
    assert_eq!(answer.status.as_u16(), 200, "{answer:?}");
    serde_json::from_str(&answer.body).expect("JSON body")
}

/// A protected app (`/whoami`, `/admin` needing role `admin`) behind `verifier`.
async fn app(verifier: impl Verifier) -> TestApp {
    TestApp::start(AuthLayer::new(verifier)).await
}

fn jwks_verifier(provider: &Provider, audience: &str) -> JwksVerifier {
    JwksVerifier::discover(&provider.issuer, audience).expect("verifier")
}

fn introspection(provider: &Provider, client_id: &str) -> IntrospectionVerifier {
    IntrospectionVerifier::discover(&provider.issuer, provider.auth(client_id), "opaque-api")
        .expect("verifier")
}

/// Sleeps until the Unix time is past `exp` (a token's expiry, in whole seconds).
async fn sleep_past(exp: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let until = Duration::from_secs(exp + 1).saturating_sub(now);
    assert!(until < Duration::from_secs(10), "bounded wait");
    tokio::time::sleep(until).await;
}

/// Polls `check` every 100 ms for at most `limit`; true once it held.
async fn eventually<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

// --- JWT access tokens --------------------------------------------------------------------------

/// Discovery and JWKS of the real provider; RFC 9068 JWT access tokens (`typ: at+jwt`) signed
/// RS256, ES256 and EdDSA, obtained with the client-credentials grant and a resource indicator
/// through our `ClientCredentials`; roles added by the provider (extraTokenClaims); wrong
/// audience and expiry refused.
#[tokio::test]
async fn jwt_access_tokens_from_oidc_provider() {
    let provider = Provider::start("jwt", config()).await;

    // A 2-second token, taken first so that its expiry overlaps the rest of the test.
    let short = provider.token(ADMIN, SHORT_JWT).await;
    let short_app = app(jwks_verifier(&provider, "short-api").with_leeway(Duration::ZERO)).await;
    let short_exp = ok_json(&short_app.get("/whoami", Some(&short)).await)["exp"]
        .as_u64()
        .expect("exp");

    for (resource, audience, alg, kid) in [
        (RS256, "rs256-api", "RS256", "rsa-1"),
        (ES256, "es256-api", "ES256", "ec-1"),
        (EDDSA, "eddsa-api", "EdDSA", "ed-1"),
    ] {
        // RFC 9068's `typ` is required here: the provider sends it, so we can insist on it.
        let api = app(jwks_verifier(&provider, audience).with_typ("at+jwt")).await;
        let admin = provider.token(ADMIN, resource).await;
        let header = jwt_header(&admin);
        assert_eq!(
            (header["alg"].as_str(), header["kid"].as_str()),
            (Some(alg), Some(kid)),
            "{resource}: signed with the key the provider chose"
        );
        assert_eq!(header["typ"], "at+jwt", "{resource}: RFC 9068 header");

        let claims = ok_json(&api.get("/whoami", Some(&admin)).await);
        assert_eq!(claims["iss"], provider.issuer.as_str(), "{alg}: iss");
        assert_eq!(
            claims["aud"], audience,
            "{alg}: aud is the resource's audience"
        );
        assert_eq!(claims["client_id"], ADMIN, "{alg}: client_id");
        assert_eq!(
            claims["sub"], ADMIN,
            "{alg}: sub of a client-credentials token"
        );
        assert_eq!(claims["roles"], json!(["admin"]), "{alg}: extraTokenClaims");
        ok_json(&api.get("/admin", Some(&admin)).await);

        let viewer = provider.token(VIEWER, resource).await;
        ok_json(&api.get("/whoami", Some(&viewer)).await);
        api.get("/admin", Some(&viewer))
            .await
            .assert_refused(403, "insufficient_scope");

        // A token the provider issued for another resource server: its `aud` is not ours.
        let other = if resource == RS256 { ES256 } else { RS256 };
        let foreign = provider.token(ADMIN, other).await;
        api.get("/whoami", Some(&foreign))
            .await
            .assert_refused(401, "invalid_token");
        assert_eq!(
            api.hits(),
            3,
            "{alg}: refused requests never reach the handlers"
        );
    }

    // Every client authentication method at the token endpoint: basic and post above; here
    // private_key_jwt with a ZITADEL-format key file, the assertion's `aud` being the issuer
    // (discovery) or the token endpoint (a known endpoint). The provider accepts both.
    let api = app(jwks_verifier(&provider, "rs256-api")).await;
    let key_token = provider.token(KEY_DAEMON, RS256).await;
    assert_eq!(
        ok_json(&api.get("/admin", Some(&key_token)).await)["client_id"],
        KEY_DAEMON
    );
    let token_endpoint = provider.metadata().await["token_endpoint"]
        .as_str()
        .expect("token_endpoint")
        .to_owned();
    let fixed = ClientCredentials::new(&token_endpoint, provider.auth(KEY_DAEMON))
        .expect("token provider")
        .with_resource(RS256)
        .with_scope("read");
    let token = fixed
        .token()
        .await
        .expect("token with aud = token endpoint");
    let claims = jwks_verifier(&provider, "rs256-api")
        .verify(token.as_str())
        .await
        .expect("verified");
    assert_eq!(
        claims.scopes().collect::<Vec<_>>(),
        ["read"],
        "scope and resource together: only the scope asked for, read from `scope`"
    );
    assert_eq!(claims.client_id(), Some(KEY_DAEMON));

    // A wrong secret is the provider's `invalid_client`, surfaced as a rejection.
    let wrong = ClientCredentials::discover(&provider.issuer, ClientAuth::basic(ADMIN, "wrong"))
        .expect("token provider")
        .with_resource(RS256);
    let error = wrong.token().await.expect_err("wrong secret");
    assert_eq!(error.kind(), TokenErrorKind::Rejected);
    assert_eq!(error.oauth_error(), Some("invalid_client"));

    // The 2-second token, once expired (no leeway): 401.
    sleep_past(short_exp).await;
    short_app
        .get("/whoami", Some(&short))
        .await
        .assert_refused(401, "invalid_token");
}

// --- opaque tokens and introspection -----------------------------------------------------------

/// Opaque access tokens introspected (RFC 7662) with the API authenticating by
/// `private_key_jwt` (ZITADEL key file), `client_secret_basic` and `client_secret_post`; roles
/// from the introspection answer; the audience checked; revocation effective once the cache entry
/// expires; an expired token refused.
#[tokio::test]
async fn opaque_tokens_introspected_at_oidc_provider() {
    let provider = Provider::start("introspection", config()).await;
    let short = provider.token(ADMIN, SHORT_OPAQUE).await;
    let short_exp = introspection(&provider, INTROSPECT_BASIC)
        .without_cache()
        .verify(&short)
        .await
        .expect("fresh short token")
        .expires_at()
        .expect("exp");

    let admin = provider.token(ADMIN, OPAQUE).await;
    let viewer = provider.token(VIEWER, OPAQUE).await;
    assert_eq!(admin.matches('.').count(), 0, "an opaque token, not a JWT");
    for client_id in [INTROSPECT_JWT, INTROSPECT_BASIC, INTROSPECT_POST] {
        let api = app(introspection(&provider, client_id)).await;
        let claims = ok_json(&api.get("/admin", Some(&admin)).await);
        assert_eq!(claims["active"], true, "{client_id}");
        assert_eq!(claims["iss"], provider.issuer.as_str(), "{client_id}: iss");
        assert_eq!(claims["aud"], "opaque-api", "{client_id}: aud");
        assert_eq!(claims["client_id"], ADMIN, "{client_id}: client_id");
        assert_eq!(
            claims["roles"],
            json!(["admin"]),
            "{client_id}: extra claims"
        );
        api.get("/admin", Some(&viewer))
            .await
            .assert_refused(403, "insufficient_scope");
        api.get("/whoami", Some("not-a-token-the-provider-issued"))
            .await
            .assert_refused(401, "invalid_token");
    }

    // The provider says active, but for another audience: our own check refuses it.
    let other = IntrospectionVerifier::discover(
        &provider.issuer,
        provider.auth(INTROSPECT_BASIC),
        "another-api",
    )
    .expect("verifier");
    let error = other.verify(&admin).await.expect_err("wrong audience");
    assert_eq!(error.kind(), AuthErrorKind::InvalidToken);

    // Our own credentials refused by the provider (invalid_client): 503, not the caller's fault.
    let wrong = IntrospectionVerifier::discover(
        &provider.issuer,
        ClientAuth::basic(INTROSPECT_BASIC, "wrong"),
        "opaque-api",
    )
    .expect("verifier");
    let error = wrong.verify(&admin).await.expect_err("wrong secret");
    assert_eq!(error.kind(), AuthErrorKind::Upstream);

    // Revocation at the provider: answered from the cache until the entry expires (2 s here),
    // then refused.
    let revoked = provider.token(ADMIN, OPAQUE).await;
    let cached =
        app(introspection(&provider, INTROSPECT_JWT).with_cache(Duration::from_secs(2), 100)).await;
    let cached_at = Instant::now();
    ok_json(&cached.get("/whoami", Some(&revoked)).await);
    provider.revoke(ADMIN, &revoked).await;
    if cached_at.elapsed() < Duration::from_millis(1500) {
        ok_json(&cached.get("/whoami", Some(&revoked)).await);
    }
    let uncached = introspection(&provider, INTROSPECT_JWT).without_cache();
    let error = uncached.verify(&revoked).await.expect_err("revoked");
    assert_eq!(
        error.kind(),
        AuthErrorKind::InvalidToken,
        "the provider answers active: false at once"
    );
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(cached_at.elapsed())).await;
    cached
        .get("/whoami", Some(&revoked))
        .await
        .assert_refused(401, "invalid_token");

    // The 2-second token, once expired: the provider answers active: false.
    sleep_past(short_exp).await;
    let error = uncached.verify(&short).await.expect_err("expired");
    assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
    app(introspection(&provider, INTROSPECT_POST))
        .await
        .get("/whoami", Some(&short))
        .await
        .assert_refused(401, "invalid_token");
}

// --- key rotation -------------------------------------------------------------------------------

/// Two servers on one provider: `api` keeps keys for the default 10 minutes, `refreshing`
/// refreshes them every second (oidc-provider's JWKS answer has no `Cache-Control`, so the
/// refresh interval applies). Both refetch at most every second (the least that can be set).
async fn rotation_apps(provider: &Provider) -> (TestApp, TestApp) {
    let verifier =
        || jwks_verifier(provider, "rs256-api").with_min_refetch_interval(Duration::from_secs(1));
    let api = app(verifier()).await;
    let refreshing = app(verifier().with_refresh_interval(Duration::from_secs(1))).await;
    (api, refreshing)
}

/// The provider rotates its signing key while our servers run: it restarts (same port) with a
/// JWKS listing the new key first and the old one still published. Tokens of the new key are
/// accepted after exactly one JWKS refetch; tokens of the old key keep verifying, with no fetch.
/// Once the old key is withdrawn, a verifier that refreshes its keys refuses the old key's
/// tokens; one that has not refreshed yet still holds it.
///
/// Most checks use a token the server has not seen, so that they go through the keys and not
/// through the verified-token cache.
#[tokio::test]
async fn signing_key_rotation_at_oidc_provider() {
    let mut config = config();
    config["signing_keys"] = signing_keys(&["rsa-1"]);
    let mut provider = Provider::start("rotation", config).await;
    let (api, refreshing) = rotation_apps(&provider).await;

    let mut old = Vec::new();
    for _ in 0..4 {
        old.push(provider.token(ADMIN, RS256).await);
    }
    assert_eq!(jwt_header(&old[0])["kid"], "rsa-1");
    ok_json(&api.get("/admin", Some(&old[0])).await);
    ok_json(&refreshing.get("/admin", Some(&old[0])).await);
    assert_eq!(
        provider.requests("/jwks").await,
        2,
        "one fetch per verifier"
    );

    // Rotation: rsa-2 signs, rsa-1 is still published.
    provider
        .restart(Some(signing_keys(&["rsa-2", "rsa-1"])))
        .await;
    tokio::time::sleep(Duration::from_millis(1050)).await; // past the minimum refetch interval
    let new = provider.token(ADMIN, RS256).await;
    assert_eq!(jwt_header(&new)["kid"], "rsa-2", "the new key signs");
    let before = provider.requests("/jwks").await;
    ok_json(&api.get("/admin", Some(&new)).await);
    assert_eq!(
        provider.requests("/jwks").await - before,
        1,
        "the unknown kid cost exactly one JWKS fetch"
    );
    ok_json(&api.get("/admin", Some(&old[1])).await);
    let second_new = provider.token(ADMIN, RS256).await;
    ok_json(&api.get("/admin", Some(&second_new)).await);
    assert_eq!(
        provider.requests("/jwks").await - before,
        1,
        "known kids, old and new, need no further fetch"
    );
    ok_json(&refreshing.get("/admin", Some(&new)).await);

    // The old key is withdrawn: the refreshing verifier drops it at its next refresh, for a
    // token it never saw and for one it had verified (and cached) before.
    provider.restart(Some(signing_keys(&["rsa-2"]))).await;
    for (token, what) in [(&old[2], "an unseen token"), (&old[0], "a cached token")] {
        let refused = eventually(Duration::from_secs(5), || async {
            refreshing.get("/whoami", Some(token)).await.status.as_u16() == 401
        })
        .await;
        assert!(
            refused,
            "{what} of a withdrawn key is refused after the next refresh"
        );
    }
    ok_json(&refreshing.get("/whoami", Some(&second_new)).await);
    // The other verifier (10-minute refresh) still trusts the key it holds: withdrawal takes
    // effect at the refresh interval, not before.
    ok_json(&api.get("/whoami", Some(&old[3])).await);
}

// --- provider outage ----------------------------------------------------------------------------

/// The provider stops mid-run (killed): JWTs keep verifying with the keys held (a token not
/// seen before included, so not from the verified-token cache), an unknown `kid` is a quick 401
/// (not a 503, not a hang), introspection answers 503 for tokens not in its cache, the token
/// providers report the outage. When it comes back (same port, a new signing key first):
/// JWKS refetch, introspection and the token endpoint all work again.
#[tokio::test]
async fn oidc_provider_outage_and_recovery() {
    let mut provider = Provider::start("outage", config()).await;
    let jwt_api = app(jwks_verifier(&provider, "rs256-api")
        .with_min_refetch_interval(Duration::from_secs(1))
        .with_timeout(Duration::from_secs(2))
        .expect("timeout"))
    .await;
    let opaque_api = app(introspection(&provider, INTROSPECT_JWT)
        .with_timeout(Duration::from_secs(2))
        .expect("timeout"))
    .await;

    let seen_jwt = provider.token(ADMIN, RS256).await;
    let unseen_jwt = provider.token(ADMIN, RS256).await;
    let seen = provider.token(ADMIN, OPAQUE).await;
    let unseen = provider.token(VIEWER, OPAQUE).await;
    ok_json(&jwt_api.get("/whoami", Some(&seen_jwt)).await);
    ok_json(&opaque_api.get("/whoami", Some(&seen)).await);
    let token_endpoint = provider.metadata().await["token_endpoint"]
        .as_str()
        .expect("token_endpoint")
        .to_owned();
    // Two token providers first used during the outage: one with a known token endpoint, one
    // that must still discover it.
    let fixed = ClientCredentials::new(&token_endpoint, provider.auth(ADMIN))
        .expect("token provider")
        .with_resource(RS256);
    let discovered = ClientCredentials::discover(&provider.issuer, provider.auth(ADMIN))
        .expect("token provider")
        .with_resource(RS256);

    provider.stop();
    let started = Instant::now();
    ok_json(&jwt_api.get("/admin", Some(&seen_jwt)).await);
    ok_json(&jwt_api.get("/admin", Some(&unseen_jwt)).await);
    // A kid nobody published: the refetch fails, the held keys stay, the token is refused.
    let unknown_kid = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"at+jwt","kid":"rsa-x"}"#);
        let rest = seen_jwt.split_once('.').expect("JWT").1;
        format!("{header}.{rest}")
    };
    tokio::time::sleep(Duration::from_millis(1050)).await; // past the minimum refetch interval
    jwt_api
        .get("/whoami", Some(&unknown_kid))
        .await
        .assert_refused(401, "invalid_token");
    ok_json(&jwt_api.get("/whoami", Some(&unseen_jwt)).await);
    let down = opaque_api.get("/whoami", Some(&unseen)).await;
    assert_eq!(
        down.status.as_u16(),
        503,
        "introspection unreachable: {down:?}"
    );
    ok_json(&opaque_api.get("/whoami", Some(&seen)).await); // cached before the outage
    for tokens in [&fixed, &discovered] {
        let error = tokens.token().await.expect_err("token endpoint down");
        assert_eq!(error.kind(), TokenErrorKind::Unavailable, "{error:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the outage is answered at once, not by waiting for timeouts"
    );

    // Back on the same port, with the tokens it had issued, now signing with a new key.
    provider
        .restart(Some(signing_keys(&["rsa-2", "rsa-1", "ec-1", "ed-1"])))
        .await;
    let claims = ok_json(&opaque_api.get("/whoami", Some(&unseen)).await);
    assert_eq!(claims["client_id"], VIEWER, "introspection works again");
    let fresh = fixed.token().await.expect("token endpoint back");
    assert_eq!(jwt_header(fresh.as_str())["kid"], "rsa-2");
    // The failed refetch for `unknown_kid` during the outage was the last attempt: the new kid
    // is fetched once the minimum refetch interval (1 s, the least) has passed since then.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    ok_json(&jwt_api.get("/admin", Some(fresh.as_str())).await);
    // The token provider whose discovery failed retries it only after 5 s (not configurable
    // for ClientCredentials), so it recovers, but not at once.
    let recovered = eventually(Duration::from_secs(8), || async {
        discovered.token().await.is_ok()
    })
    .await;
    assert!(recovered, "the discovering token provider recovers");
}

// --- gaps the real provider exposed in the library (fixed; these keep them fixed) -------------

/// oidc-provider does not introspect JWT access tokens: it answers 400
/// `unsupported_token_type` ("Structured JWT Tokens cannot be introspected"). That is about the
/// token, not about our credentials, so the caller gets 401 `invalid_token`. (It used to be a
/// 503 that any caller could provoke with a JWT of another issuer behind
/// `MultiIssuer::with_fallback(introspection)`.)
#[tokio::test]
async fn jwt_sent_to_introspection_is_an_invalid_token() {
    let provider = Provider::start("unsupported-token-type", config()).await;
    let jwt = provider.token(ADMIN, RS256).await;
    let error = introspection(&provider, INTROSPECT_BASIC)
        .verify(&jwt)
        .await
        .expect_err("not introspectable");
    assert_eq!(error.kind(), AuthErrorKind::InvalidToken, "{error:?}");
    let multi = tower_authz::MultiIssuer::new()
        .with_issuer("https://another.issuer.test", jwks_verifier(&provider, "x"))
        .with_fallback(introspection(&provider, INTROSPECT_BASIC));
    let error = multi.verify(&jwt).await.expect_err("unknown issuer");
    assert_eq!(error.kind(), AuthErrorKind::InvalidToken, "{error:?}");
}

/// oidc-provider 9 signs with the fully-specified `Ed25519` algorithm (RFC 9864), which it
/// lists before `EdDSA` in its metadata; the key is the same OKP Ed25519 JWK. (It used to be
/// refused as an unknown `alg`.)
#[tokio::test]
async fn ed25519_fully_specified_algorithm() {
    let provider = Provider::start("ed25519", config()).await;
    let token = provider.token(ADMIN, ED25519).await;
    assert_eq!(jwt_header(&token)["alg"], "Ed25519");
    let claims = jwks_verifier(&provider, "ed25519-api")
        .verify(&token)
        .await
        .expect("an Ed25519 token verifies with the OKP key");
    assert_eq!(claims.client_id(), Some(ADMIN));
}

// --- the client side of DPoP and the JWT-bearer grant -------------------------------------------

/// The claims of a JWT, unverified (what the provider put in).
fn jwt_claims(token: &str) -> Value {
    let claims = token.split('.').nth(1).expect("claims");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON")
}

/// `ClientCredentials::with_dpop` against oidc-provider's `dPoP` feature, without and with its
/// server nonce: the token is `DPoP`, bound to our key's RFC 7638 thumbprint (as oidc-provider
/// computes it) in the JWT and in introspection; with nonces, the first request is answered
/// `use_dpop_nonce` and retried once, and the nonce is remembered for the next one.
#[tokio::test]
async fn dpop_bound_tokens_from_oidc_provider() {
    for nonce in [false, true] {
        let mut config = config();
        config["dpop_nonce"] = json!(nonce);
        let name = if nonce { "dpop-nonce" } else { "dpop" };
        let provider = Provider::start(name, config).await;
        let key = DpopKey::generate().expect("key");
        let tokens = |resource: &str| provider.dpop_tokens(ADMIN, resource, &key);
        let token = tokens(RS256).token().await.expect("a DPoP-bound token");
        assert_eq!(token.scheme(), "DPoP");
        let claims = jwt_claims(token.as_str());
        assert_eq!(claims["cnf"], json!({"jkt": key.thumbprint()}), "{name}");
        let first = if nonce { 2 } else { 1 };
        assert_eq!(provider.requests("/token").await, first, "{name}");

        let opaque = tokens(OPAQUE).token().await.expect("an opaque DPoP token");
        assert_eq!(
            provider.requests("/token").await,
            first + 1,
            "{name}: the nonce was remembered"
        );
        let answer = common::introspect(
            &format!("{}/token/introspection", provider.issuer),
            INTROSPECT_BASIC,
            &format!("{INTROSPECT_BASIC}-secret"),
            opaque.as_str(),
        )
        .await;
        assert_eq!(answer["active"], true, "{name}: {answer}");
        assert_eq!(answer["token_type"], "DPoP", "{name}");
        assert_eq!(answer["cnf"]["jkt"], key.thumbprint(), "{name}");
    }
}

/// Our DPoP layer (`AuthLayer::with_dpop`) in front of oidc-provider's DPoP-bound tokens, got
/// with `ClientCredentials::with_dpop`: a JWT (`JwksVerifier` on its discovery) and an opaque
/// token (`IntrospectionVerifier`, `cnf.jkt` from its introspection answer) pass with a good
/// proof; a replayed proof, wrong `htm` and `htu`, a stale `iat`, a proof signed by another key
/// and one without `ath` are refused with the exact `DPoP` challenge, and with `allowed` the
/// bound token sent as `Bearer` gets the `Bearer, DPoP` one (RFC 9449 §7.1).
#[tokio::test]
async fn dpop_bound_tokens_of_oidc_provider_at_our_dpop_layer() {
    use common::dpop::{DEFAULT_ALGS, ProofKey, now, send};
    use tower_authz::DpopPolicy;

    let provider = Provider::start("dpop-layer", config()).await;
    let proof_key = ProofKey::es256();
    let key = DpopKey::from_pem(&proof_key.0.private_key_pkcs8_pem()).expect("the same key");
    assert_eq!(key.thumbprint(), proof_key.jkt());
    let tokens = |resource: &str| provider.dpop_tokens(ADMIN, resource, &key);
    let token = tokens(RS256).token().await.expect("a DPoP-bound JWT");
    let token = token.as_str();
    assert_eq!(jwt_claims(token)["cnf"]["jkt"], proof_key.jkt());

    let required = TestApp::start(
        AuthLayer::new(jwks_verifier(&provider, "rs256-api")).with_dpop(DpopPolicy::required()),
    )
    .await;
    let url = format!("{}/whoami", required.base);
    let refusal = |why: &str| {
        format!(
            r#"DPoP {DEFAULT_ALGS}, error="invalid_dpop_proof", error_description="the DPoP proof {why}""#
        )
    };

    let good = proof_key.proof("GET", &url, token);
    let reply = send("DPoP", &url, token, &[&good], &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let claims: Value = serde_json::from_str(&reply.body).expect("claims");
    assert_eq!(claims["cnf"]["jkt"], proof_key.jkt());
    // The client side's own proof passes too.
    let ours = key.proof("GET", &url, Some(token), None).expect("proof");
    assert_eq!(send("DPoP", &url, token, &[&ours], &[]).await.status, 200);

    let other_key = ProofKey::es256();
    let stale = |_: &mut serde_json::Map<String, Value>, c: &mut serde_json::Map<String, Value>| {
        c.insert("iat".into(), json!(now() - 600));
    };
    let no_ath = |_: &mut serde_json::Map<String, Value>,
                  c: &mut serde_json::Map<String, Value>| {
        c.remove("ath");
    };
    for (case, proof, why) in [
        ("replayed", good.clone(), "was used before (jti)"),
        (
            "htm",
            proof_key.proof("POST", &url, token),
            "is for another method (htm)",
        ),
        (
            "htu",
            proof_key.proof("GET", &format!("{}/admin", required.base), token),
            "is for another URL (htu)",
        ),
        (
            "stale iat",
            proof_key.proof_with("GET", &url, token, stale),
            "is too old (iat)",
        ),
        (
            "another key",
            other_key.proof("GET", &url, token),
            "is signed by another key than the token is bound to",
        ),
        (
            "no ath",
            proof_key.proof_with("GET", &url, token, no_ath),
            "lacks the access token hash (ath)",
        ),
    ] {
        let reply = send("DPoP", &url, token, &[&proof], &[]).await;
        assert_eq!(reply.status, 401, "{case}: {reply:?}");
        assert_eq!(reply.challenge, refusal(why), "{case}");
    }

    // Allowed: the bound token sent as a bearer token (RFC 9449 §7.1).
    let allowed = TestApp::start(
        AuthLayer::new(jwks_verifier(&provider, "rs256-api")).with_dpop(DpopPolicy::allowed()),
    )
    .await;
    let allowed_url = format!("{}/whoami", allowed.base);
    send("Bearer", &allowed_url, token, &[], &[]).await.assert(
        401,
        &format!(
            r#"Bearer error="invalid_token", error_description="the token is DPoP-bound: send it with Authorization: DPoP and a proof", DPoP {DEFAULT_ALGS}"#
        ),
    );
    let proof = proof_key.proof("GET", &allowed_url, token);
    assert_eq!(
        send("DPoP", &allowed_url, token, &[&proof], &[])
            .await
            .status,
        200
    );

    // An opaque DPoP-bound token: the binding comes from the introspection answer.
    let opaque = tokens(OPAQUE).token().await.expect("an opaque DPoP token");
    let opaque = opaque.as_str();
    let introspected = TestApp::start(
        AuthLayer::new(introspection(&provider, INTROSPECT_BASIC))
            .with_dpop(DpopPolicy::required()),
    )
    .await;
    let url = format!("{}/whoami", introspected.base);
    let proof = proof_key.proof("GET", &url, opaque);
    let reply = send("DPoP", &url, opaque, &[&proof], &[]).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let proof = other_key.proof("GET", &url, opaque);
    send("DPoP", &url, opaque, &[&proof], &[]).await.assert(
        401,
        &refusal("is signed by another key than the token is bound to"),
    );
}

/// The RFC 7523 JWT-bearer grant of the "Access ZITADEL APIs" guide, registered in
/// provider.mjs (oidc-provider does not ship it) and checked there with Node's crypto: our
/// `JwtBearer` signs with a ZITADEL-format service-account key file and gets a JWT whose `sub`
/// is the service account; an assertion of another user is `invalid_grant`; asking for DPoP
/// from a grant that does not bind is `NotDpopBound`.
#[tokio::test]
async fn jwt_bearer_grant_with_a_zitadel_service_account_key() {
    const SERVICE_ACCOUNT: &str = "service-account-1";
    let mut config = config();
    config["jwt_bearer"] = json!({
        "resource": RS256,
        "service_accounts": [{"user_id": SERVICE_ACCOUNT, "key_file": "service-account.json"}],
    });
    let provider = Provider::start("jwt-bearer", config).await;
    let key_file = provider.dir.join("service-account.json");
    let key = || ServiceAccountKey::from_file(&key_file).expect("key file parses");
    let verifier = jwks_verifier(&provider, "rs256-api");
    let token_endpoint = format!("{}/token", provider.issuer);
    for tokens in [
        JwtBearer::discover(&provider.issuer, key()).expect("provider"),
        JwtBearer::new(&provider.issuer, token_endpoint.as_str(), key()).expect("provider"),
    ] {
        let token = tokens.with_scope("read").token().await.expect("a token");
        let claims = verifier.verify(token.as_str()).await.expect("a valid JWT");
        assert_eq!(claims.subject(), Some(SERVICE_ACCOUNT));
    }

    let mut other: Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).expect("read")).expect("JSON");
    other["userId"] = json!("someone-else");
    let forged = ServiceAccountKey::from_json(&other.to_string()).expect("key file parses");
    let error = JwtBearer::discover(&provider.issuer, forged)
        .expect("provider")
        .token()
        .await
        .expect_err("another user's assertion");
    assert_eq!(error.kind(), TokenErrorKind::Rejected);
    assert_eq!(error.oauth_error(), Some("invalid_grant"));

    let error = JwtBearer::discover(&provider.issuer, key())
        .expect("provider")
        .with_dpop(DpopKey::generate().expect("key"))
        .token()
        .await
        .expect_err("a Bearer token");
    assert_eq!(error.kind(), TokenErrorKind::NotDpopBound);
}

/// The two examples against oidc-provider with DPoP nonces, as processes: `dpop_client
/// --issuer --client-id --client-secret --resource --api-url` gets a DPoP-bound JWT whose
/// `cnf.jkt` is its key's thumbprint and calls `jwt_api --dpop required --issuer --audience`,
/// pointed at the same provider, with a fresh proof each call: 200 with the verified claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_client_example_calls_jwt_api_with_dpop_required() {
    let mut config = config();
    config["dpop_nonce"] = json!(true);
    let provider = Provider::start("dpop-example", config).await;
    let mut api = Example::start(
        "jwt_api",
        &[
            "--issuer",
            &provider.issuer,
            "--audience",
            "rs256-api",
            "--dpop",
            "required",
            "--port",
            "0",
        ],
    );
    let base = api.wait_for("jwt_api listening on ");
    let api_url = format!("{base}/whoami");
    let secret = format!("{ADMIN}-secret");
    let mut example = Example::start(
        "dpop_client",
        &[
            "--issuer",
            &provider.issuer,
            "--client-id",
            ADMIN,
            "--client-secret",
            &secret,
            "--resource",
            RS256,
            "--api-url",
            &api_url,
        ],
    );
    let thumbprint = example.wait_for("DPoP key: ES256, thumbprint ");
    assert_eq!(
        example.wait_for("token: "),
        format!("DPoP, cnf.jkt {thumbprint}")
    );
    for call in 1..=2 {
        let answer = example.wait_for(&format!("call {call}: "));
        let (status, body) = answer.split_once(' ').expect("status and body");
        assert_eq!(status, "200", "{answer}");
        let claims: Value = serde_json::from_str(body).expect("claims");
        assert_eq!(claims["cnf"]["jkt"], thumbprint.as_str());
        assert_eq!(claims["iss"], provider.issuer.as_str());
    }
    let (_, status) = example.finish();
    assert!(status.success());
    drop(api);
}

// --- the examples -------------------------------------------------------------------------------

/// A request to an example, answered with status and body.
async fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, String)>,
) -> (u16, String) {
    let mut request = client().request(method.parse().expect("method"), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The examples, started with their flags for a real provider, driven over HTTP: `jwt_api`
/// (`--issuer/--audience/--roles-claim`), `zitadel_api` (`--domain/--key` with a ZITADEL-format
/// key file for a `private_key_jwt` client; roles from ZITADEL's role map claim) and
/// `entra_todolist_api` (`--issuer/--audience`; app tokens with `roles` and `idtyp: app`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_against_oidc_provider() {
    let provider = Provider::start("examples", config()).await;
    let issuer = provider.issuer.as_str();

    // jwt_api
    let mut jwt_api = Example::start(
        "jwt_api",
        &[
            "--issuer",
            issuer,
            "--audience",
            "rs256-api",
            "--roles-claim",
            "roles",
            "--port",
            "0",
        ],
    );
    let base = jwt_api.wait_for("jwt_api listening on");
    let admin = provider.token(ADMIN, RS256).await;
    let viewer = provider.token(VIEWER, RS256).await;
    let (status, body) = call("GET", &format!("{base}/whoami"), Some(&admin), None).await;
    assert_eq!(status, 200, "{body}");
    let claims: Value = serde_json::from_str(&body).expect("claims");
    assert_eq!(
        (claims["iss"].as_str(), claims["client_id"].as_str()),
        (Some(issuer), Some(ADMIN))
    );
    assert_eq!(
        call("GET", &format!("{base}/admin"), Some(&admin), None).await,
        (
            200,
            json!({"message": "hello, admin", "sub": ADMIN}).to_string()
        )
    );
    assert_eq!(
        call("GET", &format!("{base}/admin"), Some(&viewer), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call("GET", &format!("{base}/whoami"), None, None).await.0,
        401
    );
    let foreign = provider.token(ADMIN, ES256).await;
    assert_eq!(
        call("GET", &format!("{base}/whoami"), Some(&foreign), None)
            .await
            .0,
        401
    );
    drop(jwt_api);

    // zitadel_api: the guide's curl sequence, with opaque tokens introspected by the API with
    // its key file.
    let key = provider.key_file(ZITADEL_API);
    let mut zitadel_api = Example::start(
        "zitadel_api",
        &[
            "--domain",
            issuer,
            "--key",
            key.to_str().expect("path"),
            "--port",
            "0",
        ],
    );
    let base = zitadel_api.wait_for("zitadel_api listening on");
    let user = provider.token(TASKS_USER, TASKS).await;
    let admin = provider.token(TASKS_ADMIN, TASKS).await;
    let form = |task: &str| {
        Some((
            "application/x-www-form-urlencoded",
            format!("task={}", task.replace(' ', "+")),
        ))
    };
    assert_eq!(
        call("GET", &format!("{base}/api/healthz"), None, None).await,
        (200, "\"OK\"".to_owned())
    );
    assert_eq!(
        call("GET", &format!("{base}/api/tasks"), None, None).await,
        (
            401,
            "unauthorized: authorization header is empty\n".to_owned()
        )
    );
    assert_eq!(
        call("GET", &format!("{base}/api/tasks"), Some(&user), None).await,
        (200, "{}".to_owned())
    );
    assert_eq!(
        call("GET", &format!("{base}/api/add-task"), Some(&user), None).await,
        (
            403,
            "permission denied: missing required role: `admin`\n".to_owned()
        )
    );
    assert_eq!(
        call(
            "POST",
            &format!("{base}/api/add-task"),
            Some(&admin),
            form("My new task")
        )
        .await,
        (200, "\"task `My new task` added\"".to_owned())
    );
    assert_eq!(
        call("GET", &format!("{base}/api/tasks"), Some(&admin), None).await,
        (
            200,
            r#"{"tasks":["My new task","create a new task on /api/add-task"]}"#.to_owned()
        )
    );
    let (status, _) = call("GET", &format!("{base}/api/tasks"), Some("bogus"), None).await;
    assert_eq!(status, 401, "a token the provider does not know");
    drop(zitadel_api);

    // entra_todolist_api: app-only tokens with app roles, aud = the API's client id.
    let mut todo_api = Example::start(
        "entra_todolist_api",
        &["--issuer", issuer, "--audience", TODO_API_ID, "--port", "0"],
    );
    let base = todo_api.wait_for("entra_todolist_api listening on");
    let list = format!("{base}/api/todolist");
    let writer = provider.token(TODO_WRITER, TODO_RESOURCE).await;
    let reader = provider.token(TODO_READER, TODO_RESOURCE).await;
    let delegated = provider.token(TODO_DELEGATED, TODO_RESOURCE).await;
    let item = |description: &str| {
        Some((
            "application/json",
            json!({"owner": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "description": description})
                .to_string(),
        ))
    };
    assert_eq!(call("GET", &list, None, None).await.0, 401);
    let (status, body) = call("POST", &list, Some(&writer), item("Bake bread")).await;
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).expect("item");
    assert_eq!(created["description"], "Bake bread");
    let (status, body) = call("GET", &list, Some(&reader), None).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).expect("items")),
        (200, json!([created]))
    );
    assert_eq!(
        call("POST", &list, Some(&reader), item("Nope")).await.0,
        403,
        "read-only role"
    );
    // A user's (delegated, `idtyp: user`) token with the permission reads, as in Microsoft's
    // sample, but only its own items (it owns none here), and may not touch the daemon's item.
    let (status, body) = call("GET", &list, Some(&delegated), None).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).expect("items")),
        (200, json!([])),
        "idtyp user: only its own items"
    );
    let first = format!("{list}/{}", created["id"]);
    assert_eq!(
        call("DELETE", &first, Some(&delegated), None).await.0,
        403,
        "idtyp user: not the owner"
    );
    assert_eq!(
        call(
            "GET",
            &list,
            Some(&provider.token(ADMIN, RS256).await),
            None
        )
        .await
        .0,
        401,
        "a token for another API"
    );
    assert_eq!(
        call("DELETE", &format!("{list}/1"), Some(&writer), None)
            .await
            .0,
        200
    );
    assert_eq!(
        call("GET", &format!("{list}/1"), Some(&writer), None)
            .await
            .0,
        404
    );
    drop(todo_api);
}

// --- OpenID Connect Back-Channel Logout -------------------------------------------------------

/// The login client of the back-channel logout case (authorization code flow).
const WEB: &str = "web-app";

/// A user agent at oidc-provider: keeps its cookies (by name: the provider's cookies are few and
/// each step needs the latest of a name) and follows no redirect by itself.
struct Browser {
    http: reqwest::Client,
    cookies: Mutex<std::collections::BTreeMap<String, String>>,
}

/// What the login got from the token endpoint.
struct Login {
    access_token: String,
    id_token: String,
}

impl Login {
    /// The provider's session (`sid` of the ID token).
    fn sid(&self) -> String {
        jwt_claims(&self.id_token)["sid"]
            .as_str()
            .expect("the ID token of a client with a logout URI carries sid")
            .to_owned()
    }
}

impl Browser {
    fn new() -> Browser {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            http,
            cookies: Mutex::default(),
        }
    }

    /// Sends `request` with the cookies, keeps those set (an empty value removes one), and
    /// answers the status, the `Location` (made absolute) and the body.
    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, String, String) {
        let cookie = self
            .cookies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request
            .header("cookie", cookie)
            .send()
            .await
            .expect("request to the provider");
        {
            let mut cookies = self.cookies.lock().unwrap_or_else(PoisonError::into_inner);
            for set in response.headers().get_all("set-cookie") {
                let set = set.to_str().expect("ASCII cookie");
                let pair = set.split(';').next().unwrap_or_default();
                let (name, value) = pair.split_once('=').expect("name=value");
                if value.is_empty() {
                    cookies.remove(name);
                } else {
                    cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let status = response.status().as_u16();
        // Absolute, or relative to the URL asked for (the interaction pages' are).
        let location = response
            .headers()
            .get("location")
            .map(|l| {
                let l = l.to_str().expect("ASCII location");
                response.url().join(l).expect("location URL").to_string()
            })
            .unwrap_or_default();
        let body = response.text().await.expect("body");
        (status, location, body)
    }

    /// Logs `account` in at `client_id` (a confidential client redirecting to `redirect_uri`)
    /// through oidc-provider's dev interactions: the authorization request (`openid`, scope
    /// `read` of `resource`), the login form, the consent form, the code at the redirect URI,
    /// then the token request for `resource`.
    async fn login(
        &self,
        provider: &Provider,
        client_id: &str,
        redirect_uri: &str,
        account: &str,
        resource: &str,
    ) -> Login {
        let metadata = provider.metadata().await;
        let authorize = metadata["authorization_endpoint"].as_str().expect("authz");
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", client_id),
                ("response_type", "code"),
                ("scope", "openid read"),
                ("redirect_uri", redirect_uri),
                ("resource", resource),
                ("state", "the-state"),
                ("nonce", "the-nonce"),
            ])
            .finish();
        let mut request = self.http.get(format!("{authorize}?{query}"));
        let mut code = None;
        for _ in 0..10 {
            let (status, location, body) = self.send(request).await;
            request = match status {
                302 | 303 => {
                    if let Some(query) = location.strip_prefix(&format!("{redirect_uri}?")) {
                        let params: Vec<(String, String)> =
                            form_urlencoded::parse(query.as_bytes())
                                .into_owned()
                                .collect();
                        let param = |name: &str| {
                            params
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, v)| v.clone())
                        };
                        assert_eq!(param("state").as_deref(), Some("the-state"));
                        code = param("code");
                        break;
                    }
                    self.http.get(location)
                }
                // An interaction page: a form with a hidden `prompt` (login, then consent).
                200 => {
                    let prompt = between(&body, r#"name="prompt" value=""#, "\"");
                    let action = between(&body, r#"action=""#, "\"");
                    self.http.post(action).form(&[
                        ("prompt", prompt.as_str()),
                        ("login", account),
                        ("password", "any"),
                    ])
                }
                _ => panic!("login of {account}: {status} {body}"),
            };
        }
        let code = code.unwrap_or_else(|| panic!("no code for {account}"));
        let token_endpoint = metadata["token_endpoint"].as_str().expect("token endpoint");
        let answer: Value = self
            .http
            .post(token_endpoint)
            .basic_auth(client_id, Some(format!("{client_id}-secret")))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri),
                ("resource", resource),
            ])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token answer");
        let token = |name: &str| {
            answer[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name}: {answer}"))
                .to_owned()
        };
        Login {
            access_token: token("access_token"),
            id_token: token("id_token"),
        }
    }

    /// RP-initiated logout of the session `login` belongs to: the end-session endpoint with
    /// the ID token as hint, then "Yes, sign me out" (the confirm form with its xsrf).
    async fn logout(&self, provider: &Provider, login: &Login) {
        let metadata = provider.metadata().await;
        let end_session = metadata["end_session_endpoint"]
            .as_str()
            .expect("end_session_endpoint");
        let (status, _, page) = self
            .send(
                self.http
                    .get(format!("{end_session}?id_token_hint={}", login.id_token)),
            )
            .await;
        assert_eq!(status, 200, "the logout page: {page}");
        let action = between(&page, r#"action=""#, "\"");
        let xsrf = between(&page, r#"name="xsrf" value=""#, "\"");
        let (status, location, body) = self
            .send(
                self.http
                    .post(action)
                    .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")]),
            )
            .await;
        assert_eq!(status, 303, "logout confirmed: {body}");
        assert!(location.ends_with("/session/end/success"), "{location}");
    }
}

/// The text of `page` between `start` and the next `end`.
#[track_caller]
fn between(page: &str, start: &str, end: &str) -> String {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in {page}"))
        + start.len();
    let len = page[from..].find(end).expect("end");
    page[from..from + len].to_owned()
}

/// What reached our logout endpoint: each request's form body and our answer's status.
type Deliveries = Arc<Mutex<Vec<(String, u16)>>>;

/// Where a login client's user agent and logout tokens go: our service's listener, bound
/// before the provider starts (its configuration names these URIs).
struct Receiver {
    listener: tokio::net::TcpListener,
    base: String,
}

impl Receiver {
    async fn bind() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        Receiver { listener, base }
    }

    fn redirect_uri(&self) -> String {
        format!("{}/callback", self.base)
    }

    fn logout_uri(&self) -> String {
        format!("{}/backchannel-logout", self.base)
    }

    /// The provider's configuration of the login client `client_id` (`client_secret_basic`)
    /// redirecting here and sending its logout tokens here; with `access_token_sid`, its
    /// users' access tokens carry the session's `sid`.
    fn client(&self, client_id: &str, access_token_sid: bool) -> Value {
        json!({
            "client_id": client_id, "client_secret": format!("{client_id}-secret"),
            "auth": "client_secret_basic", "redirect_uri": self.redirect_uri(),
            "backchannel_logout_uri": self.logout_uri(), "access_token_sid": access_token_sid,
        })
    }

    /// Serves our service here: `/whoami` behind `AuthLayer::new(Revocable::new(..))` on the
    /// provider's RS256 access tokens, and `logout` (recording into `revocations`) at
    /// `/backchannel-logout`, keeping what arrives there.
    fn serve(
        self,
        provider: &Provider,
        revocations: &tower_authz::Revocations,
        logout: tower_authz::BackChannelLogout,
    ) -> (Deliveries, tokio::task::JoinHandle<()>) {
        use axum::body::Body;
        use axum::response::IntoResponse as _;
        use tower::ServiceExt as _;
        use tower_authz::{Claims, Revocable};

        let verifier = Revocable::new(
            jwks_verifier(provider, "rs256-api").with_typ("at+jwt"),
            revocations.clone(),
        );
        let deliveries = Deliveries::default();
        let recorded = deliveries.clone();
        let endpoint = tower::service_fn(move |request: http::Request<Body>| {
            let (logout, recorded) = (logout.clone(), recorded.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 64 * 1024)
                    .await
                    .expect("logout request body");
                let form = String::from_utf8_lossy(&body).into_owned();
                let request = http::Request::from_parts(parts, Body::from(body));
                let response = logout.oneshot(request).await?;
                recorded
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((form, response.status().as_u16()));
                Ok::<_, std::convert::Infallible>(response.into_response())
            }
        });
        let router = axum::Router::new()
            .route(
                "/whoami",
                axum::routing::get(|claims: Claims| async move {
                    axum::Json(claims.as_value().clone())
                }),
            )
            .layer(AuthLayer::new(verifier))
            .route_service("/backchannel-logout", endpoint);
        let listener = self.listener;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        (deliveries, task)
    }
}

/// The logout token of the one request our endpoint received, which it answered 200.
#[track_caller]
fn the_logout_token(deliveries: &Deliveries) -> String {
    let received = deliveries
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let (form, status) = &received[0];
    assert_eq!(*status, 200, "our answer to oidc-provider");
    form_urlencoded::parse(form.as_bytes())
        .find(|(name, _)| name == "logout_token")
        .map(|(_, token)| token.into_owned())
        .expect("logout_token")
}

/// The deliveries oidc-provider reported (`GET /_interop/backchannel` of provider.mjs).
async fn reported_deliveries(provider: &Provider) -> Value {
    client()
        .get(format!("{}/_interop/backchannel", provider.issuer))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("JSON")
}

/// OpenID Connect Back-Channel Logout 1.0 from oidc-provider (its `backchannelLogout` feature)
/// to our `BackChannelLogout`, with a real session: users log in through oidc-provider's dev
/// interactions (authorization code flow; the access token is an RS256 JWT for our API carrying
/// the session's `sid`), one of them signs out (RP-initiated logout, confirmed), oidc-provider
/// POSTs its logout token to our endpoint, which verifies it as sent (`typ: logout+jwt`, its
/// claims) and answers 200; `Revocable` then refuses that session's access token (401
/// `invalid_token`) while the provider's signature on it is still good, and accepts the same
/// user's other session and another user. The same logout token sent again is a replay (400).
#[tokio::test]
async fn back_channel_logout_from_oidc_provider() {
    use tower_authz::{BackChannelLogout, Revocations};

    let receiver = Receiver::bind().await;
    let (base, redirect_uri, logout_uri) = (
        receiver.base.clone(),
        receiver.redirect_uri(),
        receiver.logout_uri(),
    );
    let mut config = config();
    config["clients"]
        .as_array_mut()
        .expect("clients")
        .push(receiver.client(WEB, true));
    let provider = Provider::start("backchannel-logout", config).await;
    let revocations = Revocations::new();
    let logout = BackChannelLogout::new(
        JwksVerifier::discover(&provider.issuer, WEB).expect("logout verifier"),
        revocations.clone(),
    );
    let (deliveries, _app) = receiver.serve(&provider, &revocations, logout);
    // The same tokens at a verifier without revocations: still valid JWTs after the logout.
    let plain = app(jwks_verifier(&provider, "rs256-api")).await;
    let whoami = format!("{base}/whoami");

    // Alice signs in twice (two browsers: two sessions), Bob once.
    let (alice_browser, other_browser, bob_browser) =
        (Browser::new(), Browser::new(), Browser::new());
    let alice = alice_browser
        .login(&provider, WEB, &redirect_uri, "alice", RS256)
        .await;
    let alice_elsewhere = other_browser
        .login(&provider, WEB, &redirect_uri, "alice", RS256)
        .await;
    let bob = bob_browser
        .login(&provider, WEB, &redirect_uri, "bob", RS256)
        .await;
    assert_ne!(alice.sid(), alice_elsewhere.sid(), "two sessions");
    for (login, sub) in [
        (&alice, "alice"),
        (&alice_elsewhere, "alice"),
        (&bob, "bob"),
    ] {
        assert_eq!(jwt_header(&login.access_token)["typ"], "at+jwt");
        let claims = ok_json(&get_with(&whoami, Some(&login.access_token)).await);
        assert_eq!(claims["sub"], sub);
        assert_eq!(claims["sid"], login.sid().as_str(), "the session's sid");
        assert_eq!(claims["aud"], "rs256-api");
    }

    // Alice signs out of her first session: oidc-provider sends the logout token at once.
    alice_browser.logout(&provider, &alice).await;
    assert_eq!(
        reported_deliveries(&provider).await,
        json!([{"client_id": WEB, "sub": "alice", "sid": alice.sid(), "ok": true}]),
        "oidc-provider delivered one logout token and our endpoint answered 200"
    );
    let logout_token = the_logout_token(&deliveries);

    // The logout token as oidc-provider made it, which our endpoint accepted unchanged.
    let header = jwt_header(&logout_token);
    assert_eq!(
        header["typ"], "logout+jwt",
        "explicitly typed (BCL 1.0 §2.4)"
    );
    assert_eq!(header["alg"], "RS256");
    let claims = jwt_claims(&logout_token);
    assert_eq!(claims["iss"], provider.issuer.as_str());
    assert_eq!(claims["aud"], WEB, "addressed to the client");
    assert_eq!(
        (claims["sub"].as_str(), claims["sid"].as_str()),
        (Some("alice"), Some(alice.sid().as_str()))
    );
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    assert!(claims["jti"].is_string() && claims["iat"].is_u64() && claims["exp"].is_u64());
    assert!(claims.get("nonce").is_none());

    // Her session's token is refused by our service, though its signature is still good.
    get_with(&whoami, Some(&alice.access_token))
        .await
        .assert_refused(401, "invalid_token");
    ok_json(&plain.get("/whoami", Some(&alice.access_token)).await);
    // Her other session and Bob are not concerned.
    ok_json(&get_with(&whoami, Some(&alice_elsewhere.access_token)).await);
    ok_json(&get_with(&whoami, Some(&bob.access_token)).await);

    // The same logout token again: a replay, refused.
    let replay = client()
        .post(&logout_uri)
        .form(&[("logout_token", logout_token.as_str())])
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status().as_u16(), 400);
    let answer: Value = replay.json().await.expect("JSON error");
    assert_eq!(
        answer,
        json!({"error": "invalid_request", "error_description": "the logout token was used before"})
    );
}

/// oidc-provider's access tokens as it ships them carry no `sid`: a session's logout token
/// cannot name them, so the endpoint is built `with_session_logout_revoking_subject`. Alice's
/// logout from one session refuses every token of hers issued until then (both sessions),
/// Bob's still passes, and a token she gets after the logout passes.
#[tokio::test]
async fn back_channel_logout_of_access_tokens_without_sid() {
    use tower_authz::{BackChannelLogout, Revocations};

    let receiver = Receiver::bind().await;
    let redirect_uri = receiver.redirect_uri();
    let whoami = format!("{}/whoami", receiver.base);
    let mut config = config();
    config["clients"]
        .as_array_mut()
        .expect("clients")
        .push(receiver.client(WEB, false));
    let provider = Provider::start("backchannel-logout-subject", config).await;
    let revocations = Revocations::new();
    let logout = BackChannelLogout::new(
        JwksVerifier::discover(&provider.issuer, WEB).expect("logout verifier"),
        revocations.clone(),
    )
    .with_session_logout_revoking_subject();
    let (deliveries, _app) = receiver.serve(&provider, &revocations, logout);

    let login = |account: &'static str| {
        let redirect_uri = redirect_uri.clone();
        let provider = &provider;
        async move {
            let browser = Browser::new();
            let login = browser
                .login(provider, WEB, &redirect_uri, account, RS256)
                .await;
            (browser, login)
        }
    };
    let (alice_browser, alice) = login("alice").await;
    let (_, alice_elsewhere) = login("alice").await;
    let (_, bob) = login("bob").await;
    for login in [&alice, &alice_elsewhere, &bob] {
        assert_eq!(
            jwt_claims(&login.access_token).get("sid"),
            None,
            "oidc-provider's own access tokens"
        );
        ok_json(&get_with(&whoami, Some(&login.access_token)).await);
    }

    alice_browser.logout(&provider, &alice).await;
    assert_eq!(
        reported_deliveries(&provider).await,
        json!([{"client_id": WEB, "sub": "alice", "sid": alice.sid(), "ok": true}]),
    );
    let logout_token = the_logout_token(&deliveries);
    for login in [&alice, &alice_elsewhere] {
        get_with(&whoami, Some(&login.access_token))
            .await
            .assert_refused(401, "invalid_token");
    }
    ok_json(&get_with(&whoami, Some(&bob.access_token)).await);

    // A token issued in the logout's own second is refused too (times are whole seconds): once
    // that second has passed, Alice signs in again and her new token passes.
    let logged_out_at = jwt_claims(&logout_token)["iat"].as_u64().expect("iat");
    sleep_past(logged_out_at).await;
    let (_, again) = login("alice").await;
    ok_json(&get_with(&whoami, Some(&again.access_token)).await);
}
