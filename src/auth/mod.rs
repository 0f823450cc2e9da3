//! The layer that authenticates requests, in the tower-http shape: [`AuthLayer`] (`layer.rs`)
//! builds [`Auth`] (`service.rs`), whose calls answer with a [`ResponseFuture`] (`future.rs`);
//! the [`Settings`] they share live here, so that the layer depends on the service and not the
//! other way round.

use std::fmt;
use std::sync::Arc;

use crate::dpop::DpopCheck;
use crate::token::TokenSource;
use crate::verifier::Verifier;

mod dpop;
mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use service::Auth;

/// What an [`AuthLayer`] and every [`Auth`] it builds share.
pub(crate) struct Settings<R> {
    pub(crate) verifier: Arc<dyn Verifier>,
    pub(crate) sources: Arc<[TokenSource]>,
    /// The verifier's cap on the token size (`usize::MAX` for none), applied where the token
    /// is found.
    pub(crate) max_token_len: usize,
    pub(crate) optional: bool,
    /// DPoP (RFC 9449), when the layer accepts it; `None` keeps the bearer path as it is.
    pub(crate) dpop: Option<Arc<DpopCheck>>,
    pub(crate) responder: Arc<R>,
}

impl<R> Clone for Settings<R> {
    fn clone(&self) -> Self {
        Self {
            verifier: Arc::clone(&self.verifier),
            sources: Arc::clone(&self.sources),
            max_token_len: self.max_token_len,
            optional: self.optional,
            dpop: self.dpop.clone(),
            responder: Arc::clone(&self.responder),
        }
    }
}

impl<R: fmt::Debug> fmt::Debug for Settings<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("sources", &self.sources)
            .field("optional", &self.optional)
            .field("dpop", &self.dpop)
            .field("responder", &self.responder)
            .finish_non_exhaustive()
    }
}
