//! [`Answer`]: a result now, or a future of it. What a [`Verifier`](crate::Verifier) answers
//! about a token ([`Verification`](crate::Verification)) and what a
//! [`Policy`](crate::policy::Policy) answers about a request ([`Verdict`](crate::policy::Verdict)).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::AuthError;

/// A result now, when nothing had to be waited for, or a future that carries what was already
/// worked out and waits for the rest (a key fetch, an introspection call, a database look-up).
///
/// The layers take a ready answer without allocating or boxing anything; `.await` works on
/// either kind:
///
/// ```
/// use tower_authz::{AuthError, Verification};
///
/// # async fn demo() {
/// let now = Verification::Ready(Err(AuthError::invalid_token("unknown API key")));
/// assert!(now.is_ready());
/// assert!(now.await.is_err());
///
/// let later = Verification::pending(async { Err(AuthError::invalid_token("revoked")) });
/// assert!(!later.is_ready());
/// assert!(later.await.is_err());
/// # }
/// ```
#[must_use = "an answer does nothing unless it is used"]
pub enum Answer<T> {
    /// Answered without waiting.
    Ready(Result<T, AuthError>),
    /// The answer needs waiting for.
    Pending(Pending<T>),
}

impl<T> Answer<T> {
    /// An answer that needs waiting for: `future` owns what it needs (it outlives the call that
    /// returned it, so hold shared state behind an `Arc` and move a clone in).
    pub fn pending(future: impl Future<Output = Result<T, AuthError>> + Send + 'static) -> Self {
        Self::Pending(Pending(Box::pin(future)))
    }

    /// Whether the answer is here already.
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready(_))
    }

    /// The answer if it is here, for a caller that cannot wait (fixed keys always answer at
    /// once); `None` if it needs waiting for.
    pub fn into_ready(self) -> Option<Result<T, AuthError>> {
        match self {
            Self::Ready(result) => Some(result),
            Self::Pending(_) => None,
        }
    }
}

impl<T> From<Result<T, AuthError>> for Answer<T> {
    fn from(result: Result<T, AuthError>) -> Self {
        Self::Ready(result)
    }
}

impl<T: fmt::Debug> fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready(result) => f.debug_tuple("Ready").field(result).finish(),
            Self::Pending(pending) => pending.fmt(f),
        }
    }
}

impl<T> IntoFuture for Answer<T> {
    type Output = Result<T, AuthError>;
    type IntoFuture = AnswerFuture<T>;

    fn into_future(self) -> AnswerFuture<T> {
        AnswerFuture(match self {
            Self::Ready(result) => State::Ready(Some(result)),
            Self::Pending(pending) => State::Pending(pending),
        })
    }
}

/// The future of an answer that has to wait: made by [`Answer::pending`].
pub struct Pending<T>(Pin<Box<dyn Future<Output = Result<T, AuthError>> + Send>>);

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T, AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// What `.await` on an [`Answer`] polls.
pub struct AnswerFuture<T>(State<T>);

enum State<T> {
    /// Taken on the first poll.
    Ready(Option<Result<T, AuthError>>),
    Pending(Pending<T>),
}

impl<T> fmt::Debug for AnswerFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnswerFuture").finish_non_exhaustive()
    }
}

impl<T> Unpin for AnswerFuture<T> {}

impl<T> Future for AnswerFuture<T> {
    type Output = Result<T, AuthError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                // Polled after completion: a caller bug; stay pending rather than panic.
                None => Poll::Pending,
            },
            State::Pending(pending) => Pin::new(pending).poll(cx),
        }
    }
}
