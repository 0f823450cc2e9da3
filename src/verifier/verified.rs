//! The verified-token cache: a token whose signature was already checked is recognised by a
//! SHA-256 of its exact bytes and skips the signature check.
//!
//! - `exp` and `nbf` are checked again on every hit;
//! - an entry lives at most until the token's `exp` and a maximum (default 60 s);
//! - entries verified with a key that disappears from the key set are dropped;
//! - capacity-bounded (default 10 000 entries), so random tokens cannot grow it.
//!
//! Only successes are cached: a forged token is never in it, and costs a full check each time.

use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use moka::Expiry;
use moka::sync::Cache;

use super::jwt_core::{check_times_parsed, now};
use crate::claims::Claims;
use crate::error::AuthError;

pub(crate) const DEFAULT_MAX_TTL: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_CAPACITY: u64 = 10_000;

/// A verified token: its claims, its times, and the key it was verified with.
#[derive(Clone)]
struct Entry {
    claims: Claims,
    exp: Option<u64>,
    nbf: Option<u64>,
    key: [u8; 32],
    ttl: Duration,
}

struct EntryExpiry;

impl Expiry<[u8; 32], Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &[u8; 32], entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// The cache of verified tokens of one verifier.
#[derive(Clone)]
pub(crate) struct VerifiedCache {
    cache: Cache<[u8; 32], Entry>,
    max_ttl: Duration,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache")
            .field("entries", &self.cache.entry_count())
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

/// SHA-256 of the token's bytes.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    hash
}

impl VerifiedCache {
    pub(crate) fn new(max_ttl: Duration, capacity: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(EntryExpiry)
                .support_invalidation_closures()
                .build(),
            max_ttl,
        }
    }

    /// The claims of a token verified before, if its times still hold (`Err` if they no
    /// longer do); `None` if the token is not in the cache.
    pub(crate) fn get(&self, hash: &[u8; 32], leeway: u64) -> Option<Result<Claims, AuthError>> {
        let entry = self.cache.get(hash)?;
        Some(check_times_parsed(entry.exp, entry.nbf, leeway, now()).map(|()| entry.claims))
    }

    /// Remembers a token verified with the key whose fingerprint is `key`.
    pub(crate) fn insert(&self, hash: [u8; 32], claims: &Claims, key: [u8; 32]) {
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
        let (a, b) = (token_hash("a"), token_hash("b"));
        cache.insert(a, &claims(now() + 3600), [1; 32]);
        cache.insert(b, &claims(now() + 3600), [2; 32]);
        assert!(cache.get(&a, 0).is_some_and(|r| r.is_ok()));
        assert!(cache.get(&token_hash("c"), 0).is_none());
        cache.forget_keys(vec![[1; 32]]);
        assert!(cache.get(&a, 0).is_none());
        assert!(cache.get(&b, 0).is_some());
        // An already expired token is not cached at all.
        cache.insert(token_hash("old"), &claims(now() - 10), [2; 32]);
        assert!(cache.get(&token_hash("old"), 0).is_none());
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = VerifiedCache::new(DEFAULT_MAX_TTL, 50);
        for i in 0..1000 {
            cache.insert(token_hash(&i.to_string()), &claims(now() + 3600), [0; 32]);
        }
        assert!(cache.len() <= 60, "{}", cache.len());
    }
}
