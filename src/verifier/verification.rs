//! [`Verification`]: a verifier's one answer about a token, ready now or to be awaited.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::claims::Claims;
use crate::error::AuthError;

/// What [`Verifier::verify`](super::Verifier::verify) answers: the result now, when nothing
/// had to be waited for (a cache hit, fixed keys, a refusal), or a future that carries what the
/// verifier already worked out (the token, its cache key, the miss) and waits for the rest (a key
/// fetch, an introspection call).
///
/// The layer takes a ready answer without allocating or boxing anything; `.await` works on
/// either kind:
///
/// ```
/// use tower_authz::{AuthError, Claims, Verification};
///
/// # async fn demo() -> Result<(), AuthError> {
/// let now = Verification::Ready(Err(AuthError::invalid_token("unknown API key")));
/// assert!(now.is_ready());
/// assert!(now.await.is_err());
///
/// let later = Verification::pending(async { Err(AuthError::invalid_token("revoked")) });
/// assert!(!later.is_ready());
/// assert!(later.await.is_err());
/// # Ok(()) }
/// ```
#[must_use = "a verification does nothing unless its answer is used"]
pub enum Verification {
    /// Answered without waiting.
    Ready(Result<Claims, AuthError>),
    /// The answer needs waiting for.
    Pending(PendingVerification),
}

impl Verification {
    /// An answer that needs waiting for: `future` owns what it needs (it outlives the call
    /// to `verify`, so hold your verifier's state behind an `Arc` and move a clone in).
    pub fn pending(
        future: impl Future<Output = Result<Claims, AuthError>> + Send + 'static,
    ) -> Self {
        Self::Pending(PendingVerification(Box::pin(future)))
    }

    /// Whether the answer is here already.
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready(_))
    }

    /// The answer if it is here, for a caller that cannot wait (fixed keys always answer at
    /// once); `None` if it needs waiting for.
    pub fn into_ready(self) -> Option<Result<Claims, AuthError>> {
        match self {
            Self::Ready(result) => Some(result),
            Self::Pending(_) => None,
        }
    }
}

impl From<Result<Claims, AuthError>> for Verification {
    fn from(result: Result<Claims, AuthError>) -> Self {
        Self::Ready(result)
    }
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready(result) => f.debug_tuple("Ready").field(result).finish(),
            Self::Pending(pending) => pending.fmt(f),
        }
    }
}

impl IntoFuture for Verification {
    type Output = Result<Claims, AuthError>;
    type IntoFuture = VerificationFuture;

    fn into_future(self) -> VerificationFuture {
        VerificationFuture(match self {
            Self::Ready(result) => Answer::Ready(Some(result)),
            Self::Pending(pending) => Answer::Pending(pending),
        })
    }
}

/// The future of a verification that has to wait: made by [`Verification::pending`].
pub struct PendingVerification(Pin<Box<dyn Future<Output = Result<Claims, AuthError>> + Send>>);

impl fmt::Debug for PendingVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingVerification")
            .finish_non_exhaustive()
    }
}

impl Future for PendingVerification {
    type Output = Result<Claims, AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// What `.await` on a [`Verification`] polls.
#[derive(Debug)]
pub struct VerificationFuture(Answer);

#[derive(Debug)]
enum Answer {
    /// Taken on the first poll.
    Ready(Option<Result<Claims, AuthError>>),
    Pending(PendingVerification),
}

impl Future for VerificationFuture {
    type Output = Result<Claims, AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            Answer::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                // Polled after completion: a caller bug; stay pending rather than panic.
                None => Poll::Pending,
            },
            Answer::Pending(pending) => Pin::new(pending).poll(cx),
        }
    }
}
