//! [`SharedCache`]: introspection answers shared by the replicas of a service, behind each
//! replica's own caches.
//!
//! The [`IntrospectionVerifier`](crate::IntrospectionVerifier) keeps its in-memory caches (the
//! active answers, the refusals) in front: a hit there never reaches the shared cache. On a local
//! miss, with a shared cache set ([`with_shared_cache`](crate::IntrospectionVerifier::with_shared_cache)):
//!
//! 1. the shared cache is asked; an answer found there fills the local cache (an active answer
//!    is checked again by this replica: `exp`, `nbf`, `iss`, audience, token type);
//! 2. otherwise the replica takes a short lock for the token ([`SharedCache::lock`]); the holder
//!    asks the provider and writes the answer; the others poll the shared cache for it (every
//!    10 ms, for at most 1 s) and ask the provider themselves if it does not come;
//! 3. a shared cache that fails (down, slow past its timeout) is not asked again for 1 s: the
//!    replica asks the provider with its local cache, logs a warning (at most one per 10 s) and
//!    counts it (`tower_authz_cache_lookups_total{cache="introspection_shared",result="unavailable"}`
//!    with the `metrics` feature). A request is never refused because of the shared cache.
//!
//! The durations (the lock's lifetime, the wait for its holder, the polling interval, the
//! pause after a failure) are a [`SharedCacheTiming`], set with
//! [`with_shared_cache_timing`](crate::IntrospectionVerifier::with_shared_cache_timing).
//!
//! The Redis implementation is [`RedisCache`](crate::RedisCache) (feature `redis`).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// Tokio's clock (the std one outside a runtime): tests can pause and advance it.
use tokio::time::Instant;

use crate::error::{AuthError, AuthErrorKind, ConfigError, ConfigErrorKind};
use crate::telemetry::{CacheName, cache_lookup};

/// How long a replica waits for another replica's call to the provider.
const WAIT_FOR_HOLDER: Duration = Duration::from_secs(1);
/// How often a waiting replica looks for the holder's answer.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long a lock lives if its holder never writes (it crashed, its call failed).
const LOCK_TTL: Duration = Duration::from_secs(2);
/// How long a failed shared cache is left alone.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// The longest any of them may be (and what keeps `Instant + duration` from overflowing).
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// The durations of an introspection verifier's shared level, for
/// [`IntrospectionVerifier::with_shared_cache_timing`](crate::IntrospectionVerifier::with_shared_cache_timing).
///
/// | what | default | setter |
/// |---|---|---|
/// | how long a token's lock lives if its holder never writes the answer (it crashed, its call failed) | 2 s | [`with_lock_ttl`](Self::with_lock_ttl) |
/// | how long the other replicas wait for the holder's answer before asking the provider themselves | 1 s | [`with_wait_for_holder`](Self::with_wait_for_holder) |
/// | how often a waiting replica looks for that answer | 10 ms | [`with_poll_interval`](Self::with_poll_interval) |
/// | how long a shared cache that failed (down, slow past its timeout) is left alone | 1 s | [`with_pause_after_failure`](Self::with_pause_after_failure) |
///
/// Each must be more than zero and at most an hour, and the polling interval shorter than the
/// wait; the verifier's setter checks them. Give the lock at least the provider's usual answer
/// time: a lock that expires while its holder still waits for the provider lets another
/// replica make a second call.
///
/// ```
/// use std::time::Duration;
/// use tower_authz::SharedCacheTiming;
///
/// // A provider that takes up to 2 s to answer: a longer lock, and a longer wait for it.
/// let timing = SharedCacheTiming::default()
///     .with_lock_ttl(Duration::from_secs(5))
///     .with_wait_for_holder(Duration::from_secs(3))
///     .with_poll_interval(Duration::from_millis(25));
/// assert_eq!(timing.pause_after_failure(), Duration::from_secs(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedCacheTiming {
    lock_ttl: Duration,
    wait_for_holder: Duration,
    poll_interval: Duration,
    pause_after_failure: Duration,
}

impl Default for SharedCacheTiming {
    fn default() -> Self {
        Self {
            lock_ttl: LOCK_TTL,
            wait_for_holder: WAIT_FOR_HOLDER,
            poll_interval: POLL_INTERVAL,
            pause_after_failure: PAUSE_AFTER_FAILURE,
        }
    }
}

impl SharedCacheTiming {
    /// How long a token's lock lives if its holder never writes the answer. Default: 2 s.
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How long a replica that did not get the lock waits for the holder's answer before it
    /// asks the provider itself: the most a shared cache adds to a request. Default: 1 s.
    pub fn with_wait_for_holder(mut self, wait: Duration) -> Self {
        self.wait_for_holder = wait;
        self
    }

