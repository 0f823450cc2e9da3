//! [`DpopPolicy`]: whether a layer requires or allows DPoP, and how proofs are checked.

use std::time::Duration;

use super::htu::PublicUrl;
use super::nonce::DpopNonces;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::verifier::Algorithm;

/// Whether bearer tokens are still accepted beside DPoP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopMode {
    /// Only `Authorization: DPoP` with a proof: a bearer token is refused.
    Required,
    /// `Authorization: DPoP` with a proof, or a bearer token that is not DPoP-bound (a token
    /// with `cnf.jkt` sent as `Bearer` is refused, RFC 9449 §7.1).
    Allowed,
}

/// How an [`AuthLayer`](crate::AuthLayer) accepts DPoP-bound access tokens (RFC 9449), set with
/// [`AuthLayer::with_dpop`](crate::AuthLayer::with_dpop). Without it (the default), a layer
/// knows only bearer tokens and does not look at `cnf`.
///
/// | setting | default | method |
/// |---|---|---|
/// | proof algorithms (`algs` of the challenge) | ES256, ES384, RS256, PS256, EdDSA | [`with_algorithms`](Self::with_algorithms) |
/// | how old a proof's `iat` may be | 5 minutes | [`with_max_age`](Self::with_max_age) |
/// | clock skew on `iat`, both ways | 60 seconds | [`with_leeway`](Self::with_leeway) |
/// | largest proof | 4 KiB | [`with_max_proof_len`](Self::with_max_proof_len) |
/// | `jti`s remembered against replay | 100 000 | [`with_replay_capacity`](Self::with_replay_capacity) |
/// | server nonces | off | [`with_nonces`](Self::with_nonces) |
/// | public URL for `htu` | the request's scheme (`http` unless the URI has one) and `Host` | [`with_public_url`](Self::with_public_url) |
///
/// ```
/// use tower_authz::{AuthLayer, DpopPolicy, JwtVerifier};
///
/// # let verifier = JwtVerifier::new("iss", "aud").with_hmac_secret([7u8; 32]).unwrap();
/// let layer = AuthLayer::new(verifier)
///     .with_dpop(DpopPolicy::required().with_public_url("https://api.example.com")?);
/// # Ok::<(), tower_authz::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct DpopPolicy {
    pub(crate) mode: DpopMode,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) max_age: Duration,
    pub(crate) leeway: Duration,
    pub(crate) max_proof_len: usize,
    pub(crate) replay_capacity: u64,
    pub(crate) nonces: Option<DpopNonces>,
    pub(crate) public_url: Option<PublicUrl>,
}

impl DpopPolicy {
    fn new(mode: DpopMode) -> Self {
        Self {
            mode,
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::RS256,
                Algorithm::PS256,
                Algorithm::EdDSA,
            ],
            max_age: Duration::from_secs(300),
            leeway: Duration::from_secs(60),
            max_proof_len: 4096,
            replay_capacity: 100_000,
            nonces: None,
            public_url: None,
        }
    }

    /// Only DPoP-bound tokens with a proof are accepted ([`DpopMode::Required`]).
    pub fn required() -> Self {
        Self::new(DpopMode::Required)
    }

    /// DPoP-bound tokens with a proof, and bearer tokens that are not DPoP-bound
    /// ([`DpopMode::Allowed`]).
    pub fn allowed() -> Self {
        Self::new(DpopMode::Allowed)
    }

    /// The mode: required or allowed.
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// The algorithms a proof may be signed with, in the order the challenge's `algs` names
    /// them. Only asymmetric ones: an HMAC algorithm (or none at all) is a
    /// [`ConfigError`].
    ///
    /// ```
    /// use tower_authz::{Algorithm, DpopPolicy};
    ///
    /// let policy = DpopPolicy::required().with_algorithms([Algorithm::ES256])?;
    /// assert!(DpopPolicy::required().with_algorithms([Algorithm::HS256]).is_err());
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn with_algorithms(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, ConfigError> {
        let algorithms: Vec<Algorithm> = algorithms.into_iter().collect();
        let invalid = |message| ConfigError::new(ConfigErrorKind::InvalidValue, message);
        if algorithms.is_empty() {
            return Err(invalid("DPoP needs at least one proof algorithm"));
        }
        if algorithms
            .iter()
            .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(invalid(
                "a DPoP proof algorithm must be asymmetric (RFC 9449 §4.2): not HS256/HS384/HS512",
            ));
        }
        self.algorithms = algorithms;
        Ok(self)
    }

    /// How long after its `iat` a proof is accepted (plus the leeway). Default: 5 minutes.
    /// Its `jti` is remembered that long.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The clock skew allowed between the client and this server on `iat`, both ways.
    /// Default: 60 seconds.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The largest `DPoP` header accepted, checked before anything is parsed. Default: 4 KiB
    /// (a proof with an RSA-4096 key is about 1.5 KiB).
    pub fn with_max_proof_len(mut self, bytes: usize) -> Self {
        self.max_proof_len = bytes;
        self
    }

    /// How many proofs (`jti` per key) the replay cache remembers. Default: 100 000. Past it,
    /// the least used entries are evicted, and a proof evicted that way could be replayed
    /// within its window: size it for the proofs a window brings. 0 (no replay check) is a
    /// [`ConfigError`].
    pub fn with_replay_capacity(mut self, capacity: u64) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidValue,
                "the DPoP replay cache needs room for at least one proof",
            ));
        }
        self.replay_capacity = capacity;
        Ok(self)
    }

    /// Requires a server nonce in every proof (RFC 9449 §9).
    pub fn with_nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The public URL of the API (origin, and a path prefix if the proxy strips one), which
    /// the proofs' `htu` name: behind a reverse proxy or a TLS terminator, where the request's
    /// own scheme and `Host` are not what the client called. The request's path is appended.
    pub fn with_public_url(mut self, url: &str) -> Result<Self, ConfigError> {
        self.public_url = Some(PublicUrl::parse(url)?);
        Ok(self)
    }

    /// The `algs` parameter of the challenge: the algorithms, space-separated.
    pub(crate) fn algs_param(&self) -> String {
        let names: Vec<&str> = self.algorithms.iter().map(|a| a.as_str()).collect();
        names.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refused_settings() {
        let policy = DpopPolicy::allowed();
        assert_eq!(policy.mode(), DpopMode::Allowed);
        assert_eq!(policy.algs_param(), "ES256 ES384 RS256 PS256 EdDSA");
        assert_eq!(DpopPolicy::required().mode(), DpopMode::Required);
        let es = DpopPolicy::required()
            .with_algorithms([Algorithm::EdDSA, Algorithm::ES256])
            .unwrap();
        assert_eq!(es.algs_param(), "EdDSA ES256");
        for bad in [vec![], vec![Algorithm::ES256, Algorithm::HS512]] {
            assert!(DpopPolicy::required().with_algorithms(bad).is_err());
        }
        assert!(DpopPolicy::required().with_replay_capacity(0).is_err());
        assert!(DpopPolicy::required().with_public_url("ftp://x").is_err());
    }
}
