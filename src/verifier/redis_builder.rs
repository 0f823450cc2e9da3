//! [`RedisCacheBuilder`]: where a [`RedisCache`] connects and how (TLS roots, a client
//! certificate, plain TCP only where it is safe), checked before anything is sent.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;
use redis::{ClientTlsConfig, ConnectionAddr, TlsCertificates};

use super::redis_cache::{DEFAULT_PREFIX, DEFAULT_TIMEOUT, MIN_SECRET_LEN, RedisCache};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::provider::url::is_loopback_host;

/// The settings of a [`RedisCache`], made by [`RedisCache::builder`]; [`build`](Self::build)
/// checks them all and does no I/O (the connection is opened on the first local miss).
///
/// - `rediss://` (TLS, through rustls): the server's certificate must chain to the system's
///   roots (as `rustls-native-certs` finds them, the roots reqwest's platform verifier uses on
///   Linux), or only to the roots given with
///   [`with_root_certificates`](Self::with_root_certificates) (a private CA, as Redis services
///   inside a VPC use); a client certificate for servers that ask for one (`tls-auth-clients
///   yes`) with [`with_client_certificate`](Self::with_client_certificate). Certificate checks
///   cannot be turned off: a URL with `#insecure` is refused.
/// - `redis://` (plain TCP): only to a loopback host (`127.0.0.0/8`, `::1`, `localhost`) or a
///   Unix socket (`redis+unix://`), unless [`allow_plaintext_redis`](Self::allow_plaintext_redis)
///   says otherwise: the cache holds the claims of active tokens, and anyone on the path could
///   read them or write verdicts of their own.
///
/// ```no_run
/// use tower_authz::RedisCache;
/// use std::time::Duration;
///
/// let secret = std::env::var("CACHE_SECRET")?;
/// // A Redis inside the VPC, its certificate issued by the company's CA; mutual TLS.
/// let cache = RedisCache::builder("rediss://cache.internal:6380", secret)
///     .with_root_certificates(std::fs::read("/etc/redis/ca.pem")?)
///     .with_client_certificate(
///         std::fs::read("/etc/redis/client.pem")?,
///         std::fs::read("/run/secrets/redis-client-key.pem")?,
///     )
///     .with_timeout(Duration::from_millis(50))
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisCacheBuilder {
    /// The URL as given: may carry a password, so never in `Debug` or an error.
    url: String,
    secret: hmac::Key,
    secret_len: usize,
    root_certificates: Option<Vec<u8>>,
    client_certificate: Option<ClientTlsConfig>,
    allow_plaintext: bool,
    prefix: String,
    timeout: Duration,
}