    /// How often a waiting replica looks for the holder's answer (one `GET` each time).
    /// Default: 10 ms.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long a shared cache that failed is left alone (the provider asked meanwhile).
    /// Default: 1 s.
    pub fn with_pause_after_failure(mut self, pause: Duration) -> Self {
        self.pause_after_failure = pause;
        self
    }

    /// How long a token's lock lives.
    pub fn lock_ttl(&self) -> Duration {
        self.lock_ttl
    }

    /// How long a replica waits for the lock holder's answer.
    pub fn wait_for_holder(&self) -> Duration {
        self.wait_for_holder
    }

    /// How often a waiting replica looks for the answer.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// How long a failed shared cache is left alone.
    pub fn pause_after_failure(&self) -> Duration {
        self.pause_after_failure
    }

    /// Each duration more than zero and at most an hour, the polling shorter than the wait.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let durations = [
            ("lock TTL", self.lock_ttl),
            ("wait for the lock holder", self.wait_for_holder),
            ("polling interval", self.poll_interval),
            ("pause after a failure", self.pause_after_failure),
        ];
        for (name, duration) in durations {
            if duration.is_zero() || duration > MAX_DURATION {
                return Err(ConfigError::new(
                    ConfigErrorKind::InvalidValue,
                    format!("the shared cache's {name} must be more than zero and at most an hour"),
                ));
            }
        }
        if self.poll_interval >= self.wait_for_holder {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidValue,
                "the shared cache's polling interval must be shorter than the wait for the lock \
                 holder",
            ));
        }
        Ok(())
    }
}

/// The key of a token in a shared cache: a keyed hash of the token (never the token), made by
/// [`SharedCache::key`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SharedKey(String);

impl SharedKey {
    /// A key made of `key` (a keyed hash of the token, with any prefix the cache adds).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedKey(..)")
    }
}

/// What a shared cache holds for a token: the provider's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SharedVerdict {
    /// The provider's active answer, as the JSON object it sent. Each replica checks it again
    /// with its own settings before using it.
    Active(Map<String, Value>),
    /// The token was refused: the refusal's [`AuthErrorKind::as_str`] and description.
    Refused {
        /// The kind of the refusal (`invalid_token`, `expired`, ...).
        kind: String,
        /// Its fixed, client-safe description.
        description: String,
    },
}

impl SharedVerdict {
    /// The verdict for a refusal.
    pub(crate) fn refused(error: &AuthError) -> Self {
        Self::Refused {
            kind: error.kind().as_str().to_owned(),
            description: error.description().to_owned(),
        }
    }
}

/// Why a shared cache could not be used (down, slow past its timeout, refused the command).
#[derive(Debug)]
pub struct SharedCacheError {
    message: &'static str,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SharedCacheError {
    /// An error saying `message` (a fixed sentence), with its cause if there is one.
    pub fn new(
        message: &'static str,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self { message, source }
    }
}

impl fmt::Display for SharedCacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for SharedCacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// A cache of introspection verdicts shared by the replicas of a service (Redis, Valkey, ...),
/// asked only when a replica's own cache misses.
///
/// Implementations bound every operation by a short timeout: an `Err` (or a slow answer) makes
/// the verifier ask the provider itself. [`RedisCache`](crate::RedisCache) is the one this
/// crate provides (feature `redis`); another store implements these four methods:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use tower_authz::{SharedCache, SharedCacheError, SharedKey, SharedVerdict};
///
/// /// One process's map (a real one would be shared, and expire its entries).
/// #[derive(Debug, Default)]
/// struct Map(Mutex<HashMap<String, SharedVerdict>>);
///
/// #[async_trait::async_trait]
/// impl SharedCache for Map {
///     fn key(&self, token: &str) -> SharedKey {
///         // A real cache uses a keyed hash (HMAC) with a secret all replicas share.
///         SharedKey::new(format!("{:x}", token.len()))
///     }
///     async fn get(&self, key: &SharedKey) -> Result<Option<SharedVerdict>, SharedCacheError> {
///         Ok(self.0.lock().unwrap().get(key.as_str()).cloned())
///     }
///     async fn put(&self, key: &SharedKey, verdict: &SharedVerdict, _ttl: Duration)
///         -> Result<(), SharedCacheError> {
///         self.0.lock().unwrap().insert(key.as_str().to_owned(), verdict.clone());
///         Ok(())
///     }
///     async fn lock(&self, _key: &SharedKey, _ttl: Duration) -> Result<bool, SharedCacheError> {
///         Ok(true)
///     }
/// }
/// ```
#[async_trait]
pub trait SharedCache: Send + Sync + fmt::Debug {
    /// The key of `token`: a keyed hash with a secret that every replica shares, never the token
    /// (nor a plain hash of it). Called once per local miss.
    fn key(&self, token: &str) -> SharedKey;

