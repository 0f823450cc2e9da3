//! `[dpop]`: DPoP-bound tokens (RFC 9449) at the layer, as
//! [`AuthLayer::with_dpop`](crate::AuthLayer::with_dpop) takes them.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::field::{Field, at, invalid};
use super::issuer::{OneOrMany, parse_algorithms};
use super::secret::{EnvLookup, SecretRef};
use crate::dpop::{DpopNonces, DpopPolicy};
use crate::error::ConfigError;

/// The layer's DPoP settings (`mode` has no default: a `[dpop]` section says which). See the module documentation for every field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DpopConfig {
    /// `required` or `allowed`.
    mode: DpopModeConfig,
    /// The proof algorithms. Default: ES256, ES384, RS256, PS256, EdDSA.
    #[serde(default)]
    algorithms: Option<OneOrMany>,
    /// How old a proof's `iat` may be. Default: 300.
    #[serde(default)]
    max_age_seconds: Option<u64>,
    /// Clock skew on `iat`, both ways. Default: 60.
    #[serde(default)]
    leeway_seconds: Option<u64>,
    /// The largest `DPoP` header. Default: 4096.
    #[serde(default)]
    max_proof_bytes: Option<usize>,
    /// Proofs remembered against replay. Default: 100000.
    #[serde(default)]
    replay_capacity: Option<u64>,
    /// The URL the proofs' `htu` name, behind a proxy. Default: the request's.
    #[serde(default)]
    public_url: Option<String>,
    /// The secret of the server nonces (at least 32 bytes); no nonces without it.
    #[serde(default)]
    nonce_secret: Option<SecretRef>,
}

/// [`DpopMode`](crate::DpopMode) by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DpopModeConfig {
    Required,
    Allowed,
}

impl DpopConfig {
    /// The policy these settings give; `field` is where `[dpop]` is. Reads the nonce secret.
    pub(crate) fn policy(
        &self,
        field: &Field,
        base: Option<&Path>,
        env: EnvLookup<'_>,
    ) -> Result<DpopPolicy, ConfigError> {
        let mut policy = match self.mode {
            DpopModeConfig::Required => DpopPolicy::required(),
            DpopModeConfig::Allowed => DpopPolicy::allowed(),
        };
        if let Some(names) = &self.algorithms {
            let field = field.join("algorithms");
            let algorithms = parse_algorithms(&names.values(&field)?, &field)?;
            policy = policy.with_algorithms(algorithms).map_err(at(&field))?;
        }
        if let Some(seconds) = self.max_age_seconds {
            if seconds == 0 {
                return Err(invalid(
                    &field.join("max_age_seconds"),
                    "is 0: no proof would be recent enough",
                ));
            }
            policy = policy.with_max_age(Duration::from_secs(seconds));
        }
        if let Some(seconds) = self.leeway_seconds {
            policy = policy.with_leeway(Duration::from_secs(seconds));
        }
        if let Some(bytes) = self.max_proof_bytes {
            if bytes == 0 {
                return Err(invalid(
                    &field.join("max_proof_bytes"),
                    "is 0: no proof would fit",
                ));
            }
            policy = policy.with_max_proof_len(bytes);
        }
        if let Some(capacity) = self.replay_capacity {
            policy = policy
                .with_replay_capacity(capacity)
                .map_err(at(&field.join("replay_capacity")))?;
        }
        if let Some(url) = &self.public_url {
            policy = policy
                .with_public_url(url)
                .map_err(at(&field.join("public_url")))?;
        }
        if let Some(secret) = &self.nonce_secret {
            let field = field.join("nonce_secret");
            let secret = secret.read(&field, base, env)?;
            let nonces = DpopNonces::new(secret.expose().as_bytes()).map_err(at(&field))?;
            policy = policy.with_nonces(nonces);
        }
        Ok(policy)
    }
}
