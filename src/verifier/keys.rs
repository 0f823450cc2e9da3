//! Verification keys, parsed once: from a JWK, a PEM public key or an HMAC secret.
//!
//! Every key carries the algorithms it may verify, derived from its type (RFC 8725 §3.1): an RSA
//! key verifies RS*/PS*, a P-256 key ES256, a P-384 key ES384, an Ed25519 key EdDSA, and only an
//! HMAC secret verifies HS*. A JWK's `alg`, when present, narrows that to one algorithm. The
//! token's `alg` header never decides what kind of key is used.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};

use crate::error::{ConfigError, ConfigErrorKind};

/// A JWS signature algorithm this crate verifies. `none` is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
    /// HMAC with SHA-256 (only with a configured secret).
    HS256,
    /// HMAC with SHA-384 (only with a configured secret).
    HS384,
    /// HMAC with SHA-512 (only with a configured secret).
    HS512,
}

impl Algorithm {
    const RSA: [Algorithm; 6] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
    ];
    const HMAC: [Algorithm; 3] = [Self::HS256, Self::HS384, Self::HS512];

    /// The name used in the JOSE `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    fn rsa_parameters(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    fn hmac_algorithm(self) -> Option<(hmac::Algorithm, usize)> {
        match self {
            Self::HS256 => Some((hmac::HMAC_SHA256, 32)),
            Self::HS384 => Some((hmac::HMAC_SHA384, 48)),
            Self::HS512 => Some((hmac::HMAC_SHA512, 64)),
            _ => None,
        }
    }

    fn from_jwk(alg: KeyAlgorithm) -> Option<Self> {
        Some(match alg {
            KeyAlgorithm::RS256 => Self::RS256,
            KeyAlgorithm::RS384 => Self::RS384,
            KeyAlgorithm::RS512 => Self::RS512,
            KeyAlgorithm::PS256 => Self::PS256,
            KeyAlgorithm::PS384 => Self::PS384,
            KeyAlgorithm::PS512 => Self::PS512,
            KeyAlgorithm::ES256 => Self::ES256,
            KeyAlgorithm::ES384 => Self::ES384,
            KeyAlgorithm::EdDSA => Self::EdDSA,
            KeyAlgorithm::HS256 => Self::HS256,
            KeyAlgorithm::HS384 => Self::HS384,
            KeyAlgorithm::HS512 => Self::HS512,
            _ => return None,
        })
    }
}

impl FromStr for Algorithm {
    type Err = ();

