//! The verified-token cache: a token whose signature was already checked is recognised by a
//! keyed 128-bit hash of its exact bytes (SipHash-2-4 with a random per-cache key: a PRF, so
//! nobody without the key can make a forged token collide with a cached one) and skips the
//! signature check.
//!
//! - `exp` and `nbf` are checked again on every hit;
//! - an entry lives at most until the token's `exp` and a maximum (default 60 s);
//! - entries verified with a key that disappears from the key set are dropped;
//! - capacity-bounded (default 10 000 entries), so random tokens cannot grow it.
//!
//! Two levels: a shared moka cache, and in front of it a small per-thread table holding the
//! thread's own copy of the claims, so that threads serving the same token share no counters or
//! locks on a hit. The per-thread table follows the shared one: same deadline, and a key removal
//! bumps an epoch that voids every thread's entries.
//!
//! Only successes are cached: a forged token is never in it, and costs a full check each time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hasher as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use moka::Expiry;
use moka::sync::Cache;
use siphasher::sip128::{Hasher128 as _, SipHasher24};

use super::jwt_core::{check_times_parsed, now};
use crate::claims::Claims;
use crate::error::AuthError;

pub(crate) const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_CAPACITY: u64 = 10_000;

/// How many tokens each thread keeps in its own table (then it starts over).
const NEAR_CAPACITY: usize = 64;

/// A verified token: its claims, its times, and the key it was verified with.
#[derive(Clone)]
struct Entry {
    claims: Claims,
    exp: Option<u64>,
    nbf: Option<u64>,
    key: [u8; 32],
    ttl: Duration,
    /// When the shared entry expires; a thread's copy expires with it.
    deadline: Instant,
}

struct EntryExpiry;

impl Expiry<u128, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &u128, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A thread's own copy of a shared entry.
struct Near {
    claims: Claims,
    exp: Option<u64>,
    nbf: Option<u64>,
    deadline: Instant,
    epoch: u64,
}

thread_local! {
    /// Per thread: (cache id, token hash) → the thread's copy.
    static NEAR: RefCell<HashMap<(u64, u128), Near>> = RefCell::new(HashMap::new());
}

/// The cache of verified tokens of one verifier.
#[derive(Clone)]
pub(crate) struct VerifiedCache {
    cache: Cache<u128, Entry>,
    max_ttl: Duration,
    id: u64,
    hash_key: [u8; 16],
    /// Bumped whenever entries are dropped for a removed key: voids the threads' copies.
    epoch: Arc<AtomicU64>,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("entries", &self.cache.entry_count())
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

/// SHA-256 of the token's bytes (the introspection cache's key).
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref(),
    );
    hash
}

impl VerifiedCache {
    pub(crate) fn new(max_ttl: Duration, capacity: u64) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let mut hash_key = [0u8; 16];
        if SystemRandom::new().fill(&mut hash_key).is_err() {
            // The system RNG failing is not something to serve requests on: a cache whose
            // entries can never be found is merely slow, never wrong.
            tracing::error!("no randomness for the verified-token cache key; the cache is off");
        }
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(EntryExpiry)
                .support_invalidation_closures()
                .build(),
            max_ttl,
            id: IDS.fetch_add(1, Ordering::Relaxed),
            hash_key,
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The keyed hash of a token.
    pub(crate) fn hash(&self, token: &str) -> u128 {
        let mut hasher = SipHasher24::new_with_key(&self.hash_key);
        hasher.write(token.as_bytes());
        hasher.finish128().as_u128()
    }

