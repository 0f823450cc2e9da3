//! `[issuers.introspection.shared_cache]`: introspection answers shared by the replicas through
//! Redis (feature `redis`): where Redis is, the keys' secret, TLS files and the timing.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::field::{Field, invalid};
use super::issuer::Context;
use super::secret::SecretRef;
use crate::error::ConfigError;

/// The shared cache's settings. See the module documentation of `config` for every field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) struct SharedCacheConfig {
    /// The Redis URL: written here without a password, or read from a variable or file.
    url: UrlConfig,
    /// The keys' HMAC secret (at least 32 bytes, the same on every replica).
    secret: SecretRef,
    /// PEM roots that a `rediss://` server's certificate must chain to, instead of the system's.
    #[serde(default)]
    ca_file: Option<PathBuf>,
    /// PEM client certificate (mutual TLS), with `client_key_file`.
    #[serde(default)]
    client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default)]
    client_key_file: Option<PathBuf>,
    /// Accept plain `redis://` to a host that is not a loopback address. Default: `false`.
    #[serde(default)]
    allow_plaintext: bool,
    /// The keys' prefix. Default: `tower-authz:introspection:`.
    #[serde(default)]
    prefix: Option<String>,
    /// Each command's timeout. Default: 100.
    #[serde(default)]
    timeout_milliseconds: Option<u64>,
    /// Default: 2000.
    #[serde(default)]
    lock_ttl_milliseconds: Option<u64>,
    /// Default: 1000.
    #[serde(default)]
    wait_for_holder_milliseconds: Option<u64>,
    /// Default: 10.
    #[serde(default)]
    poll_interval_milliseconds: Option<u64>,
    /// Default: 1000.
    #[serde(default)]
    pause_after_failure_milliseconds: Option<u64>,
}

/// `url = "rediss://host:6380"` (no password in the configuration), or `{ env = "VAR" }` /
/// `{ file = "/path" }` for a URL that carries one.
#[derive(Clone, PartialEq, Eq)]
enum UrlConfig {
    Inline(String),
    Secret(SecretRef),
}