    /// Parses a JOSE `alg` name; `none` and anything unknown are an error.
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            // RFC 9864's fully-specified name for EdDSA with Ed25519 (oidc-provider 9 uses it).
            "EdDSA" | "Ed25519" => Self::EdDSA,
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One way to check a signature: a parsed public key or a prepared HMAC key.
enum Check {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// A verification key, parsed once, with the algorithms it may verify.
pub(crate) struct Key {
    kid: Option<Box<str>>,
    checks: Vec<(Algorithm, Check)>,
    /// SHA-256 of the key material: tells keys apart across refetches, whatever their `kid`.
    fingerprint: [u8; 32],
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material: an HMAC key is a secret.
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field(
                "algorithms",
                &self.checks.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a signature could not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The key set has no key with that `kid` (or no `kid` was given and the set has several
    /// keys for the algorithm).
    UnknownKid,
    /// A key was found but may not verify that algorithm.
    AlgorithmNotAllowed,
    /// The signature does not verify.
    BadSignature,
}

impl Key {
    fn new(kid: Option<String>, checks: Vec<(Algorithm, Check)>, material: &[u8]) -> Self {
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(digest::digest(&digest::SHA256, material).as_ref());
        Self {
            kid: kid.map(Box::from),
            checks,
            fingerprint,
        }
    }

    /// SHA-256 of the key material.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Parses a JWK. Keys for encryption (`use: enc`), unsupported types and malformed keys are
    /// an error; symmetric (`oct`) keys are refused unless `allow_symmetric`.
    pub(crate) fn from_jwk(jwk: &Jwk, allow_symmetric: bool) -> Result<Self, ConfigError> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return Err(invalid_key("the JWK is for encryption (use: enc)"));
        }
        let declared = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => Some(
                Algorithm::from_jwk(alg)
                    .ok_or_else(|| invalid_key("the JWK's alg is not a signature algorithm"))?,
            ),
        };
        let kid = jwk.common.key_id.clone();
        match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let n = b64(&rsa.n, "n")?;
                let e = b64(&rsa.e, "e")?;
                let algs = narrow(&Algorithm::RSA, declared)?;
                let components = RsaPublicKeyComponents {
                    n: &n[..],
                    e: &e[..],
                };
                let mut checks = Vec::with_capacity(algs.len());
                for alg in algs {
                    let Some(params) = alg.rsa_parameters() else {
                        continue;
                    };
                    let parsed = components.to_parsed_public_key(params).map_err(|e| {
                        invalid_key("the RSA JWK is not a valid key").with_source(e)
                    })?;
                    checks.push((alg, Check::Public(parsed)));
                }
                Ok(Self::new(kid, checks, &[n, e].concat()))
            }
            AlgorithmParameters::EllipticCurve(ec) => {
                let (alg, verification): (
                    Algorithm,
                    &'static dyn signature::VerificationAlgorithm,
                ) = match ec.curve {
                    EllipticCurve::P256 => (Algorithm::ES256, &signature::ECDSA_P256_SHA256_FIXED),
                    EllipticCurve::P384 => (Algorithm::ES384, &signature::ECDSA_P384_SHA384_FIXED),
                    _ => return Err(invalid_key("unsupported elliptic curve")),
                };
                narrow(&[alg], declared)?;
                let mut point = vec![0x04];
                point.extend_from_slice(&b64(&ec.x, "x")?);
                point.extend_from_slice(&b64(&ec.y, "y")?);
                let parsed = ParsedPublicKey::new(verification, &point)
                    .map_err(|e| invalid_key("the EC JWK is not a valid key").with_source(e))?;
                Ok(Self::new(kid, vec![(alg, Check::Public(parsed))], &point))
            }
            AlgorithmParameters::OctetKeyPair(okp) => {
                if okp.curve != EllipticCurve::Ed25519 {
                    return Err(invalid_key("unsupported OKP curve"));
                }
                narrow(&[Algorithm::EdDSA], declared)?;
                let x = b64(&okp.x, "x")?;
                let parsed = ParsedPublicKey::new(&signature::ED25519, &x).map_err(|e| {
                    invalid_key("the Ed25519 JWK is not a valid key").with_source(e)
                })?;
                Ok(Self::new(
                    kid,
                    vec![(Algorithm::EdDSA, Check::Public(parsed))],
                    &x,
                ))
            }
            AlgorithmParameters::OctetKey(oct) => {
                if !allow_symmetric {
                    return Err(invalid_key(
                        "symmetric (oct) keys are not accepted from a key set",
                    ));
                }
                let secret = b64(&oct.value, "k")?;
                let mut key = Self::hmac(&secret, declared)?;
                key.kid = kid.map(Box::from);
                Ok(key)
            }
            _ => Err(invalid_key("unsupported key type")),
        }
    }

    /// An HMAC secret; `only` restricts it to one algorithm. The secret must be at least as long
    /// as the hash output of each algorithm it may verify (RFC 7518 §3.2).
    pub(crate) fn hmac(secret: &[u8], only: Option<Algorithm>) -> Result<Self, ConfigError> {
        let algs = narrow(&Algorithm::HMAC, only)?;
        let mut checks = Vec::new();
        for alg in algs {
            let Some((hmac_alg, min_len)) = alg.hmac_algorithm() else {
                continue;
            };
            if secret.len() >= min_len {
                checks.push((alg, Check::Hmac(Box::new(hmac::Key::new(hmac_alg, secret)))));
            }
        }
        if checks.is_empty() {
            return Err(invalid_key(
                "the HMAC secret is shorter than the hash (HS256 needs at least 32 bytes)",
            ));
        }
        Ok(Self::new(None, checks, secret))
    }

    /// A PEM public key (`PUBLIC KEY` SPKI, or `RSA PUBLIC KEY` PKCS#1) of any supported type.
    pub(crate) fn from_pem(pem: &str, only: Option<Algorithm>) -> Result<Self, ConfigError> {
        let block = pem::parse(pem)
            .map_err(|e| invalid_key("the PEM public key does not parse").with_source(e))?;
        if !matches!(block.tag(), "PUBLIC KEY" | "RSA PUBLIC KEY") {
            return Err(invalid_key(
                "expected a PEM public key (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY)",
            ));
        }
        Self::from_der(block.contents(), only)
    }

    fn from_der(der: &[u8], only: Option<Algorithm>) -> Result<Self, ConfigError> {
        let try_one = |alg: &'static dyn signature::VerificationAlgorithm| {
            ParsedPublicKey::new(alg, der).ok()
        };
        let mut checks = Vec::new();
        if try_one(&signature::RSA_PKCS1_2048_8192_SHA256).is_some() {
            for alg in narrow(&Algorithm::RSA, only)? {
                if let Some(parsed) = alg.rsa_parameters().and_then(|p| try_one(p)) {
                    checks.push((alg, Check::Public(parsed)));
                }
            }
        } else if let Some(parsed) = try_one(&signature::ECDSA_P256_SHA256_FIXED) {
            narrow(&[Algorithm::ES256], only)?;
            checks.push((Algorithm::ES256, Check::Public(parsed)));
        } else if let Some(parsed) = try_one(&signature::ECDSA_P384_SHA384_FIXED) {
            narrow(&[Algorithm::ES384], only)?;
            checks.push((Algorithm::ES384, Check::Public(parsed)));
        } else if let Some(parsed) = try_one(&signature::ED25519) {
            narrow(&[Algorithm::EdDSA], only)?;
            checks.push((Algorithm::EdDSA, Check::Public(parsed)));
        } else {
            return Err(invalid_key(
                "the public key is not RSA, P-256, P-384 or Ed25519",
            ));
        }
        Ok(Self::new(None, checks, der))
    }

    /// Gives the key a `kid`.
    pub(crate) fn with_kid(mut self, kid: Option<String>) -> Self {
        self.kid = kid.map(Box::from);
        self
    }

    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn allows(&self, alg: Algorithm) -> bool {
        self.checks.iter().any(|(a, _)| *a == alg)
    }

    /// Verifies `signature` over `message` with `alg`, if this key allows `alg`.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError> {
        let check = self
            .checks
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, c)| c)
            .ok_or(KeyError::AlgorithmNotAllowed)?;
        let ok = match check {
            Check::Public(key) => key.verify_sig(message, signature).is_ok(),
            Check::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }
}