    /// The claims of a token verified before, if its times still hold (`Err` if they no
    /// longer do); `None` if the token is not in the cache.
    pub(crate) fn get(&self, hash: u128, leeway: u64) -> Option<Result<Claims, AuthError>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let now_instant = Instant::now();
        let near = NEAR.with(|near| {
            let near = near.borrow();
            near.get(&(self.id, hash))
                .filter(|n| n.epoch == epoch && now_instant < n.deadline)
                .map(|n| (n.claims.clone(), n.exp, n.nbf))
        });
        let (claims, exp, nbf) = match near {
            Some(hit) => hit,
            None => {
                let entry = self.cache.get(&hash)?;
                self.keep_near(hash, &entry, epoch);
                (entry.claims, entry.exp, entry.nbf)
            }
        };
        Some(check_times_parsed(exp, nbf, leeway, now()).map(|()| claims))
    }

    /// Gives this thread its own copy of a shared entry.
    fn keep_near(&self, hash: u128, entry: &Entry, epoch: u64) {
        NEAR.with(|near| {
            let mut near = near.borrow_mut();
            if near.len() >= NEAR_CAPACITY {
                near.clear();
            }
            near.insert(
                (self.id, hash),
                Near {
                    claims: entry.claims.deep_clone(),
                    exp: entry.exp,
                    nbf: entry.nbf,
                    deadline: entry.deadline,
                    epoch,
                },
            );
        });
    }

    /// Remembers a token verified with the key whose fingerprint is `key`.
    pub(crate) fn insert(&self, hash: u128, claims: &Claims, key: [u8; 32]) {
        let exp = claims.expires_at();
        let ttl = match exp {
            Some(exp) => Duration::from_secs(exp.saturating_sub(now())).min(self.max_ttl),
            None => self.max_ttl,
        };
        if ttl.is_zero() {
            return;
        }
        let entry = Entry {
            claims: claims.clone(),
            exp,
            nbf: claims.not_before(),
            key,
            ttl,
            deadline: Instant::now() + ttl,
        };
        self.cache.insert(hash, entry);
    }

    /// Drops every token verified with one of the keys in `removed`.
    pub(crate) fn forget_keys(&self, removed: Vec<[u8; 32]>) {
        if removed.is_empty() {
            return;
        }
        // Only fails if invalidation closures were not enabled, which `new` does.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, entry| removed.contains(&entry.key));
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RoleSource;
    use serde_json::json;

    fn claims(exp: u64) -> Claims {
        Claims::from_value(json!({"exp": exp}), &RoleSource::default()).expect("claims")
    }

    #[test]
    fn hits_recheck_exp_and_forgetting_a_key_drops_its_tokens() {
        let cache = VerifiedCache::new(DEFAULT_MAX_TTL, 100);
        let (a, b) = (cache.hash("a"), cache.hash("b"));
        cache.insert(a, &claims(now() + 3600), [1; 32]);
        cache.insert(b, &claims(now() + 3600), [2; 32]);
        // Twice: the second hit comes from this thread's own copy.
        assert!(cache.get(a, 0).is_some_and(|r| r.is_ok()));
        assert!(cache.get(a, 0).is_some_and(|r| r.is_ok()));
        assert!(cache.get(cache.hash("c"), 0).is_none());
        cache.forget_keys(vec![[1; 32]]);
        assert!(cache.get(a, 0).is_none(), "the thread's copy is void too");
        assert!(cache.get(b, 0).is_some());
        // An already expired token is not cached at all.
        cache.insert(cache.hash("old"), &claims(now() - 10), [2; 32]);
        assert!(cache.get(cache.hash("old"), 0).is_none());
    }

    #[test]
    fn hashes_are_keyed_per_cache() {
        let (one, two) = (
            VerifiedCache::new(DEFAULT_MAX_TTL, 1),
            VerifiedCache::new(DEFAULT_MAX_TTL, 1),
        );
        assert_eq!(one.hash("token"), one.hash("token"));
        assert_ne!(one.hash("token"), two.hash("token"));
        assert_ne!(one.hash("token"), one.hash("token "));
    }

    #[test]
    fn a_threads_copy_expires_with_the_shared_entry() {
        let cache = VerifiedCache::new(Duration::from_millis(50), 10);
        let hash = cache.hash("t");
        cache.insert(hash, &claims(now() + 3600), [0; 32]);
        assert!(cache.get(hash, 0).is_some());
        std::thread::sleep(Duration::from_millis(80));
        assert!(cache.get(hash, 0).is_none());
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = VerifiedCache::new(DEFAULT_MAX_TTL, 50);
        for i in 0..1000 {
            cache.insert(cache.hash(&i.to_string()), &claims(now() + 3600), [0; 32]);
        }
        assert!(cache.len() <= 60, "{}", cache.len());
    }
}
