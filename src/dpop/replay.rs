//! The replay cache: each proof's `jti` is accepted once while its `iat` is in the window.

use std::time::Duration;

use aws_lc_rs::digest::{Context, SHA256};
use moka::sync::Cache;

/// The `jti`s seen lately, per proof key, bounded in number and kept as long as a proof with
/// that `jti` could still be accepted.
#[derive(Clone)]
pub(crate) struct ReplayCache(Cache<[u8; 32], ()>);

impl ReplayCache {
    /// At most `capacity` entries, each for `lifetime`.
    pub(crate) fn new(capacity: u64, lifetime: Duration) -> Self {
        Self(
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(lifetime)
                .build(),
        )
    }

    /// Records `jti` of the key with thumbprint `jkt`; `false` if it was seen already. Atomic:
    /// of two requests with one proof, one wins.
    pub(crate) fn first_use(&self, jkt: &str, jti: &str) -> bool {
        // Keyed by (key, jti): a client's `jti`s cannot collide with another's, and the
        // entry is 32 bytes however long the `jti`.
        let mut hash = Context::new(&SHA256);
        hash.update(jkt.as_bytes());
        hash.update(&[0]);
        hash.update(jti.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(hash.finish().as_ref());
        self.0.entry(key).or_insert(()).is_fresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_per_key() {
        let cache = ReplayCache::new(100, Duration::from_secs(60));
        assert!(cache.first_use("key-a", "1"));
        assert!(!cache.first_use("key-a", "1"));
        assert!(cache.first_use("key-b", "1"));
        assert!(cache.first_use("key-a", "2"));
        // No ambiguity between the key and the jti.
        assert!(cache.first_use("key-a1", ""));
    }
}
