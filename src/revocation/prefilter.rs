//! [`Prefilter`]: a Bloom filter of what was revoked, so that the token of someone nobody
//! revoked is cleared without a map look-up.
//!
//! One bit array of 2^20 bits (128 KiB, allocated at the first record), two positions per key
//! from one SipHash of the key and its kind. A key that was inserted is always reported; one
//! that was not is reported with a probability of about 0.15 % after 20 000 records (3 % after
//! 100 000), and then costs the map look-up it would have cost without the filter. Bits are
//! never cleared: an expired record leaves its two bits set, which only raises that probability.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

const BITS: u64 = 1 << 20;
const WORDS: usize = (BITS / 64) as usize;

/// What a key names (the same text may be a subject and a session).
#[derive(Debug, Clone, Copy, Hash)]
pub(crate) enum Kind {
    Subject,
    Session,
    Jti,
    Hash,
}

/// The filter of one replica's records.
pub(crate) struct Prefilter {
    bits: OnceLock<Box<[AtomicU64]>>,
    hasher: RandomState,
}

impl Prefilter {
    pub(crate) fn new() -> Self {
        Self {
            bits: OnceLock::new(),
            hasher: RandomState::new(),
        }
    }

    /// The word index and bit mask of `key`'s two positions.
    fn positions(&self, kind: Kind, key: &str) -> [(usize, u64); 2] {
        let hash = self.hasher.hash_one((kind, key));
        [hash & 0xffff_ffff, hash >> 32].map(|half| {
            let bit = half % BITS;
            // `bit < 2^20`, so the index is below `WORDS` and fits any usize.
            (usize::try_from(bit / 64).unwrap_or(0), 1u64 << (bit % 64))
        })
    }

    /// Records `key` (before its record is put into the maps).
    pub(crate) fn insert(&self, kind: Kind, key: &str) {
        let bits = self
            .bits
            .get_or_init(|| (0..WORDS).map(|_| AtomicU64::new(0)).collect());
        for (word, mask) in self.positions(kind, key) {
            if let Some(word) = bits.get(word) {
                word.fetch_or(mask, Ordering::Release);
            }
        }
    }

    /// Whether `key` may have been recorded: `false` means certainly not.
    pub(crate) fn may_contain(&self, kind: Kind, key: &str) -> bool {
        let Some(bits) = self.bits.get() else {
            return false;
        };
        self.positions(kind, key).into_iter().all(|(word, mask)| {
            bits.get(word)
                .is_some_and(|word| word.load(Ordering::Acquire) & mask != 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_inserted_is_always_found_and_little_else() {
        let filter = Prefilter::new();
        assert!(!filter.may_contain(Kind::Subject, "alice"));
        for i in 0..20_000 {
            filter.insert(Kind::Subject, &format!("user-{i}"));
        }
        for i in 0..20_000 {
            assert!(filter.may_contain(Kind::Subject, &format!("user-{i}")));
        }
        // The same text as another kind, and texts never inserted: rarely reported.
        let false_positives = (0..20_000)
            .filter(|i| filter.may_contain(Kind::Session, &format!("user-{i}")))
            .count()
            + (0..20_000)
                .filter(|i| filter.may_contain(Kind::Subject, &format!("other-{i}")))
                .count();
        assert!(false_positives < 200, "{false_positives} of 40 000");
    }
}
