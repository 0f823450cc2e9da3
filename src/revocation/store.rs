//! [`RevocationStore`]: where the replicas of a service share their revocations.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;

use super::record::Revocation;

/// Why a [`RevocationStore`] could not be used (down, slow past its timeout, refused the
/// command). The revocation is still kept by this replica.
#[derive(Debug)]
pub struct StoreError {
    message: &'static str,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// An error saying `message` (a fixed sentence), with its cause if there is one.
    pub fn new(
        message: &'static str,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self { message, source }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Where each revocation a replica learns goes, for [`RevocationStore::follow`]: the replica's
/// [`Revocations`](crate::Revocations), as long as it exists.
#[derive(Clone)]
pub struct RecordSink(pub(super) Weak<super::revocations::Inner>);

impl RecordSink {
    /// Applies `record` in this replica (a record already known changes nothing). `false` once
    /// the [`Revocations`](crate::Revocations) it fed is gone: stop following then.
    pub fn apply(&self, record: Revocation) -> bool {
        match self.0.upgrade() {
            Some(inner) => {
                inner.apply(&record);
                true
            }
            None => false,
        }
    }

    /// Whether the [`Revocations`](crate::Revocations) fed by this sink still exists.
    pub fn is_open(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl fmt::Debug for RecordSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordSink")
            .field("open", &self.is_open())
            .finish()
    }
}

/// Shares revocations between the replicas of a service (Redis, Valkey, ...).
///
/// A revocation made on one replica is [`publish`](Self::publish)ed: kept for its lifetime, so
/// that a replica starting later still learns it, and announced to the replicas following the
/// store now. Each replica [`follow`](Self::follow)s: it gets every kept record, then each new
/// one as it comes. [`RedisCache`](crate::RedisCache) implements it (feature `redis`).
#[async_trait]
pub trait RevocationStore: Send + Sync + fmt::Debug + 'static {
    /// A keyed hash of a token without `jti` (the same on every replica, never the token).
    fn token_hash(&self, token: &str) -> String;

    /// Keeps `record` for `ttl` and announces it to the replicas that follow the store.
    async fn publish(&self, record: &Revocation, ttl: Duration) -> Result<(), StoreError>;

    /// Feeds `sink` with the records kept, then each new one, until `sink` is closed
    /// ([`RecordSink::apply`] answers `false`). Reconnects by itself after a failure, and
    /// loads the kept records again then (what was announced meanwhile is among them).
    async fn follow(&self, sink: RecordSink);

    /// Takes `key` for `ttl` if nobody has it: `true` the first time. Used to refuse a logout
    /// token replayed to any replica (its `jti`).
    async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
}

/// One store (one connection) for the revocations and the introspection cache:
/// `with_store(Arc::clone(&redis))`.
#[async_trait]
impl<S: RevocationStore + ?Sized> RevocationStore for Arc<S> {
    fn token_hash(&self, token: &str) -> String {
        (**self).token_hash(token)
    }

    async fn publish(&self, record: &Revocation, ttl: Duration) -> Result<(), StoreError> {
        (**self).publish(record, ttl).await
    }

    async fn follow(&self, sink: RecordSink) {
        (**self).follow(sink).await;
    }

    async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        (**self).first_use(key, ttl).await
    }
}