impl fmt::Debug for RedisCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCacheBuilder")
            .field("root_certificates", &self.root_certificates.is_some())
            .field("client_certificate", &self.client_certificate.is_some())
            .field("allow_plaintext", &self.allow_plaintext)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCacheBuilder {
    pub(super) fn new(url: String, secret: &[u8]) -> Self {
        Self {
            url,
            secret: hmac::Key::new(hmac::HMAC_SHA256, secret),
            secret_len: secret.len(),
            root_certificates: None,
            client_certificate: None,
            allow_plaintext: false,
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Trusts only these roots (PEM, one certificate or several) for a `rediss://` server, in
    /// place of the system's: a private CA's. With a `redis://` URL, [`build`](Self::build)
    /// refuses it (the certificate would not be checked).
    pub fn with_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates = Some(pem.into());
        self
    }

    /// Presents this certificate (PEM, the chain from the client's certificate up) and its
    /// private key (PEM, PKCS#8, PKCS#1 or SEC1) to a `rediss://` server that asks for one
    /// (mutual TLS). Never shown in `Debug`.
    pub fn with_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_certificate = Some(ClientTlsConfig {
            client_cert: certificate_pem.into(),
            client_key: key_pem.into(),
        });
        self
    }

    /// Accepts a plain `redis://` URL to a host that is not a loopback address.
    ///
    /// **Risk**: the shared cache carries the claims of active tokens and the verdicts every
    /// replica trusts; on plain TCP anyone on the network path reads them, and can write
    /// verdicts that the replicas will read back (an active answer is still checked for `exp`,
    /// issuer and audience, but its roles and scopes are taken as stored). Use only where the
    /// path is private and trusted (a sidecar, a service mesh with mTLS), else `rediss://`.
    pub fn allow_plaintext_redis(mut self) -> Self {
        self.allow_plaintext = true;
        self
    }

    /// The timeout of each command (and of opening the connection). Default: 100 ms.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The prefix of the keys. Default: `tower-authz:introspection:`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The cache, or a [`ConfigError`]: a secret under 32 bytes
    /// ([`InvalidValue`](ConfigErrorKind::InvalidValue)), a URL that does not parse
    /// ([`InvalidUrl`](ConfigErrorKind::InvalidUrl)), plain `redis://` to a host that is not a
    /// loopback address without [`allow_plaintext_redis`](Self::allow_plaintext_redis)
    /// ([`InsecureUrl`](ConfigErrorKind::InsecureUrl)), `#insecure`, certificates with a
    /// `redis://` URL, or certificates and keys that do not parse
    /// ([`InvalidKey`](ConfigErrorKind::InvalidKey)). No I/O.
    pub fn build(self) -> Result<RedisCache, ConfigError> {
        if self.secret_len < MIN_SECRET_LEN {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidValue,
                "the shared cache secret must be at least 32 bytes",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidValue,
                "the Redis timeout must be more than zero",
            ));
        }
        // The parser's error is kept as the source: it never repeats the URL.
        let client = redis::Client::open(self.url.as_str()).map_err(|error| {
            ConfigError::new(ConfigErrorKind::InvalidUrl, "the Redis URL is not valid")
                .with_source(error)
        })?;
        let info = client.get_connection_info().clone();
        let tls = match info.addr() {
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err(ConfigError::new(
                    ConfigErrorKind::InsecureUrl,
                    "the Redis URL turns certificate checks off (#insecure): give the server's \
                     CA with with_root_certificates instead",
                ));
            }
            ConnectionAddr::TcpTls { .. } => true,
            ConnectionAddr::Tcp(host, _) => {
                if !self.allow_plaintext && !is_loopback_host(host) {
                    return Err(ConfigError::new(
                        ConfigErrorKind::InsecureUrl,
                        "the Redis URL is plain redis:// to a host that is not a loopback \
                         address: the cached claims and verdicts could be read and changed on \
                         the network; use rediss://, or allow_plaintext_redis() if the path is \
                         private and trusted",
                    ));
                }
                false
            }
            // A Unix socket: this machine's.
            _ => false,
        };
        let extras = self.root_certificates.is_some() || self.client_certificate.is_some();
        let client = match (tls, extras) {
            (_, false) => client,
            (false, true) => {
                return Err(ConfigError::new(
                    ConfigErrorKind::InvalidValue,
                    "TLS certificates are given for a Redis URL without TLS: use rediss://",
                ));
            }
            (true, true) => {
                if let Some(roots) = &self.root_certificates {
                    check_roots(roots)?;
                }
                let certificates = TlsCertificates {
                    client_tls: self.client_certificate,
                    root_cert: self.root_certificates,
                };
                redis::Client::build_with_tls(info, certificates).map_err(|error| {
                    ConfigError::new(
                        ConfigErrorKind::InvalidKey,
                        "the Redis TLS certificates or the client key cannot be used",
                    )
                    .with_source(error)
                })?
            }
        };
        Ok(RedisCache::from_parts(
            client,
            self.secret,
            self.prefix,
            self.timeout,
        ))
    }
}