/// A set of keys, searched by `kid`.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
    /// Keys the user configured (not fetched): a token naming a `kid` the set lacks may still
    /// use the one key that was configured without a `kid` (FusionAuth names its HMAC key).
    configured: bool,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys":[...]}`). Keys that cannot be used for signatures (wrong
    /// `use`, unknown type, malformed, symmetric) are skipped one by one, so that one odd key
    /// does not take the others down with it. Returns the set and how many keys were skipped.
    pub(crate) fn from_jwks(document: &serde_json::Value) -> Result<(Self, usize), ConfigError> {
        let Some(keys) = document.get("keys").and_then(|k| k.as_array()) else {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidKey,
                "the JWKS has no `keys` array",
            ));
        };
        let mut parsed = Vec::with_capacity(keys.len());
        let mut skipped = 0;
        for key in keys {
            let usable = serde_json::from_value::<Jwk>(key.clone())
                .map_err(|e| invalid_key("malformed JWK").with_source(e))
                .and_then(|jwk| Key::from_jwk(&jwk, false));
            match usable {
                Ok(key) => parsed.push(key),
                Err(error) => {
                    tracing::debug!(%error, "skipping a JWKS key");
                    skipped += 1;
                }
            }
        }
        Ok((
            Self {
                keys: parsed,
                configured: false,
            },
            skipped,
        ))
    }

    /// An empty set for keys the user configures.
    pub(crate) fn configured() -> Self {
        Self {
            keys: Vec::new(),
            configured: true,
        }
    }

    pub(crate) fn push(&mut self, key: Key) {
        self.keys.push(key);
    }

    /// The fingerprints of the keys.
    pub(crate) fn fingerprints(&self) -> impl Iterator<Item = [u8; 32]> + '_ {
        self.keys.iter().map(Key::fingerprint)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Finds the key for a token: by `kid` when the token names one; without a `kid`, the one key
    /// that allows `alg` (several such keys is ambiguous, and trying them all is not done).
    pub(crate) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Key, KeyError> {
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid() == Some(kid));
                let Some(first) = named.next() else {
                    return self.unnamed_fallback(alg);
                };
                if first.allows(alg) {
                    return Ok(first);
                }
                // Same kid published twice for different algorithms (rare, but legal).
                named
                    .find(|k| k.allows(alg))
                    .ok_or(KeyError::AlgorithmNotAllowed)
            }
            None => {
                let mut candidates = self.keys.iter().filter(|k| k.allows(alg));
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(KeyError::AlgorithmNotAllowed),
                    (Some(_), Some(_)) => Err(KeyError::UnknownKid),
                }
            }
        }
    }

    /// For configured keys only: the single key without a `kid` that allows `alg`.
    fn unnamed_fallback(&self, alg: Algorithm) -> Result<&Key, KeyError> {
        if !self.configured {
            return Err(KeyError::UnknownKid);
        }
        let mut unnamed = self
            .keys
            .iter()
            .filter(|k| k.kid().is_none() && k.allows(alg));
        match (unnamed.next(), unnamed.next()) {
            (Some(key), None) => Ok(key),
            _ => Err(KeyError::UnknownKid),
        }
    }
}

