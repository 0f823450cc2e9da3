//! State shared between a [`DevIssuer`](super::DevIssuer), its HTTP server
//! task and the [`TokenBuilder`](super::TokenBuilder)s it hands out.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::clients::Registry;
use super::clock::unix_now;
use super::dpop::{self, DpopState};
use super::fusionauth;
use super::key::{DevAlgorithm, DevKey, random_b64, random_token};
use super::logout;
use super::store::{StoredToken, TokenStore};

/// Path of the JWKS (ZITADEL's).
pub(super) const JWKS_PATH: &str = "/oauth/v2/keys";
/// Path of the JWKS at FusionAuth (the same document as [`JWKS_PATH`]).
pub(super) const FUSIONAUTH_JWKS_PATH: &str = "/.well-known/jwks.json";
/// Path of the OpenID Connect discovery document.
pub(super) const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// Path of the RFC 8414 authorization server metadata (the issuer has no path).
pub(super) const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Path of the token endpoint (RFC 6749).
pub(super) const TOKEN_PATH: &str = "/oauth/v2/token";
/// Path of the introspection endpoint (RFC 7662).
pub(super) const INTROSPECTION_PATH: &str = "/oauth/v2/introspect";
/// Path of the revocation endpoint (RFC 7009).
pub(super) const REVOCATION_PATH: &str = "/oauth/v2/revoke";
/// Path of the RP-Initiated Logout endpoint (ZITADEL's).
pub(super) const END_SESSION_PATH: &str = "/oidc/v1/end_session";
/// Path of ZITADEL's `GetMyUser` (`zitadel.auth.v1.AuthService`, REST mapping).
pub(super) const USERS_ME_PATH: &str = "/auth/v1/users/me";

/// The issuer's keys.
#[derive(Debug)]
struct SigningKeys {
    /// Published keys, oldest first.
    published: Vec<Arc<DevKey>>,
    /// The current key of each algorithm, indexed like [`DevAlgorithm::ALL`].
    /// It stays here after being retired when no other key of its algorithm
    /// is left, but is then no longer used for signing.
    current: [Arc<DevKey>; 3],
}

impl SigningKeys {
    fn current(&self, alg: DevAlgorithm) -> &Arc<DevKey> {
        &self.current[alg_index(alg)]
    }

    fn set_current(&mut self, key: Arc<DevKey>) {
        let index = alg_index(key.algorithm());
        self.current[index] = key;
    }

    fn is_published(&self, key: &Arc<DevKey>) -> bool {
        self.published.iter().any(|k| Arc::ptr_eq(k, key))
    }
}

fn alg_index(alg: DevAlgorithm) -> usize {
    match alg {
        DevAlgorithm::RS256 => 0,
        DevAlgorithm::ES256 => 1,
        DevAlgorithm::EdDSA => 2,
    }
}

#[derive(Debug)]
pub(super) struct Shared {
    issuer: String,
    /// When the issuer started (Unix seconds).
    started_at: u64,
    keys: RwLock<SigningKeys>,
    jwks_max_age: Mutex<Option<Duration>>,
    available: AtomicBool,
    /// Which metadata documents are served.
    metadata: Mutex<super::MetadataDocuments>,
    response_delay: Mutex<Option<Duration>>,
    pub(super) jwks_requests: AtomicUsize,
    pub(super) discovery_requests: AtomicUsize,
    pub(super) token_requests: AtomicUsize,
    pub(super) introspection_requests: AtomicUsize,
    pub(super) revocation_requests: AtomicUsize,
    /// Logout Tokens posted to receivers.
    pub(super) logout_deliveries: AtomicUsize,
    /// Opaque tokens and revoked JWT ids.
    pub(super) tokens: TokenStore,
    /// Clients, assertion keys, machine users and their roles.
    pub(super) registry: Registry,
    /// FusionAuth applications, their users, codes and refresh tokens.
    pub(super) fusionauth: fusionauth::Store,
    /// Back-channel logout receivers.
    pub(super) logout: logout::Receivers,
    /// Fallback source of unique `jti`s should the random generator fail.
    jti_counter: AtomicU64,
    /// DPoP proofs seen at the token endpoint and the nonce mode.
    pub(super) dpop: DpopState,
}

impl Shared {
    /// `keys` holds the initial key of each algorithm, in [`DevAlgorithm::ALL`] order.
    pub(super) fn new(issuer: String, keys: [DevKey; 3]) -> Self {
        let current = keys.map(Arc::new);
        let keys = SigningKeys {
            published: current.to_vec(),
            current,
        };
        Shared {
            issuer,
            started_at: unix_now(),
            keys: RwLock::new(keys),
            jwks_max_age: Mutex::new(None),
            available: AtomicBool::new(true),
            metadata: Mutex::new(super::MetadataDocuments::Both),
            response_delay: Mutex::new(None),
            jwks_requests: AtomicUsize::new(0),
            discovery_requests: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            introspection_requests: AtomicUsize::new(0),
            revocation_requests: AtomicUsize::new(0),
            logout_deliveries: AtomicUsize::new(0),
            tokens: TokenStore::default(),
            registry: Registry::default(),
            fusionauth: fusionauth::Store::default(),
            logout: logout::Receivers::default(),
            jti_counter: AtomicU64::new(0),
            dpop: DpopState::default(),
        }
    }

