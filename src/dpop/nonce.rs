//! [`DpopNonces`]: stateless, rotating server nonces (RFC 9449 §9).

use std::fmt;
use std::time::Duration;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ConfigError, ConfigErrorKind};

/// The bytes of the HMAC tag a nonce carries (144 bits: 24 base64url characters).
const TAG_LEN: usize = 18;

/// Server nonces for DPoP proofs (RFC 9449 §9): a proof must carry a recent one, which
/// limits how far ahead a client (or a thief of its key) can make proofs.
///
/// A nonce is an HMAC of the current time slot under a secret key, so it needs no storage:
/// replicas configured with the same key give and accept the same nonces. A proof is accepted
/// with the nonce of the current slot or of the one before (a nonce lives one to two
/// rotations). A proof without it, or with an older one, is refused with `use_dpop_nonce` and a
/// fresh `DPoP-Nonce` header, and the client retries with that nonce.
///
/// ```
/// use std::time::Duration;
/// use tower_authz::{DpopNonces, DpopPolicy};
///
/// // One key shared by every replica (from your secret store), a new nonce every 5 minutes.
/// let nonces = DpopNonces::new(b"a secret of at least 32 bytes!!!")?
///     .with_rotation(Duration::from_secs(300));
/// let policy = DpopPolicy::required().with_nonces(nonces);
/// # Ok::<(), tower_authz::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct DpopNonces {
    key: hmac::Key,
    rotation: u64,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("DpopNonces")
            .field("rotation", &Duration::from_secs(self.rotation))
            .finish_non_exhaustive()
    }
}

impl DpopNonces {
    /// Nonces keyed by `secret` (at least 32 bytes), rotating every 5 minutes.
    pub fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < 32 {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidKey,
                "the DPoP nonce secret must be at least 32 bytes",
            ));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            rotation: 300,
        })
    }

    /// Nonces keyed by a random secret, for a single instance (replicas would not accept each
    /// other's nonces; give them one secret with [`new`](Self::new)).
    pub fn random() -> Result<Self, ConfigError> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).map_err(|_| {
            ConfigError::new(
                ConfigErrorKind::InvalidKey,
                "no random key for the DPoP nonces",
            )
        })?;
        Ok(Self { key, rotation: 300 })
    }

    /// How often the nonce changes (at least one second). Default: 5 minutes.
    pub fn with_rotation(mut self, rotation: Duration) -> Self {
        self.rotation = rotation.as_secs().max(1);
        self
    }

    /// The nonce to hand out at `now` (Unix seconds).
    pub(crate) fn current(&self, now: u64) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(now / self.rotation))
    }

    /// Whether `nonce` is the one of the current slot or of the one before, at `now`.
    pub(crate) fn accepts(&self, nonce: &str, now: u64) -> bool {
        let mut decoded = [0u8; TAG_LEN];
        let Ok(TAG_LEN) = URL_SAFE_NO_PAD.decode_slice(nonce.as_bytes(), &mut decoded) else {
            return false;
        };
        let slot = now / self.rotation;
        [slot, slot.saturating_sub(1)]
            .iter()
            .any(|slot| verify_slices_are_equal(&self.tag(*slot), &decoded).is_ok())
    }

    fn tag(&self, slot: u64) -> [u8; TAG_LEN] {
        let mut message = *b"tower-authz dpop nonce 00000000";
        message[23..].copy_from_slice(&slot.to_be_bytes());
        let tag = hmac::sign(&self.key, &message);
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&tag.as_ref()[..TAG_LEN]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_lives_for_its_slot_and_the_next() {
        let nonces = DpopNonces::new(&[7; 32])
            .unwrap()
            .with_rotation(Duration::from_secs(60));
        let nonce = nonces.current(6_000);
        assert_eq!(nonce.len(), 24);
        assert!(nonces.accepts(&nonce, 6_000));
        assert!(nonces.accepts(&nonce, 6_059));
        assert!(nonces.accepts(&nonce, 6_119));
        assert!(!nonces.accepts(&nonce, 6_120));
        assert!(!nonces.accepts(&nonce, 5_999));
        assert_ne!(nonces.current(6_060), nonce);
    }

    #[test]
    fn replicas_with_one_key_agree_and_others_do_not() {
        let a = DpopNonces::new(&[7; 32]).unwrap();
        let b = DpopNonces::new(&[7; 32]).unwrap();
        let other = DpopNonces::random().unwrap();
        let nonce = a.current(1_000);
        assert!(b.accepts(&nonce, 1_000));
        assert!(!other.accepts(&nonce, 1_000));
        for bad in [
            "",
            "x",
            "not base64 at all!!!!!!!",
            &nonce[..23],
            &format!("{nonce}A"),
        ] {
            assert!(!a.accepts(bad, 1_000), "{bad:?}");
        }
        assert!(DpopNonces::new(&[7; 31]).is_err());
        assert!(!format!("{a:?}").contains("key:"));
    }
}
