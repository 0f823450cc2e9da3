//! [`RedisCache`]: the [`SharedCache`] on Redis (or Valkey), feature `redis`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::redis_builder::RedisCacheBuilder;
use super::shared_cache::{SharedCache, SharedCacheError, SharedKey, SharedVerdict};
use crate::error::ConfigError;

pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);
pub(super) const DEFAULT_PREFIX: &str = "tower-authz:introspection:";
/// The shortest secret accepted: the HMAC-SHA256 key's strength.
pub(super) const MIN_SECRET_LEN: usize = 32;

/// Introspection verdicts shared through Redis (or Valkey): a [`SharedCache`] for
/// [`IntrospectionVerifier::with_shared_cache`](crate::IntrospectionVerifier::with_shared_cache).
///
/// - keys: `tower-authz:introspection:` and the HMAC-SHA256 of the token with `secret`
///   (base64url), never the token: give every replica the same secret (at least 32 bytes);
/// - values: the verdict (the active answer's claims, or the refusal) as JSON with its expiry,
///   stored with `SET .. PX` for `min(exp, max TTL)` (refusals: the negative TTL);
/// - the lock of a token: `SET <key>:lock 1 NX PX 2000`;
/// - every command has a timeout (default 100 ms, [`with_timeout`](Self::with_timeout)); the
///   connection (a `redis` crate `ConnectionManager`, which reconnects) is opened on first use.
///
/// `redis://` and `rediss://` (TLS with the system's roots, through rustls) URLs are accepted,
/// with a user, password and database as the `redis` crate reads them
/// (`rediss://user:password@host:6380/0`); plain `redis://` only to a loopback host. For a
/// private CA, a client certificate, or plain TCP on a trusted network, use
/// [`RedisCache::builder`].
///
/// ```
/// use tower_authz::RedisCache;
/// use std::time::Duration;
///
/// let secret = std::env::var("CACHE_SECRET").unwrap_or_else(|_| "x".repeat(32));
/// let cache = RedisCache::new("redis://127.0.0.1:6379", secret)?
///     .with_timeout(Duration::from_millis(50))
///     .with_prefix("orders-api:introspection:");
/// # Ok::<(), tower_authz::ConfigError>(())
/// ```
pub struct RedisCache {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    secret: hmac::Key,
    prefix: String,
    timeout: Duration,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The address only: the URL may carry a password.
        f.debug_struct("RedisCache")
            .field(
                "addr",
                &self.client.get_connection_info().addr().to_string(),
            )
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A stored verdict and when it stops being valid (seconds since the Unix epoch).
#[derive(Serialize, Deserialize)]
struct Stored {
    expires_at: u64,
    verdict: SharedVerdict,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |now| now.as_secs())
}

impl RedisCache {
    /// A cache on the Redis server at `url` (`rediss://`, or `redis://` to a loopback host), its
    /// keys made with `secret` (the same on every replica, at least 32 bytes): the
    /// [`builder`](Self::builder) with its defaults. No I/O here: the connection is opened on
    /// the first local miss.
    ///
    /// A malformed URL, plain `redis://` to another host, or a short secret is a
    /// [`ConfigError`].
    pub fn new(url: &str, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        Self::builder(url, secret).build()
    }

    /// The settings of a cache on the Redis server at `url`, its keys made with `secret`: TLS
    /// roots, a client certificate, plain TCP to another host (see [`RedisCacheBuilder`]).
    pub fn builder(url: impl Into<String>, secret: impl AsRef<[u8]>) -> RedisCacheBuilder {
        RedisCacheBuilder::new(url.into(), secret.as_ref())
    }

