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
//! thread's own copy of the token and its claims, so that threads serving the same token share no
//! counters or locks on a hit. The per-thread table is found by a cheap fingerprint (the token's
//! length and last 16 bytes, its signature's end) and then compares the whole token byte for
//! byte, so a hit there costs no keyed hash and trusts no hash. It follows the shared table: same
//! deadline, and a key removal bumps an epoch that voids every thread's entries.
//!
//! Only successes are cached: a forged token is never in it, and costs a full check each time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hasher as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use moka::Expiry;
use moka::sync::Cache;
use siphasher::sip128::{Hasher128 as _, SipHasher24};

use super::jwt_core::check_times_parsed;
use crate::claims::Claims;
use crate::clock::now;
use crate::error::AuthError;
use crate::telemetry::{CacheName, cache_lookup};

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
    /// The cache's epoch when the verification began (before the keys were read): an entry
    /// from an earlier epoch may have been verified with a key removed since, and is a miss.
    epoch: u64,
}

struct EntryExpiry;

impl Expiry<u128, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &u128, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A thread's own copy of a shared entry.
struct Near {
    /// The whole token: a fingerprint match is a hit only if the bytes are equal.
    token: Box<str>,
    claims: Claims,
    exp: Option<u64>,
    nbf: Option<u64>,
    deadline: Instant,
    epoch: u64,
    /// The cache's `voided` count when copied: a revocation since voids the copy.
    voided: u64,
}

thread_local! {
    /// Per thread: (cache id, token fingerprint) → the thread's copy.
    static NEAR: RefCell<HashMap<(u64, Fingerprint), Near>> = RefCell::new(HashMap::new());
}

/// Where to look for a token in a thread's table: its length and last 16 bytes. Not a
/// security boundary (the whole token is compared on a match); anything that collides is a miss.
type Fingerprint = (usize, u128);

fn fingerprint(token: &str) -> Fingerprint {
    let bytes = token.as_bytes();
    let mut tail = [0u8; 16];
    let n = bytes.len().min(16);
    tail[16 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    (bytes.len(), u128::from_ne_bytes(tail))
}

/// The result of a lookup.
pub(crate) enum CacheLookup {
    /// The token was verified before: its claims if its times still hold, or why they do not.
    Hit(Result<Claims, AuthError>),
    /// Not in the cache; what [`VerifiedCache::insert`] needs once the token is verified.
    Miss(Miss),
}

/// A cache miss: the token's keyed hash, and the epoch the lookup saw (which the verification's
/// key read comes after).
#[derive(Clone, Copy)]
pub(crate) struct Miss {
    hash: u128,
    epoch: u64,
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
    /// Bumped whenever entries are dropped for a revocation: voids the threads' copies (not
    /// the shared entries: a thread looks there again, where only the revoked ones are gone).
    voided: Arc<AtomicU64>,
    /// The fingerprints of the keys held since the last removal (set before the epoch bump):
    /// an entry from an earlier epoch is trusted only if its key is among them.
    held: Arc<ArcSwapOption<Vec<[u8; 32]>>>,
    /// The name its hits and misses are counted under.
    name: CacheName,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("entries", &self.cache.entry_count())
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

/// SHA-256 of the token's bytes (the key of the introspection verifier's refusals and calls in
/// flight).
#[cfg(feature = "introspection")]
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref(),
    );
    hash
}

