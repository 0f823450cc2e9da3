//! [`ResponseFuture`]: what a call to [`Auth`](super::Auth) or [`Require`](crate::Require)
//! returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// The response future of [`Auth`](super::Auth) and [`Require`](crate::Require).
    pub struct ResponseFuture<F: Future> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F: Future> {
        // Verified without waiting: the inner service's future.
        Inner { #[pin] future: F },
        // Refused without waiting.
        Refused { response: Option<F::Output> },
        // The verifier had to wait (a key fetch, an introspection call).
        Waiting { future: Pin<Box<dyn Future<Output = F::Output> + Send>> },
    }
}

impl<F: Future> ResponseFuture<F> {
    /// The inner service's future, for a request let through at once.
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    /// A refusal decided at once.
    pub(crate) fn refused(response: F::Output) -> Self {
        Self {
            kind: Kind::Refused {
                response: Some(response),
            },
        }
    }

    /// Verification that has to wait, then the inner service.
    pub(crate) fn waiting(future: Pin<Box<dyn Future<Output = F::Output> + Send>>) -> Self {
        Self {
            kind: Kind::Waiting { future },
        }
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(response),
                // Polled again after completion: a caller bug; stay pending rather than panic.
                None => Poll::Pending,
            },
            KindProj::Waiting { future } => future.as_mut().poll(cx),
        }
    }
}
