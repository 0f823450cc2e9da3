//! [`RevocationStore`] on [`RedisCache`]: the replicas' revocations in the same Redis (one
//! connection, one secret) as their introspection answers.
//!
//! - each record is kept under `tower-authz:revocation:<kind>:<HMAC of its subject, session or
//!   token id>:<time>` for its lifetime (`SET .. PX`): distinct logouts are distinct keys, so
//!   two replicas writing at once lose nothing;
//! - it is announced on the channel `tower-authz:revocations` (`PUBLISH`): replicas following
//!   the store apply it within milliseconds;
//! - a replica follows with its own pub/sub connection: it subscribes, then loads every kept
//!   record (`SCAN` + `MGET`), then applies the announcements; after a failure it waits (1 s,
//!   doubling up to 30 s) and does both again, so what was announced meanwhile is not lost; it
//!   also loads them again every 30 s, so a subscription that died silently (a network that
//!   drops packets without a reset) delays a revocation by 30 s at most;
//! - a logout token's `jti` is taken with `SET .. NX PX`: a replay to any replica is refused.

use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;

use super::redis_cache::RedisCache;
use crate::revocation::{RecordSink, Revocation, RevocationStore, StoreError, TokenId};

const RECORD_PREFIX: &str = "tower-authz:revocation:";
const CHANNEL: &str = "tower-authz:revocations";
const FIRST_USE_PREFIX: &str = "tower-authz:logout-jti:";
/// The first wait after a failure of the subscription, doubled up to the longest.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(30);
/// How often a follower looks whether its `Revocations` still exists.
const SINK_CHECK: Duration = Duration::from_secs(5);
/// How often a follower loads the kept records again, whatever the channel says.
const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// Records loaded per `MGET`.
const BATCH: usize = 200;

fn store_error(
    message: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::new(message, Some(Box::new(error)))
}