    /// The verdict stored under `key`, if there is one that has not expired.
    async fn get(&self, key: &SharedKey) -> Result<Option<SharedVerdict>, SharedCacheError>;

    /// Stores `verdict` under `key` for `ttl` (already at most the token's `exp` and the
    /// verifier's maximum).
    async fn put(
        &self,
        key: &SharedKey,
        verdict: &SharedVerdict,
        ttl: Duration,
    ) -> Result<(), SharedCacheError>;

    /// Takes the lock of `key` for `ttl` if nobody holds it: `true` if this call took it. Only
    /// the holder asks the provider; the lock is never released, it expires (or the answer
    /// comes first).
    async fn lock(&self, key: &SharedKey, ttl: Duration) -> Result<bool, SharedCacheError>;
}

/// One cache (one connection) for several verifiers: `with_shared_cache(Arc::clone(&cache))`.
#[async_trait]
impl<C: SharedCache + ?Sized> SharedCache for Arc<C> {
    fn key(&self, token: &str) -> SharedKey {
        (**self).key(token)
    }

    async fn get(&self, key: &SharedKey) -> Result<Option<SharedVerdict>, SharedCacheError> {
        (**self).get(key).await
    }

    async fn put(
        &self,
        key: &SharedKey,
        verdict: &SharedVerdict,
        ttl: Duration,
    ) -> Result<(), SharedCacheError> {
        (**self).put(key, verdict, ttl).await
    }

    async fn lock(&self, key: &SharedKey, ttl: Duration) -> Result<bool, SharedCacheError> {
        (**self).lock(key, ttl).await
    }
}

/// What the shared level says about a token the local caches missed.
pub(crate) enum SharedLookup {
    /// Another replica's verdict.
    Found(SharedVerdict),
    /// Ask the provider, and store its verdict under this key.
    Call(SharedKey),
    /// The shared cache cannot be used: ask the provider, store nothing.
    Unavailable,
}

/// The shared level of one verifier: the cache, and when it failed last.
#[derive(Clone, Debug)]
pub(crate) struct SharedLevel {
    cache: Arc<dyn SharedCache>,
    timing: SharedCacheTiming,
    paused_until: Arc<Mutex<Option<Instant>>>,
}

impl SharedLevel {
    /// The level of `cache`, with `timing` (checked already).
    pub(crate) fn new(cache: Arc<dyn SharedCache>, timing: SharedCacheTiming) -> Self {
        Self {
            cache,
            timing,
            paused_until: Arc::default(),
        }
    }

    /// The same cache with other durations (checked already).
    pub(crate) fn with_timing(self, timing: SharedCacheTiming) -> Self {
        Self { timing, ..self }
    }

    /// Looks for `token`'s verdict; takes the lock, or waits (boundedly) for its holder.
    pub(crate) async fn find(&self, token: &str) -> SharedLookup {
        if self.paused() {
            return SharedLookup::Unavailable;
        }
        let key = self.cache.key(token);
        match self.cache.get(&key).await {
            Ok(Some(verdict)) => {
                cache_lookup(CacheName::IntrospectionShared, true);
                return SharedLookup::Found(verdict);
            }
            Ok(None) => cache_lookup(CacheName::IntrospectionShared, false),
            Err(error) => return self.failed(&error),
        }
        match self.cache.lock(&key, self.timing.lock_ttl).await {
            Ok(true) => return SharedLookup::Call(key),
            Ok(false) => {}
            Err(error) => return self.failed(&error),
        }
        let deadline = Instant::now() + self.timing.wait_for_holder;
        while Instant::now() < deadline {
            tokio::time::sleep(self.timing.poll_interval).await;
            match self.cache.get(&key).await {
                Ok(Some(verdict)) => return SharedLookup::Found(verdict),
                Ok(None) => {}
                Err(error) => return self.failed(&error),
            }
        }
        // The holder is slow, or its call failed: ask the provider here.
        SharedLookup::Call(key)
    }

    /// Stores a verdict (a failure is logged and counted, never the request's).
    pub(crate) async fn store(&self, key: &SharedKey, verdict: &SharedVerdict, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if let Err(error) = self.cache.put(key, verdict, ttl).await {
            self.failed(&error);
        }
    }