impl fmt::Debug for UrlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Refused at build if it carries a password; not shown either way.
            Self::Inline(_) => f.write_str("Inline(..)"),
            Self::Secret(secret) => secret.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for UrlConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UrlConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Redis URL, { env = \"VARIABLE\" } or { file = \"/path\" }")
            }

            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<UrlConfig, E> {
                Ok(UrlConfig::Inline(url.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<UrlConfig, A::Error> {
                SecretRef::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(UrlConfig::Secret)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl SharedCacheConfig {
    /// `verifier` with this shared cache; `field` is this section's place.
    #[cfg(not(feature = "redis"))]
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn apply<V>(
        &self,
        _verifier: V,
        field: &Field,
        _context: &Context<'_>,
    ) -> Result<V, ConfigError> {
        Err(invalid(
            field,
            "needs the crate feature `redis` of tower-authz",
        ))
    }

    /// `verifier` with this shared cache and its timing; `field` is this section's place. Reads
    /// the secret, the URL if it is one, and the TLS files; connects to nothing.
    #[cfg(feature = "redis")]
    pub(crate) fn apply(
        &self,
        verifier: crate::IntrospectionVerifier,
        field: &Field,
        context: &Context<'_>,
    ) -> Result<crate::IntrospectionVerifier, ConfigError> {
        use std::time::Duration;

        use crate::{RedisCache, SharedCacheTiming};

        let url = self.url(field, context)?;
        let secret = self
            .secret
            .read(&field.join("secret"), context.base, context.env)?;
        if secret.expose().len() < 32 {
            return Err(invalid(
                &field.join("secret"),
                "is shorter than 32 bytes (the HMAC key of the cache's keys)",
            ));
        }
        let fragment = url.contains('#');
        let mut builder = RedisCache::builder(url, secret.expose());
        if let Some(path) = &self.ca_file {
            builder = builder.with_root_certificates(read(&field.join("ca_file"), path, context)?);
        }
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => {
                builder = builder.with_client_certificate(
                    read(&field.join("client_cert_file"), cert, context)?,
                    read(&field.join("client_key_file"), key, context)?,
                );
            }
            (Some(_), None) => {
                return Err(invalid(
                    &field.join("client_key_file"),
                    "is required with client_cert_file",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    &field.join("client_cert_file"),
                    "is required with client_key_file",
                ));
            }
            (None, None) => {}
        }
        if self.allow_plaintext {
            builder = builder.allow_plaintext_redis();
        }
        if let Some(prefix) = &self.prefix {
            if prefix.is_empty() {
                return Err(invalid(&field.join("prefix"), "is empty"));
            }
            builder = builder.with_prefix(prefix.as_str());
        }
        match self.timeout_milliseconds {
            Some(0) => return Err(invalid(&field.join("timeout_milliseconds"), "is zero")),
            Some(millis) => builder = builder.with_timeout(Duration::from_millis(millis)),
            None => {}
        }
        let cache = builder.build().map_err(|error| {
            // The builder's errors name no field: the URL's, or the file's at fault.
            let place = match (
                error.kind(),
                self.ca_file.is_some(),
                self.client_cert_file.is_some(),
            ) {
                (crate::ConfigErrorKind::InvalidKey, true, false) => field.join("ca_file"),
                (crate::ConfigErrorKind::InvalidKey, false, true) => field.join("client_cert_file"),
                (crate::ConfigErrorKind::InvalidKey, ..) => field.clone(),
                (crate::ConfigErrorKind::InsecureUrl, ..) if !fragment => {
                    return ConfigError::new(
                        crate::ConfigErrorKind::InsecureUrl,
                        "plain redis:// to a host that is not a loopback address: the cached \
                         claims and verdicts could be read and changed on the network; use \
                         rediss://, or set `allow_plaintext = true` if the network path is \
                         private and trusted",
                    )
                    .with_field(field.join("url").as_str());
                }
                _ => field.join("url"),
            };
            error.with_field(place.as_str())
        })?;
        let mut timing = SharedCacheTiming::default();
        let millis = Duration::from_millis;
        if let Some(ttl) = self.lock_ttl_milliseconds {
            timing = timing.with_lock_ttl(millis(ttl));
        }
        if let Some(wait) = self.wait_for_holder_milliseconds {
            timing = timing.with_wait_for_holder(millis(wait));
        }
        if let Some(interval) = self.poll_interval_milliseconds {
            timing = timing.with_poll_interval(millis(interval));
        }
        if let Some(pause) = self.pause_after_failure_milliseconds {
            timing = timing.with_pause_after_failure(millis(pause));
        }
        let verifier = verifier
            .with_shared_cache_timing(timing)
            .map_err(|error| error.with_field(field.as_str()))?;
        Ok(verifier.with_shared_cache(cache))
    }

    /// The URL, read from its variable or file if it is given so; one written in the
    /// configuration must not carry a password.
    #[cfg(feature = "redis")]
    fn url(&self, field: &Field, context: &Context<'_>) -> Result<String, ConfigError> {
        let field = field.join("url");
        match &self.url {
            UrlConfig::Secret(secret) => Ok(secret
                .read(&field, context.base, context.env)?
                .expose()
                .to_owned()),
            UrlConfig::Inline(url) => {
                let password = reqwest::Url::parse(url)
                    .ok()
                    .is_some_and(|url| url.password().is_some());
                if password {
                    return Err(invalid(
                        &field,
                        "carries a password: give the URL as { env = \"VARIABLE\" } or \
                         { file = \"/path\" }, never inline",
                    ));
                }
                Ok(url.clone())
            }
        }
    }
}

/// The contents of the file at `path` (relative to the configuration's folder).
#[cfg(feature = "redis")]
fn read(
    field: &Field,
    path: &std::path::Path,
    context: &Context<'_>,
) -> Result<Vec<u8>, ConfigError> {
    let path = super::secret::resolve(context.base, path);
    std::fs::read(&path).map_err(|error| {
        invalid(field, format!("cannot read {}", path.display())).with_source(error)
    })
}