    pub(super) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// When the issuer started (Unix seconds).
    pub(super) fn started_at(&self) -> u64 {
        self.started_at
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn read_keys(&self) -> RwLockReadGuard<'_, SigningKeys> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_keys(&self) -> RwLockWriteGuard<'_, SigningKeys> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current key of `alg`, even if it has been retired.
    pub(super) fn current_key(&self, alg: DevAlgorithm) -> Arc<DevKey> {
        Arc::clone(self.read_keys().current(alg))
    }

    /// The current key of `alg` if it is still published.
    pub(super) fn signing_key(&self, alg: DevAlgorithm) -> Option<Arc<DevKey>> {
        let keys = self.read_keys();
        let current = keys.current(alg);
        keys.is_published(current).then(|| Arc::clone(current))
    }

    pub(super) fn published_keys(&self) -> Vec<Arc<DevKey>> {
        self.read_keys().published.clone()
    }

    /// Publishes `key` and makes it the current key of its algorithm.
    pub(super) fn publish(&self, key: DevKey) {
        let key = Arc::new(key);
        let mut keys = self.write_keys();
        keys.published.push(Arc::clone(&key));
        keys.set_current(key);
    }

    /// Stops publishing `kid`; true if it was published. A retired current key
    /// is replaced by the most recent remaining key of its algorithm, if any.
    pub(super) fn retire(&self, kid: &str) -> bool {
        let mut keys = self.write_keys();
        let before = keys.published.len();
        keys.published.retain(|key| key.kid() != kid);
        if keys.published.len() == before {
            return false;
        }
        for alg in DevAlgorithm::ALL {
            if keys.is_published(keys.current(alg)) {
                continue;
            }
            let replacement = keys.published.iter().rev().find(|k| k.algorithm() == alg);
            if let Some(replacement) = replacement.cloned() {
                keys.set_current(replacement);
            }
        }
        true
    }

    pub(super) fn jwks(&self) -> Value {
        let keys = self.read_keys();
        let jwks: Vec<Value> = keys.published.iter().map(|key| key.public_jwk()).collect();
        json!({ "keys": jwks })
    }

    pub(super) fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": self.url(JWKS_PATH),
            "authorization_endpoint": self.url("/oauth/v2/authorize"),
            "token_endpoint": self.url(TOKEN_PATH),
            "introspection_endpoint": self.url(INTROSPECTION_PATH),
            "revocation_endpoint": self.url(REVOCATION_PATH),
            "userinfo_endpoint": self.url("/oidc/v1/userinfo"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": DevAlgorithm::ALL.map(|alg| alg.as_str()),
            "grant_types_supported": [
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
            ],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "dpop_signing_alg_values_supported": dpop::ALGORITHMS,
            "end_session_endpoint": self.url(END_SESSION_PATH),
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        })
    }

    pub(super) fn metadata_documents(&self) -> super::MetadataDocuments {
        *self.metadata.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_metadata_documents(&self, documents: super::MetadataDocuments) {
        *self.metadata.lock().unwrap_or_else(PoisonError::into_inner) = documents;
    }

    pub(super) fn jwks_max_age(&self) -> Option<Duration> {
        *self
            .jwks_max_age
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_jwks_max_age(&self, max_age: Option<Duration>) {
        *self
            .jwks_max_age
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = max_age;
    }

    pub(super) fn response_delay(&self) -> Option<Duration> {
        *self
            .response_delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_response_delay(&self, delay: Option<Duration>) {
        *self
            .response_delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    pub(super) fn is_available(&self) -> bool {
        self.available.load(Ordering::SeqCst)
    }

    pub(super) fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::SeqCst);
    }

    /// A random `jti`; if randomness is unavailable, a per-issuer counter.
    pub(super) fn new_jti(&self) -> String {
        random_token().unwrap_or_else(|_: io::Error| {
            let n = self.jti_counter.fetch_add(1, Ordering::Relaxed);
            format!("dev-jti-{n}")
        })
    }

    /// Stores `token` under a new opaque value (32 random bytes, base64url:
    /// never dot-separated like a JWT) and returns that value.
    pub(super) fn store_token(&self, token: StoredToken) -> String {
        let value = random_b64::<32>().unwrap_or_else(|_: io::Error| {
            // Randomness is unavailable: still unique within this issuer.
            let n = self.jti_counter.fetch_add(1, Ordering::Relaxed);
            format!("dev-opaque-{n}")
        });
        self.tokens.insert(value.clone(), token, unix_now());
        value
    }

    /// Signs `claims` with the current RS256 key, header `{alg, typ: "JWT", kid}`.
    pub(super) fn sign_rs256(&self, claims: &Value) -> io::Result<String> {
        let key = self.signing_key(DevAlgorithm::RS256).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "the dev issuer publishes no RS256 key",
            )
        })?;
        let mut header = Map::new();
        header.insert("alg".into(), "RS256".into());
        header.insert("typ".into(), "JWT".into());
        header.insert("kid".into(), key.kid().into());
        key.sign_jws(&header, claims)
    }
}