    fn paused(&self) -> bool {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *paused {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *paused = None;
                false
            }
            None => false,
        }
    }

    fn failed(&self, error: &SharedCacheError) -> SharedLookup {
        *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            Some(Instant::now() + self.timing.pause_after_failure);
        crate::telemetry::shared_cache_unavailable(error);
        SharedLookup::Unavailable
    }
}

/// The refusals a shared verdict may name: anything else is read as the generic one.
const REFUSALS: [&str; 9] = [
    "the token is not active",
    "the token is not an access token",
    "the token is from another issuer",
    "the token is for another audience",
    "the identity provider does not accept this token",
    "the introspection answer is not an object",
    "the token has expired",
    "the token is not valid yet",
    "the token's exp is not a number",
];

/// The refusal a shared verdict names, as this crate's error (its description one of the fixed
/// sentences, whatever the shared cache holds).
pub(crate) fn refusal(kind: &str, description: &str) -> AuthError {
    let kind = match kind {
        "expired" => AuthErrorKind::Expired,
        "upstream" => AuthErrorKind::Upstream,
        _ => AuthErrorKind::InvalidToken,
    };
    let description = REFUSALS
        .iter()
        .find(|known| **known == description)
        .copied()
        .unwrap_or("the identity provider does not accept this token");
    AuthError::new(kind, description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_read_back_is_one_of_the_fixed_sentences() {
        let error = refusal("expired", "the token has expired");
        assert_eq!(error.kind(), AuthErrorKind::Expired);
        assert_eq!(error.description(), "the token has expired");
        let error = refusal("whatever", "<script>");
        assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
        assert_eq!(
            error.description(),
            "the identity provider does not accept this token"
        );
    }

    /// A cache that answers from a script: `get` returns the verdicts in turn (then `None`), or
    /// fails every operation.
    #[derive(Debug, Default)]
    struct Scripted {
        gets: Mutex<Vec<Option<SharedVerdict>>>,
        fail: bool,
        lock_free: bool,
        calls: std::sync::atomic::AtomicUsize,
        /// The TTL of the last `lock`.
        lock_ttl: Mutex<Option<Duration>>,
    }

    #[async_trait]
    impl SharedCache for Scripted {
        fn key(&self, _: &str) -> SharedKey {
            SharedKey::new("k")
        }
        async fn get(&self, _: &SharedKey) -> Result<Option<SharedVerdict>, SharedCacheError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.fail {
                return Err(SharedCacheError::new("down", None));
            }
            let mut gets = self.gets.lock().unwrap();
            Ok(if gets.is_empty() {
                None
            } else {
                gets.remove(0)
            })
        }
        async fn put(
            &self,
            _: &SharedKey,
            _: &SharedVerdict,
            _: Duration,
        ) -> Result<(), SharedCacheError> {
            Ok(())
        }
        async fn lock(&self, _: &SharedKey, ttl: Duration) -> Result<bool, SharedCacheError> {
            *self.lock_ttl.lock().unwrap() = Some(ttl);
            Ok(self.lock_free)
        }
    }

    fn not_active() -> SharedVerdict {
        SharedVerdict::refused(&AuthError::invalid_token("the token is not active"))
    }

    #[tokio::test]
    async fn a_failed_cache_is_left_alone_for_a_while() {
        let cache = Arc::new(Scripted {
            fail: true,
            ..Scripted::default()
        });
        let level = SharedLevel::new(cache.clone(), SharedCacheTiming::default());
        assert!(matches!(level.find("t").await, SharedLookup::Unavailable));
        assert!(matches!(level.find("t").await, SharedLookup::Unavailable));
        assert_eq!(cache.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_lock_holder_calls_the_others_wait_for_its_answer() {
        let holder = SharedLevel::new(
            Arc::new(Scripted {
                lock_free: true,
                ..Scripted::default()
            }),
            SharedCacheTiming::default(),
        );
        assert!(matches!(holder.find("t").await, SharedLookup::Call(_)));
        // Locked elsewhere: the answer comes on the third look.
        let waiter = SharedLevel::new(
            Arc::new(Scripted {
                gets: Mutex::new(vec![None, None, Some(not_active())]),
                ..Scripted::default()
            }),
            SharedCacheTiming::default(),
        );
        match waiter.find("t").await {
            SharedLookup::Found(verdict) => assert_eq!(verdict, not_active()),
            _ => panic!("the holder's answer was not taken"),
        }
    }

    #[tokio::test]
    async fn a_slow_holder_is_waited_for_a_bounded_time() {
        let cache = Arc::new(Scripted::default());
        let level = SharedLevel::new(cache.clone(), SharedCacheTiming::default());
        assert!(matches!(level.find("t").await, SharedLookup::Call(_)));
        let gets = cache.calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(gets > 2 && gets <= 2 + 100, "{gets} gets");
    }

    fn gets(cache: &Scripted) -> usize {
        cache.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn the_lock_is_taken_for_the_lock_ttl() {
        let cache = Arc::new(Scripted {
            lock_free: true,
            ..Scripted::default()
        });
        let timing = SharedCacheTiming::default().with_lock_ttl(Duration::from_millis(7500));
        let level = SharedLevel::new(cache.clone(), timing);
        assert!(matches!(level.find("t").await, SharedLookup::Call(_)));
        assert_eq!(
            *cache.lock_ttl.lock().unwrap(),
            Some(Duration::from_millis(7500))
        );
        let level = SharedLevel::new(cache.clone(), SharedCacheTiming::default());
        assert!(matches!(level.find("t").await, SharedLookup::Call(_)));
        assert_eq!(*cache.lock_ttl.lock().unwrap(), Some(LOCK_TTL));
        // Changed on a level already made.
        let level = level.with_timing(timing);
        assert!(matches!(level.find("t").await, SharedLookup::Call(_)));
        assert_eq!(
            *cache.lock_ttl.lock().unwrap(),
            Some(Duration::from_millis(7500))
        );
    }

    /// Polls while the lock is held elsewhere, on Tokio's paused clock: one `GET` before the
    /// lock, then one per interval until the wait is over.
    async fn gets_while_waiting(timing: SharedCacheTiming) -> usize {
        let cache = Arc::new(Scripted::default());
        let level = SharedLevel::new(cache.clone(), timing);
        assert!(matches!(level.find("t").await, SharedLookup::Call(_)));
        gets(&cache)
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_for_the_holder_and_the_polling_interval_take_effect() {
        // 1 s every 10 ms: 100 polls.
        assert_eq!(
            gets_while_waiting(SharedCacheTiming::default()).await,
            1 + 100
        );
        let longer = SharedCacheTiming::default().with_wait_for_holder(Duration::from_secs(3));
        assert_eq!(gets_while_waiting(longer).await, 1 + 300);
        let sparser = SharedCacheTiming::default().with_poll_interval(Duration::from_millis(250));
        assert_eq!(gets_while_waiting(sparser).await, 1 + 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pause_after_a_failure_takes_effect() {
        let cache = Arc::new(Scripted {
            fail: true,
            ..Scripted::default()
        });
        let timing = SharedCacheTiming::default().with_pause_after_failure(Duration::from_secs(30));
        let level = SharedLevel::new(cache.clone(), timing);
        assert!(matches!(level.find("t").await, SharedLookup::Unavailable));
        // Past the default pause, within this one: still left alone.
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(matches!(level.find("t").await, SharedLookup::Unavailable));
        assert_eq!(gets(&cache), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(level.find("t").await, SharedLookup::Unavailable));
        assert_eq!(gets(&cache), 2);
    }

    #[test]
    fn timings_are_checked() {
        assert!(SharedCacheTiming::default().check().is_ok());
        let bad = [
            SharedCacheTiming::default().with_lock_ttl(Duration::ZERO),
            SharedCacheTiming::default().with_wait_for_holder(Duration::ZERO),
            SharedCacheTiming::default().with_poll_interval(Duration::ZERO),
            SharedCacheTiming::default().with_pause_after_failure(Duration::ZERO),
            SharedCacheTiming::default().with_lock_ttl(Duration::MAX),
            SharedCacheTiming::default().with_pause_after_failure(Duration::from_secs(3601)),
            SharedCacheTiming::default().with_poll_interval(Duration::from_secs(1)),
            SharedCacheTiming::default().with_wait_for_holder(Duration::from_millis(5)),
        ];
        for timing in bad {
            let error = timing.check().expect_err("refused");
            assert_eq!(error.kind(), ConfigErrorKind::InvalidValue, "{timing:?}");
        }
    }

    #[test]
    fn a_verdict_round_trips_through_json() {
        let verdict = SharedVerdict::refused(&AuthError::invalid_token("the token is not active"));
        let json = serde_json::to_string(&verdict).unwrap();
        assert_eq!(
            json,
            r#"{"refused":{"kind":"invalid_token","description":"the token is not active"}}"#
        );
        assert_eq!(
            serde_json::from_str::<SharedVerdict>(&json).unwrap(),
            verdict
        );
    }
}