/// Roots that hold at least one certificate (rustls would take an empty set, and refuse every
/// server).
fn check_roots(pem: &[u8]) -> Result<(), ConfigError> {
    let certificates = pem::parse_many(pem).map_err(|error| {
        ConfigError::new(
            ConfigErrorKind::InvalidKey,
            "the Redis root certificates are not PEM",
        )
        .with_source(error)
    })?;
    if !certificates
        .iter()
        .any(|block| block.tag() == "CERTIFICATE")
    {
        return Err(ConfigError::new(
            ConfigErrorKind::InvalidKey,
            "the Redis root certificates hold no certificate",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];

    fn kind(url: &str) -> Option<ConfigErrorKind> {
        RedisCache::builder(url, SECRET)
            .build()
            .err()
            .map(|e| e.kind())
    }

    #[test]
    fn plain_redis_only_to_a_loopback_host_unless_allowed() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://127.8.0.1",
            "redis://localhost:6379/2",
            "redis://[::1]:6379",
            "redis://:password@127.0.0.1",
            "redis+unix:///run/redis.sock",
            "rediss://cache.internal:6380",
            "rediss://10.0.0.5",
        ] {
            assert_eq!(kind(url), None, "{url}");
        }
        for url in [
            "redis://cache.internal:6379",
            "redis://10.0.0.5",
            "redis://[2001:db8::1]:6379",
            "redis://127.0.0.1.nip.io",
        ] {
            assert_eq!(kind(url), Some(ConfigErrorKind::InsecureUrl), "{url}");
            let allowed = RedisCache::builder(url, SECRET)
                .allow_plaintext_redis()
                .build();
            assert!(allowed.is_ok(), "{url}");
        }
        // `RedisCache::new` is the builder with its defaults: it refuses them too.
        let error = RedisCache::new("redis://cache.internal", SECRET).unwrap_err();
        assert_eq!(error.kind(), ConfigErrorKind::InsecureUrl);
    }

    #[test]
    fn certificate_checks_cannot_be_turned_off() {
        assert_eq!(
            kind("rediss://cache.internal:6380/#insecure"),
            Some(ConfigErrorKind::InsecureUrl)
        );
    }

    const CA: &str = include_str!("../../tests/fixtures/loopback-tls-cert.pem");
    const KEY: &str = include_str!("../../tests/fixtures/loopback-tls-key.pem");

    #[test]
    fn certificates_need_tls_and_must_parse() {
        let with_ca = |url: &str, pem: &str| {
            RedisCache::builder(url, SECRET)
                .with_root_certificates(pem)
                .build()
                .err()
                .map(|e| e.kind())
        };
        assert_eq!(with_ca("rediss://cache.internal", CA), None);
        assert_eq!(
            with_ca("redis://127.0.0.1", CA),
            Some(ConfigErrorKind::InvalidValue)
        );
        assert_eq!(
            with_ca("rediss://cache.internal", "not a certificate"),
            Some(ConfigErrorKind::InvalidKey)
        );
        assert_eq!(
            with_ca("rediss://cache.internal", KEY),
            Some(ConfigErrorKind::InvalidKey)
        );
        let client = |certificate: &str, key: &str| {
            RedisCache::builder("rediss://cache.internal", SECRET)
                .with_client_certificate(certificate, key)
                .build()
                .err()
                .map(|e| e.kind())
        };
        assert_eq!(client(CA, KEY), None);
        assert_eq!(client(CA, "no key"), Some(ConfigErrorKind::InvalidKey));
        let plain = RedisCache::builder("redis://127.0.0.1", SECRET)
            .with_client_certificate(CA, KEY)
            .build()
            .unwrap_err();
        assert_eq!(plain.kind(), ConfigErrorKind::InvalidValue);
    }

    #[test]
    fn the_builder_checks_the_secret_and_the_timeout() {
        let short = RedisCache::builder("redis://127.0.0.1", "short")
            .build()
            .unwrap_err();
        assert_eq!(short.kind(), ConfigErrorKind::InvalidValue);
        let zero = RedisCache::builder("redis://127.0.0.1", SECRET)
            .with_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(zero.kind(), ConfigErrorKind::InvalidValue);
    }

    #[test]
    fn debug_and_errors_show_no_password_nor_key() {
        let builder = RedisCache::builder("rediss://user:hunter2@cache.internal", SECRET)
            .with_client_certificate(CA, KEY);
        let debug = format!("{builder:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("PRIVATE"),
            "{debug}"
        );
        let error = RedisCache::builder("redis://user:hunter2@cache.internal", SECRET)
            .build()
            .unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