impl RedisCache {
    fn tag(&self, text: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(self.secret(), text.as_bytes()))
    }

    /// The key of a record: its kind, a keyed hash of what it names, its time.
    fn record_key(&self, record: &Revocation) -> Option<String> {
        let (kind, named, time) = match record {
            Revocation::Subject {
                issuer,
                subject,
                at,
            } => (
                "subject",
                format!("{}\n{subject}", issuer.as_deref().unwrap_or("")),
                *at,
            ),
            Revocation::Session {
                issuer,
                session,
                at,
            } => (
                "session",
                format!("{}\n{session}", issuer.as_deref().unwrap_or("")),
                *at,
            ),
            Revocation::Token {
                id: TokenId::Jti(jti),
                until,
            } => ("jti", jti.clone(), *until),
            Revocation::Token {
                id: TokenId::Hash(hash),
                until,
            } => ("hash", hash.clone(), *until),
            // A kind this version does not know is not stored.
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        Some(format!("{RECORD_PREFIX}{kind}:{}:{time}", self.tag(&named)))
    }

    /// Loads every kept record into `sink`.
    async fn load_kept(&self, sink: &RecordSink) -> Result<(), StoreError> {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .run(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(format!("{RECORD_PREFIX}*"))
                        .arg("COUNT")
                        .arg(1000),
                )
                .await
                .map_err(|error| store_error("Redis could not list the revocations", error))?;
            for batch in keys.chunks(BATCH) {
                let values: Vec<Option<Vec<u8>>> = self
                    .run(redis::cmd("MGET").arg(batch))
                    .await
                    .map_err(|error| store_error("Redis could not read the revocations", error))?;
                for value in values.into_iter().flatten() {
                    // Something else under our prefix (another version) is skipped.
                    if let Ok(record) = serde_json::from_slice::<Revocation>(&value) {
                        sink.apply(record);
                    }
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// One subscription: subscribe, load the kept records, apply announcements until the
    /// connection drops (`Err`) or the sink closes (`Ok`).
    async fn follow_once(&self, sink: &RecordSink) -> Result<(), StoreError> {
        let timeout = self.timeout();
        let mut pubsub = tokio::time::timeout(timeout, self.client().get_async_pubsub())
            .await
            .map_err(|_| StoreError::new("Redis did not answer in time", None))?
            .map_err(|error| store_error("no pub/sub connection to Redis", error))?;
        tokio::time::timeout(timeout, pubsub.subscribe(CHANNEL))
            .await
            .map_err(|_| StoreError::new("Redis did not answer in time", None))?
            .map_err(|error| store_error("Redis refused the subscription", error))?;
        self.load_kept(sink).await?;
        let mut messages = pubsub.on_message();
        let mut loaded = tokio::time::Instant::now();
        loop {
            // Woken at least every few seconds to see whether anyone still listens, and to load
            // the kept records again now and then: a subscription that died silently (no reset
            // from the network) misses announcements, not records.
            let Ok(message) = tokio::time::timeout(SINK_CHECK, messages.next()).await else {
                if !sink.is_open() {
                    return Ok(());
                }
                if loaded.elapsed() >= RELOAD_EVERY {
                    self.load_kept(sink).await?;
                    loaded = tokio::time::Instant::now();
                }
                continue;
            };
            let Some(message) = message else {
                return Err(StoreError::new("the Redis subscription ended", None));
            };
            if let Ok(record) = serde_json::from_slice::<Revocation>(message.get_payload_bytes())
                && !sink.apply(record)
            {
                return Ok(());
            }
        }
    }
}

/// Revocations shared through the same Redis as the introspection answers (see the module
/// documentation for the keys and the channel).
#[async_trait]
impl RevocationStore for RedisCache {
    fn token_hash(&self, token: &str) -> String {
        self.tag(token)
    }

    async fn publish(&self, record: &Revocation, ttl: Duration) -> Result<(), StoreError> {
        let Some(key) = self.record_key(record) else {
            return Ok(());
        };
        let value = serde_json::to_vec(record)
            .map_err(|error| store_error("the revocation could not be written", error))?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut pipeline = redis::pipe();
        pipeline
            .cmd("SET")
            .arg(&key)
            .arg(&value)
            .arg("PX")
            .arg(millis)
            .ignore()
            .cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(&value)
            .ignore();
        self.run_pipeline(&pipeline)
            .await
            .map_err(|error| store_error("Redis did not keep the revocation", error))
    }

    async fn follow(&self, sink: RecordSink) {
        let mut wait = FIRST_RETRY;
        while sink.is_open() {
            match self.follow_once(&sink).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(
                        error = %error,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "the revocations of the other replicas are not followed"
                    );
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(LONGEST_RETRY);
        }
    }

    async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(format!("{FIRST_USE_PREFIX}{}", self.tag(key)))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis),
            )
            .await
            .map_err(|error| store_error("Redis could not record the logout token", error))?;
        Ok(taken.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_name_a_hash_and_the_time_never_the_subject() {
        let cache = RedisCache::new("redis://127.0.0.1:1", [3u8; 32]).unwrap();
        let alice = |at| Revocation::Subject {
            issuer: Some("https://id".into()),
            subject: "alice".into(),
            at,
        };
        let key = cache.record_key(&alice(10)).unwrap();
        assert!(key.starts_with("tower-authz:revocation:subject:"), "{key}");
        assert!(key.ends_with(":10"));
        assert!(!key.contains("alice"));
        assert_ne!(key, cache.record_key(&alice(11)).unwrap());
        let session = Revocation::Session {
            issuer: Some("https://id".into()),
            session: "alice".into(),
            at: 10,
        };
        assert_ne!(key, cache.record_key(&session).unwrap());
        assert_eq!(RevocationStore::token_hash(&cache, "t"), cache.tag("t"));
        assert!(!RevocationStore::token_hash(&cache, "token").contains("token"));
    }
}
