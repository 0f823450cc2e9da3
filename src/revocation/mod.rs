//! Revocation: tokens refused before they expire, because their user logged out, their
//! session ended or they were revoked, on one replica or on all of them.
//!
//! | piece | job |
//! |---|---|
//! | [`Revocation`] | one record: a subject's or a session's tokens up to a time, or one token |
//! | [`Revocations`] | the records a service knows, checked for every verified token; revoke from your code |
//! | [`RevocationStore`] | where replicas share the records (kept with a TTL, announced by pub/sub): [`RedisCache`](crate::RedisCache) |
//! | [`Revocable`](crate::Revocable) | a verifier whose answers are checked against the records |
//! | [`BackChannelLogout`](crate::BackChannelLogout) | the endpoint where the identity provider's logouts arrive |

mod prefilter;
mod record;
mod revocations;
mod store;
mod table;

pub use record::{Revocation, TokenId};
pub(crate) use revocations::Listener;
pub use revocations::Revocations;
pub use store::{RecordSink, RevocationStore, StoreError};