impl VerifiedCache {
    /// A cache with a fresh random hash key; `None` (no cache: every token is fully checked) if
    /// the system has no randomness to draw the key from, rather than a key anyone can guess.
    pub(crate) fn new(max_ttl: Duration, capacity: u64) -> Option<Self> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let mut hash_key = [0u8; 16];
        if SystemRandom::new().fill(&mut hash_key).is_err() {
            tracing::error!(
                "no randomness for the verified-token cache key; the cache is off and every token's signature is checked"
            );
            return None;
        }
        Some(Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(EntryExpiry)
                .support_invalidation_closures()
                .build(),
            max_ttl,
            id: IDS.fetch_add(1, Ordering::Relaxed),
            hash_key,
            epoch: Arc::new(AtomicU64::new(0)),
            voided: Arc::new(AtomicU64::new(0)),
            held: Arc::new(ArcSwapOption::empty()),
            name: CacheName::Verified,
        })
    }

    /// The same cache, its hits and misses counted under `name` (e.g. the introspection
    /// verifier's answers, kept here too).
    #[cfg(feature = "introspection")]
    pub(crate) fn counted_as(mut self, name: CacheName) -> Self {
        self.name = name;
        self
    }

    /// The longest an entry lives.
    #[cfg(feature = "introspection")]
    pub(crate) fn max_ttl(&self) -> Duration {
        self.max_ttl
    }

    /// The most entries it holds.
    #[cfg(feature = "introspection")]
    pub(crate) fn capacity(&self) -> u64 {
        self.cache
            .policy()
            .max_capacity()
            .unwrap_or(DEFAULT_CAPACITY)
    }

    /// How many entries it holds (as last counted).
    #[cfg(feature = "introspection")]
    pub(crate) fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// The keyed hash of a token.
    fn hash(&self, token: &str) -> u128 {
        let mut hasher = SipHasher24::new_with_key(&self.hash_key);
        hasher.write(token.as_bytes());
        hasher.finish128().as_u128()
    }

    /// Looks `token` up: first in this thread's table (no hashing), then in the shared cache.
    pub(crate) fn get(&self, token: &str, leeway: u64) -> CacheLookup {
        let found = self.lookup(token, leeway);
        cache_lookup(self.name, matches!(found, CacheLookup::Hit(_)));
        found
    }

    fn lookup(&self, token: &str, leeway: u64) -> CacheLookup {
        let epoch = self.epoch.load(Ordering::Acquire);
        let voided = self.voided.load(Ordering::Acquire);
        let now_instant = Instant::now();
        let key = (self.id, fingerprint(token));
        let near = NEAR.with(|near| {
            let near = near.borrow();
            near.get(&key)
                .filter(|n| {
                    n.epoch == epoch
                        && n.voided == voided
                        && now_instant < n.deadline
                        && *n.token == *token
                })
                .map(|n| (n.claims.clone(), n.exp, n.nbf))
        });
        let (claims, exp, nbf) = match near {
            Some(hit) => hit,
            None => {
                let hash = self.hash(token);
                let Some(entry) = self
                    .cache
                    .get(&hash)
                    .filter(|entry| self.still_trusted(entry, epoch))
                else {
                    return CacheLookup::Miss(Miss { hash, epoch });
                };
                self.keep_near(key, token, &entry, (epoch, voided), now_instant);
                (entry.claims, entry.exp, entry.nbf)
            }
        };
        CacheLookup::Hit(check_times_parsed(exp, nbf, leeway, now()).map(|()| claims))
    }

    /// Whether a shared entry may be used: made in this epoch, or with a key still held. An
    /// entry from before a key removal may have raced it (verified with the removed key,
    /// inserted after the removal dropped that key's entries); its key decides.
    fn still_trusted(&self, entry: &Entry, epoch: u64) -> bool {
        entry.epoch == epoch
            || self
                .held
                .load()
                .as_ref()
                .is_some_and(|held| held.contains(&entry.key))
    }

    /// Gives this thread its own copy of a shared entry. Copies that expired or were voided
    /// go first, so that no token lingers in a thread's table past its entry's life for longer
    /// than until the thread's next copy.
    fn keep_near(
        &self,
        key: (u64, Fingerprint),
        token: &str,
        entry: &Entry,
        (epoch, voided): (u64, u64),
        now: Instant,
    ) {
        NEAR.with(|near| {
            let mut near = near.borrow_mut();
            near.retain(|(id, _), n| {
                now < n.deadline && (*id != self.id || (n.epoch == epoch && n.voided == voided))
            });
            if near.len() >= NEAR_CAPACITY {
                near.clear();
            }
            near.insert(
                key,
                Near {
                    token: token.into(),
                    claims: entry.claims.deep_clone(),
                    exp: entry.exp,
                    nbf: entry.nbf,
                    deadline: entry.deadline,
                    epoch,
                    voided,
                },
            );
        });
    }

    /// Remembers a token verified with the key whose fingerprint is `key`, after `miss`.
    pub(crate) fn insert(&self, miss: Miss, claims: &Claims, key: [u8; 32]) {
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
            epoch: miss.epoch,
        };
        self.cache.insert(miss.hash, entry);
    }

    /// Drops every token verified with one of the keys in `removed`; `held` are the keys now
    /// held. Call it after the key set without them is in place: entries of verifications that
    /// read the old key set and are inserted afterwards are then refused too.
    pub(crate) fn forget_keys(&self, removed: Vec<[u8; 32]>, held: Vec<[u8; 32]>) {
        if removed.is_empty() {
            return;
        }
        self.held.store(Some(Arc::new(held)));
        // Only fails if invalidation closures were not enabled, which `new` does.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, entry| removed.contains(&entry.key));
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops the entries whose claims `revoked` says were revoked, and voids every thread's
    /// copies (each looks in the shared table again, where only the revoked ones are gone).
    #[cfg(feature = "introspection")]
    pub(crate) fn forget_revoked(&self, revoked: impl Fn(&Claims) -> bool + Send + Sync + 'static) {
        // Only fails if invalidation closures were not enabled, which `new` does.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, entry| revoked(&entry.claims));
        self.voided.fetch_add(1, Ordering::AcqRel);
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

    /// Verifies `token` as the verifiers do: look up, and on a miss insert under its hash.
    fn remember(cache: &VerifiedCache, token: &str, exp: u64, key: u8) {
        if let CacheLookup::Miss(miss) = cache.get(token, 0) {
            cache.insert(miss, &claims(exp), [key; 32]);
        }
    }

    fn is_hit(cache: &VerifiedCache, token: &str) -> bool {
        matches!(cache.get(token, 0), CacheLookup::Hit(Ok(_)))
    }

    #[test]
    fn hits_recheck_exp_and_forgetting_a_key_drops_its_tokens() {
        let cache = VerifiedCache::new(DEFAULT_MAX_TTL, 100).expect("randomness");
        remember(&cache, "a", now() + 3600, 1);
        remember(&cache, "b", now() + 3600, 2);
        // Twice: the second hit comes from this thread's own copy.
        assert!(is_hit(&cache, "a"));
        assert!(is_hit(&cache, "a"));
        assert!(matches!(cache.get("c", 0), CacheLookup::Miss(_)));
        cache.forget_keys(vec![[1; 32]], vec![[2; 32]]);
        assert!(!is_hit(&cache, "a"), "the thread's copy is void too");
        assert!(is_hit(&cache, "b"));
        // An already expired token is not cached at all.
        remember(&cache, "old", now() - 10, 2);
        assert!(matches!(cache.get("old", 0), CacheLookup::Miss(_)));
    }

    #[test]
    fn a_verification_that_raced_a_key_removal_is_not_trusted() {
        let cache = VerifiedCache::new(DEFAULT_MAX_TTL, 100).expect("randomness");
        // The lookup (and the key read after it) happens before the removal; the insert after.
        let CacheLookup::Miss(miss) = cache.get("raced", 0) else {
            panic!("empty cache hit");
        };
        remember(&cache, "kept", now() + 3600, 8);
        cache.forget_keys(vec![[7; 32]], vec![[8; 32]]);
        cache.insert(miss, &claims(now() + 3600), [7; 32]);
        assert!(!is_hit(&cache, "raced"));
        assert!(!is_hit(&cache, "raced"), "nor from a thread's copy");
        // An entry of a key still held stays usable across the removal.
        assert!(is_hit(&cache, "kept"));
        // A verification after the removal is cached as usual.
        remember(&cache, "raced", now() + 3600, 8);
        assert!(is_hit(&cache, "raced"));
    }

    #[test]
    fn a_token_that_shares_the_fingerprint_of_a_cached_one_is_a_miss() {
        let cache = VerifiedCache::new(DEFAULT_MAX_TTL, 100).expect("randomness");
        let valid = "header.payload-one.the-same-signature-tail";
        let forged = "header.payload-two.the-same-signature-tail";
        assert_eq!(fingerprint(valid), fingerprint(forged));
        remember(&cache, valid, now() + 3600, 1);
        assert!(is_hit(&cache, valid));
        assert!(is_hit(&cache, valid), "now from the thread's copy");
        assert!(matches!(cache.get(forged, 0), CacheLookup::Miss(_)));
        assert!(is_hit(&cache, valid));
    }

    fn near_len() -> usize {
        NEAR.with(|near| near.borrow().len())
    }

    #[test]
    fn a_threads_expired_copies_go_when_it_makes_the_next() {
        let cache = VerifiedCache::new(Duration::from_millis(50), 10).expect("randomness");
        // A fresh thread, so that other tests' copies do not count.
        std::thread::spawn(move || {
            remember(&cache, "short-lived", now() + 3600, 0);
            assert!(is_hit(&cache, "short-lived"));
            assert_eq!(near_len(), 1);
            std::thread::sleep(Duration::from_millis(80));
            remember(&cache, "next", now() + 3600, 0);
            assert!(is_hit(&cache, "next"));
            assert_eq!(near_len(), 1, "the expired copy (and its token) is gone");
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn hashes_are_keyed_per_cache() {
        let (one, two) = (
            VerifiedCache::new(DEFAULT_MAX_TTL, 1).expect("randomness"),
            VerifiedCache::new(DEFAULT_MAX_TTL, 1).expect("randomness"),
        );
        assert_eq!(one.hash("token"), one.hash("token"));
        assert_ne!(one.hash("token"), two.hash("token"));
        assert_ne!(one.hash("token"), one.hash("token "));
    }

    #[test]
    fn a_threads_copy_expires_with_the_shared_entry() {
        let cache = VerifiedCache::new(Duration::from_millis(50), 10).expect("randomness");
        remember(&cache, "t", now() + 3600, 0);
        assert!(is_hit(&cache, "t"));
        assert!(is_hit(&cache, "t"));
        std::thread::sleep(Duration::from_millis(80));
        assert!(!is_hit(&cache, "t"));
    }

    #[cfg(feature = "introspection")]
    #[test]
    fn a_revocation_drops_its_tokens_and_voids_the_threads_copies() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 100).unwrap();
        let (exp_a, exp_b) = (now() + 60, now() + 61);
        remember(&cache, "token-a", exp_a, 1);
        remember(&cache, "token-b", exp_b, 1);
        // Both copied into this thread's table, then hit there.
        assert!(is_hit(&cache, "token-a") && is_hit(&cache, "token-b"));
        assert!(is_hit(&cache, "token-a") && is_hit(&cache, "token-b"));
        cache.forget_revoked(move |claims| claims.expires_at() == Some(exp_a));
        // This thread's copy of token-a is void; token-b is found again in the shared table.
        assert!(!is_hit(&cache, "token-a"));
        assert!(is_hit(&cache, "token-b"));
        assert!(is_hit(&cache, "token-b"));
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = VerifiedCache::new(DEFAULT_MAX_TTL, 50).expect("randomness");
        for i in 0..1000 {
            remember(&cache, &i.to_string(), now() + 3600, 0);
        }
        assert!(cache.len() <= 60, "{}", cache.len());
    }
}