/// `allowed` narrowed to `declared`, which must be one of them.
fn narrow(
    allowed: &[Algorithm],
    declared: Option<Algorithm>,
) -> Result<Vec<Algorithm>, ConfigError> {
    match declared {
        None => Ok(allowed.to_vec()),
        Some(alg) if allowed.contains(&alg) => Ok(vec![alg]),
        Some(_) => Err(invalid_key(
            "the key's declared algorithm does not match its key type",
        )),
    }
}

fn b64(value: &str, field: &'static str) -> Result<Vec<u8>, ConfigError> {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|e| {
            ConfigError::new(
                ConfigErrorKind::InvalidKey,
                format!("the JWK field `{field}` is not base64url"),
            )
            .with_source(e)
        })
}

fn invalid_key(message: &'static str) -> ConfigError {
    ConfigError::new(ConfigErrorKind::InvalidKey, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hmac_secret_must_be_long_enough() {
        assert!(Key::hmac(b"short", None).is_err());
        let key = Key::hmac(&[7u8; 32], None).expect("32 bytes");
        assert!(key.allows(Algorithm::HS256));
        assert!(!key.allows(Algorithm::HS512));
        assert!(!key.allows(Algorithm::RS256));
    }

    #[test]
    fn jwks_skips_unusable_keys_one_by_one() {
        let doc = json!({"keys": [
            {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "weird"},
            "not even an object"
        ]});
        let (set, skipped) = KeySet::from_jwks(&doc).expect("document");
        assert!(set.is_empty());
        assert_eq!(skipped, 5);
        assert!(KeySet::from_jwks(&json!({"nokeys": 1})).is_err());
    }

    #[test]
    fn declared_alg_must_match_key_type() {
        assert!(narrow(&Algorithm::RSA, Some(Algorithm::HS256)).is_err());
        assert_eq!(
            narrow(&Algorithm::RSA, Some(Algorithm::PS256)).expect("rsa"),
            vec![Algorithm::PS256]
        );
    }

    #[test]
    fn algorithm_names_round_trip_and_none_is_refused() {
        for alg in Algorithm::RSA.iter().chain(&Algorithm::HMAC) {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(*alg));
        }
        assert_eq!("Ed25519".parse::<Algorithm>(), Ok(Algorithm::EdDSA));
        assert!("none".parse::<Algorithm>().is_err());
        assert!("None".parse::<Algorithm>().is_err());
    }
}
