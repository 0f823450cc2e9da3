//! [`Revocable`]: a verifier whose answers are checked against the service's [`Revocations`].

use std::fmt;
use std::sync::{Arc, Weak};

use super::{Verification, Verifier};
use crate::answer::Answer;
use crate::claims::Claims;
use crate::error::AuthError;
use crate::readiness::ReadinessCheck;
use crate::revocation::{Listener, Revocation, Revocations};

/// Wraps a verifier so that a token it accepts is refused (401 `invalid_token`) when its
/// subject or session logged out after it was issued, or it was revoked (see
/// [`Revocations`]). Cached answers are checked too, on every request; the wrapped verifier is
/// also told of each revocation ([`Verifier::revoked`]), so that it drops what it cached.
///
/// ```
/// use tower_authz::{AuthLayer, JwksVerifier, Revocable, Revocations};
///
/// let revocations = Revocations::new();
/// let verifier = JwksVerifier::discover("https://id.example.com", "api")?;
/// let layer = AuthLayer::new(Revocable::new(verifier, revocations.clone()));
/// // revocations.revoke_subject(...) in a logout handler; BackChannelLogout for the provider's.
/// # let _ = layer;
/// # Ok::<(), tower_authz::ConfigError>(())
/// ```
pub struct Revocable<V> {
    verifier: Arc<V>,
    revocations: Revocations,
    /// Tells `verifier` of each revocation; `revocations` holds it weakly, so it goes with us.
    _listener: Arc<dyn Listener>,
}

impl<V: Verifier> Revocable<V> {
    /// Checks the answers of `verifier` against `revocations`.
    pub fn new(verifier: V, revocations: Revocations) -> Self {
        let verifier = Arc::new(verifier);
        let listener: Arc<dyn Listener> = Arc::new(Told(Arc::downgrade(&verifier)));
        revocations.listen(Arc::downgrade(&listener));
        Self {
            verifier,
            revocations,
            _listener: listener,
        }
    }

    /// The wrapped verifier.
    pub fn get_ref(&self) -> &V {
        &self.verifier
    }

    /// The revocations answers are checked against.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }
}

impl<V: fmt::Debug> fmt::Debug for Revocable<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocable")
            .field("verifier", &self.verifier)
            .field("revocations", &self.revocations)
            .finish()
    }
}

/// Forwards revocations to a verifier while it lives.
struct Told<V>(Weak<V>);

impl<V: Verifier> Listener for Told<V> {
    fn revoked(&self, revocation: &Revocation) {
        if let Some(verifier) = self.0.upgrade() {
            verifier.revoked(revocation);
        }
    }
}

fn checked(revocations: &Revocations, claims: Claims, token: &str) -> Result<Claims, AuthError> {
    if revocations.is_revoked(&claims, token) {
        Err(AuthError::invalid_token("the token has been revoked"))
    } else {
        Ok(claims)
    }
}

/// The answer at once stays at once (a cache hit costs one look-up more, no allocation); a
/// pending one is checked when it comes.
impl<V: Verifier> Verifier for Revocable<V> {
    fn verify(&self, token: &str) -> Verification {
        match self.verifier.verify(token) {
            Answer::Ready(Ok(claims)) => Answer::Ready(checked(&self.revocations, claims, token)),
            Answer::Ready(Err(error)) => Answer::Ready(Err(error)),
            Answer::Pending(pending) => {
                let revocations = self.revocations.clone();
                let token = token.to_owned();
                Answer::pending(async move { checked(&revocations, pending.await?, &token) })
            }
        }
    }

    fn readiness(&self) -> Option<ReadinessCheck> {
        self.verifier.readiness()
    }

    fn max_token_len(&self) -> Option<usize> {
        self.verifier.max_token_len()
    }

    fn revoked(&self, revocation: &Revocation) {
        self.verifier.revoked(revocation);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::claims::RoleSource;
    use crate::clock::now;

    /// Accepts every token as alice's, at once or later, and remembers what it was told.
    #[derive(Default)]
    struct Alice {
        pending: bool,
        told: Mutex<Vec<Revocation>>,
    }

    impl Verifier for Alice {
        fn verify(&self, _: &str) -> Verification {
            let claims = Claims::from_value(
                json!({"iss": "https://id", "sub": "alice", "iat": now() - 5}),
                &RoleSource::default(),
            )
            .ok_or(AuthError::invalid_token("bad claims"));
            if self.pending {
                Answer::pending(async move { claims })
            } else {
                Answer::Ready(claims)
            }
        }

        fn revoked(&self, revocation: &Revocation) {
            self.told.lock().unwrap().push(revocation.clone());
        }
    }

    #[tokio::test]
    async fn answers_at_once_and_later_are_both_checked() {
        for pending in [false, true] {
            let revocations = Revocations::new();
            let verifier = Revocable::new(
                Alice {
                    pending,
                    ..Alice::default()
                },
                revocations.clone(),
            );
            assert!(verifier.verify("t").await.is_ok());
            assert_eq!(verifier.verify("t").is_ready(), !pending);
            revocations
                .revoke_subject(Some("https://id"), "alice")
                .await
                .unwrap();
            let error = verifier.verify("t").await.unwrap_err();
            assert_eq!(error.kind(), crate::AuthErrorKind::InvalidToken);
            assert_eq!(verifier.get_ref().told.lock().unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn a_dropped_wrapper_is_no_longer_told() {
        let revocations = Revocations::new();
        drop(Revocable::new(Alice::default(), revocations.clone()));
        revocations.revoke_subject(None, "alice").await.unwrap();
    }
}
