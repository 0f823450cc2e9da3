//! [`Revocations`]: the handle a service keeps to revoke tokens and to check them.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::record::{Revocation, TokenId};
use super::store::{RecordSink, RevocationStore, StoreError};
use super::table::Table;
use crate::claims::Claims;
use crate::clock::now;
use crate::telemetry::PROVIDER_WARNINGS;

/// The longest token lifetime assumed by default: Auth0's default access token lifetime.
const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Told of every revocation, to drop what it cached for it (a verifier with a cache).
pub(crate) trait Listener: Send + Sync {
    fn revoked(&self, revocation: &Revocation);
}

/// The revocations of a service: logged-out subjects and sessions, revoked tokens.
///
/// Keep one per service (clones share it), give it to
/// [`Revocable`](crate::Revocable) around the verifier so that every verified token is checked
/// against it, and to [`BackChannelLogout`](crate::BackChannelLogout) so that the identity
/// provider's logouts land in it. Revoke from your own code (a logout endpoint, an admin API)
/// with [`revoke_subject`](Self::revoke_subject), [`revoke_session`](Self::revoke_session) and
/// [`revoke_token`](Self::revoke_token).
///
/// A token is refused (401 `invalid_token`) when:
/// - its `sub` (with its `iss`) was revoked and it was issued at or before that time (a token
///   without `iat` cannot show otherwise, and is refused too);
/// - likewise for its `sid` (the provider's session);
/// - its `jti` (or, without one, the token itself) was revoked, until it expires.
///
/// Records last as long as the longest-lived token they could refuse
/// ([`with_max_token_lifetime`](Self::with_max_token_lifetime), default 24 hours), then go.
/// Without a store, the records are this process's. With a [`RevocationStore`]
/// ([`with_store`](Self::with_store), e.g. [`RedisCache`](crate::RedisCache)) every replica
/// gets each record within milliseconds (pub/sub), and a replica that starts later loads the
/// records still kept.
///
/// ```
/// use tower_authz::{Claims, Revocations, RoleSource};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let revocations = Revocations::new();
/// let claims = Claims::from_value(
///     serde_json::json!({"iss": "https://id.example.com", "sub": "alice", "iat": 1_700_000_000}),
///     &RoleSource::default(),
/// ).unwrap();
/// assert!(!revocations.is_revoked(&claims, "the-token"));
///
/// // Alice logs out: every token issued to her until now is refused.
/// revocations.revoke_subject(Some("https://id.example.com"), "alice").await?;
/// assert!(revocations.is_revoked(&claims, "the-token"));
/// # Ok::<(), tower_authz::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    table: Table,
    /// The key of the hashes of tokens without `jti` when there is no store.
    hash_key: hmac::Key,
    store: Option<Arc<dyn RevocationStore>>,
    listeners: Mutex<Vec<Weak<dyn Listener>>>,
    /// Whether this replica follows the store already.
    following: AtomicBool,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations")
            .field("table", &self.inner.table)
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl Default for Revocations {
    fn default() -> Self {
        Self::new()
    }
}

impl Revocations {
    /// Revocations kept by this process only, for tokens living at most 24 hours.
    pub fn new() -> Self {
        Self::build(DEFAULT_MAX_TOKEN_LIFETIME, None)
    }

    fn build(max_lifetime: Duration, store: Option<Arc<dyn RevocationStore>>) -> Self {
        let mut secret = [0u8; 32];
        // Without randomness the key is fixed: hashes are then only as secret as the tokens'
        // own entropy makes them, which for signed tokens is still enough.
        let _ = SystemRandom::new().fill(&mut secret);
        Self {
            inner: Arc::new(Inner {
                table: Table::new(max_lifetime),
                hash_key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
                store,
                listeners: Mutex::new(Vec::new()),
                following: AtomicBool::new(false),
            }),
        }
    }

    /// How long the longest-lived access token of your providers lives: a subject's or a
    /// session's record lasts that long (ZITADEL: 12 h by default, Entra: 60-90 min, Keycloak:
    /// 5 min, Auth0: 24 h). Default: 24 hours. Set it while building: records already made
    /// are not kept.
    pub fn with_max_token_lifetime(self, lifetime: Duration) -> Self {
        Self::build(lifetime, self.inner.store.clone())
    }

    /// Shares the records with every replica through `store` (e.g. a
    /// [`RedisCache`](crate::RedisCache), or an `Arc` of one also used as the introspection
    /// cache). Set it while building: records already made are not kept.
    pub fn with_store(self, store: impl RevocationStore) -> Self {
        let lifetime = Duration::from_secs(self.inner.table.max_lifetime());
        Self::build(lifetime, Some(Arc::new(store)))
    }

    /// Whether the token `token` with `claims` (already verified) is revoked. No allocation and
    /// no lock before the first revocation; after it, one look-up per claim among `sub`, `sid`
    /// and `jti` (and a keyed hash of a token without `jti` once a token was revoked).
    pub fn is_revoked(&self, claims: &Claims, token: &str) -> bool {
        self.follow_store();
        self.inner
            .table
            .refuses(claims, || self.inner.token_hash(token))
    }

    /// Refuses every token of `subject` (from `issuer`; `None`: from any issuer) issued until
    /// now, on every replica. An `Err` says the record is kept here but could not be shared.
    pub async fn revoke_subject(
        &self,
        issuer: Option<&str>,
        subject: &str,
    ) -> Result<(), StoreError> {
        self.revoke(Revocation::Subject {
            issuer: issuer.map(str::to_owned),
            subject: subject.to_owned(),
            at: now(),
        })
        .await
    }