    /// A cache of checked parts (see [`RedisCacheBuilder::build`]).
    pub(super) fn from_parts(
        client: redis::Client,
        secret: hmac::Key,
        prefix: String,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            connection: OnceCell::new(),
            secret,
            prefix,
            timeout,
        }
    }

    /// The timeout of each command (and of opening the connection). Default: 100 ms.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The prefix of the keys. Default: `tower-authz:introspection:`. Give each API its own if
    /// several share one Redis with different introspection settings.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    async fn connection(&self) -> Result<ConnectionManager, SharedCacheError> {
        let connection = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(self.timeout);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(|error| {
                SharedCacheError::new("no connection to Redis", Some(Box::new(error)))
            })?;
        Ok(connection.clone())
    }

    /// The key of the keyed hashes (for the revocation store beside this file).
    pub(super) fn secret(&self) -> &hmac::Key {
        &self.secret
    }

    /// The client, for a connection of another kind (pub/sub).
    pub(super) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The timeout of each command.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `pipeline` with the timeout.
    pub(super) async fn run_pipeline(
        &self,
        pipeline: &redis::Pipeline,
    ) -> Result<(), SharedCacheError> {
        let mut connection = self.connection().await?;
        match tokio::time::timeout(self.timeout, pipeline.query_async::<()>(&mut connection)).await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(SharedCacheError::new(
                "Redis refused or dropped the command",
                Some(Box::new(error)),
            )),
            Err(_) => Err(SharedCacheError::new("Redis did not answer in time", None)),
        }
    }

    /// Runs `command` with the timeout.
    pub(super) async fn run<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, SharedCacheError> {
        let mut connection = self.connection().await?;
        match tokio::time::timeout(self.timeout, command.query_async(&mut connection)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(SharedCacheError::new(
                "Redis refused or dropped the command",
                Some(Box::new(error)),
            )),
            Err(_) => Err(SharedCacheError::new("Redis did not answer in time", None)),
        }
    }
}

#[async_trait]
impl SharedCache for RedisCache {
    fn key(&self, token: &str) -> SharedKey {
        let tag = hmac::sign(&self.secret, token.as_bytes());
        let mut key = String::with_capacity(self.prefix.len() + 43);
        key.push_str(&self.prefix);
        URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut key);
        SharedKey::new(key)
    }

    async fn get(&self, key: &SharedKey) -> Result<Option<SharedVerdict>, SharedCacheError> {
        let value: Option<Vec<u8>> = self.run(redis::cmd("GET").arg(key.as_str())).await?;
        // Something else under our key (another version, another program) is a miss.
        Ok(value
            .and_then(|value| serde_json::from_slice::<Stored>(&value).ok())
            .filter(|stored| stored.expires_at > unix_now())
            .map(|stored| stored.verdict))
    }

    async fn put(
        &self,
        key: &SharedKey,
        verdict: &SharedVerdict,
        ttl: Duration,
    ) -> Result<(), SharedCacheError> {
        let stored = Stored {
            expires_at: unix_now().saturating_add(ttl.as_secs().max(1)),
            verdict: verdict.clone(),
        };
        let value = serde_json::to_vec(&stored).map_err(|error| {
            SharedCacheError::new("the verdict could not be written", Some(Box::new(error)))
        })?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run::<()>(
            redis::cmd("SET")
                .arg(key.as_str())
                .arg(value)
                .arg("PX")
                .arg(millis),
        )
        .await
    }

    async fn lock(&self, key: &SharedKey, ttl: Duration) -> Result<bool, SharedCacheError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(format!("{}:lock", key.as_str()))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis),
            )
            .await?;
        Ok(taken.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_a_keyed_hash_never_the_token() {
        let secret = [7u8; 32];
        let cache = RedisCache::new("redis://127.0.0.1:1", secret).unwrap();
        let key = cache.key("opaque-token");
        assert!(key.as_str().starts_with(DEFAULT_PREFIX));
        assert!(!key.as_str().contains("opaque-token"));
        assert_eq!(key, cache.key("opaque-token"));
        assert_ne!(key, cache.key("opaque-token2"));
        let other = RedisCache::new("redis://127.0.0.1:1", [8u8; 32]).unwrap();
        assert_ne!(key, other.key("opaque-token"));
        assert!(!format!("{cache:?}").contains("\\x07"));
    }

    #[test]
    fn a_short_secret_or_a_bad_url_is_a_config_error() {
        use crate::error::ConfigErrorKind;
        let short = RedisCache::new("redis://127.0.0.1", "short").unwrap_err();
        assert_eq!(short.kind(), ConfigErrorKind::InvalidValue);
        let url = RedisCache::new("http://127.0.0.1", [0u8; 32]).unwrap_err();
        assert_eq!(url.kind(), ConfigErrorKind::InvalidUrl);
    }

    #[test]
    fn debug_shows_no_password() {
        let cache = RedisCache::new("redis://user:hunter2@127.0.0.1:6379", [0u8; 32]).unwrap();
        assert!(!format!("{cache:?}").contains("hunter2"));
    }
}