    /// Refuses every token of the provider session `session` (its `sid`, from `issuer`)
    /// issued until now, on every replica. An `Err` says the record is kept here but could not
    /// be shared.
    pub async fn revoke_session(
        &self,
        issuer: Option<&str>,
        session: &str,
    ) -> Result<(), StoreError> {
        self.revoke(Revocation::Session {
            issuer: issuer.map(str::to_owned),
            session: session.to_owned(),
            at: now(),
        })
        .await
    }

    /// Refuses `token` (whose verified claims are `claims`: in a handler, the request's
    /// [`Claims`]) until it expires, on every replica: by its `jti`, or by a keyed hash of the
    /// token when it has none. A token without `exp` is refused for the longest token
    /// lifetime. An `Err` says the record is kept here but could not be shared.
    pub async fn revoke_token(&self, token: &str, claims: &Claims) -> Result<(), StoreError> {
        let id = match claims.token_id() {
            Some(jti) => TokenId::Jti(jti.to_owned()),
            None => TokenId::Hash(self.inner.token_hash(token)),
        };
        let until = claims
            .expires_at()
            .unwrap_or_else(|| now().saturating_add(self.inner.table.max_lifetime()));
        self.revoke(Revocation::Token { id, until }).await
    }

    /// Applies `revocation` here and shares it with every replica. An `Err` says the record is
    /// kept here but could not be shared (the store is down): the caller may try again.
    pub async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        self.follow_store();
        self.inner.apply(&revocation);
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let expires_at = revocation.expires_at(self.inner.table.max_lifetime());
        let ttl = Duration::from_secs(expires_at.saturating_sub(now()).max(1));
        store.publish(&revocation, ttl).await.inspect_err(|error| {
            let sentence =
                "a revocation could not be shared with the other replicas; it holds here";
            if let Some(suppressed) = PROVIDER_WARNINGS.admit(sentence, std::time::Instant::now()) {
                tracing::warn!(error = %error, suppressed, "{sentence}");
            }
        })
    }

    /// Takes `key` (a logout token's `jti`) for `ttl`: `true` the first time on any replica.
    /// Without a store, or with a store that fails, answers for this process (`local`).
    pub(crate) async fn first_use(
        &self,
        key: &str,
        ttl: Duration,
        local: impl FnOnce() -> bool,
    ) -> Result<bool, StoreError> {
        match &self.inner.store {
            Some(store) => store.first_use(key, ttl).await,
            None => Ok(local()),
        }
    }

    /// Registers `listener` to be told of every revocation from now on (while it lives).
    pub(crate) fn listen(&self, listener: Weak<dyn Listener>) {
        let mut listeners = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.retain(|listener| listener.strong_count() > 0);
        listeners.push(listener);
    }

    /// Starts following the store (once, when a runtime is there to run it).
    fn follow_store(&self) {
        let Some(store) = &self.inner.store else {
            return;
        };
        if self.inner.following.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.following.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = Arc::clone(store);
        let sink = RecordSink(Arc::downgrade(&self.inner));
        runtime.spawn(async move { store.follow(sink).await });
    }
}

impl Inner {
    /// Keeps `revocation` and tells the listeners.
    pub(super) fn apply(&self, revocation: &Revocation) {
        self.table.insert(revocation);
        let listeners: Vec<Arc<dyn Listener>> = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            listener.revoked(revocation);
        }
    }

    fn token_hash(&self, token: &str) -> String {
        match &self.store {
            Some(store) => store.token_hash(token),
            None => URL_SAFE_NO_PAD.encode(hmac::sign(&self.hash_key, token.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use serde_json::json;

    use super::*;
    use crate::claims::RoleSource;

    fn claims(value: serde_json::Value) -> Claims {
        Claims::from_value(value, &RoleSource::default()).unwrap()
    }

    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl Listener for Counting {
        fn revoked(&self, _: &Revocation) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn revoking_a_token_refuses_it_by_jti_or_by_its_hash() {
        let revocations = Revocations::new();
        let exp = now() + 60;
        let with_jti = claims(json!({"sub": "a", "jti": "j", "exp": exp}));
        let without = claims(json!({"sub": "a", "exp": exp}));
        revocations.revoke_token("t1", &with_jti).await.unwrap();
        revocations.revoke_token("t2", &without).await.unwrap();
        assert!(revocations.is_revoked(&with_jti, "any text"));
        assert!(revocations.is_revoked(&without, "t2"));
        assert!(!revocations.is_revoked(&without, "t3"));
        // The hash is keyed: not a plain digest of the token, nor the token.
        let hash = revocations.inner.token_hash("t2");
        assert!(!hash.contains("t2"));
        assert_ne!(hash, Revocations::new().inner.token_hash("t2"));
    }

    #[tokio::test]
    async fn listeners_hear_of_each_revocation_while_they_live() {
        let revocations = Revocations::new();
        let listener = Arc::new(Counting::default());
        let weak: Weak<dyn Listener> =
            Arc::downgrade(&(Arc::clone(&listener) as Arc<dyn Listener>));
        revocations.listen(weak);
        revocations.revoke_session(None, "s").await.unwrap();
        revocations.revoke_subject(None, "a").await.unwrap();
        assert_eq!(listener.0.load(Ordering::SeqCst), 2);
        drop(listener);
        revocations.revoke_subject(None, "b").await.unwrap();
        assert_eq!(
            revocations
                .inner
                .listeners
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.strong_count() > 0)
                .count(),
            0
        );
    }

    #[test]
    fn debug_shows_counts_not_records() {
        let text = format!("{:?}", Revocations::new());
        assert!(text.contains("Revocations"), "{text}");
    }
}
