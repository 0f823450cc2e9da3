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
    ///
    /// A PEM document is refused: a public key passed as an HMAC secret lets anyone who has the
    /// public key (everyone) sign tokens (CVE-2016-10555).
    pub(crate) fn hmac(secret: &[u8], only: Option<Algorithm>) -> Result<Self, ConfigError> {
        if secret.trim_ascii_start().starts_with(b"-----BEGIN") {
            return Err(invalid_key(
                "the HMAC secret is a PEM document: a public key is never an HMAC secret (use with_public_key_pem)",
            ));
        }
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

    // Property tests: any JWKS document, JWK, PEM or `alg` name gives `Ok` or a typed error,
    // never a panic; a key set never holds a symmetric key.
    mod properties {
        use super::*;
        use crate::test_support::json_with_names;
        use std::sync::OnceLock;

        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
        use proptest::prelude::*;
        use proptest::sample::select;
        use serde_json::{Value, json};

        const JWK_KEYS: &[&str] = &[
            "keys", "kty", "crv", "n", "e", "x", "y", "k", "d", "use", "alg", "kid", "key_ops",
            "x5c", "x5t",
        ];
        /// Member names and values both, for arbitrary JSON that meets what the parser looks for.
        const JWK_WORDS: &[&str] = &[
            "keys",
            "kty",
            "crv",
            "n",
            "e",
            "x",
            "y",
            "k",
            "d",
            "use",
            "alg",
            "kid",
            "key_ops",
            "x5c",
            "x5t",
            "RSA",
            "EC",
            "OKP",
            "oct",
            "rsa",
            "P-256",
            "P-384",
            "P-521",
            "Ed25519",
            "X25519",
            "Ed448",
            "secp256k1",
            "sig",
            "enc",
            "RS256",
            "PS512",
            "ES256",
            "ES384",
            "ES512",
            "EdDSA",
            "HS256",
            "HS512",
            "RSA-OAEP",
            "none",
            "AQAB",
            "AA",
            "",
        ];

        fn b64(bytes: &[u8]) -> String {
            URL_SAFE_NO_PAD.encode(bytes)
        }

        /// Real keys, generated once: an RSA-2048, a P-256, a P-384 and an Ed25519 public key,
        /// as JWKs and as SPKI DER.
        struct Real {
            jwks: Vec<Value>,
            spki: Vec<Vec<u8>>,
            ed25519: Ed25519KeyPair,
        }

        fn real() -> &'static Real {
            static REAL: OnceLock<Real> = OnceLock::new();
            REAL.get_or_init(|| {
                let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .expect("rsa");
                let p256 = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .expect("p256");
                let p384 = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .expect("p384");
                let ed25519 = Ed25519KeyPair::generate().expect("ed25519");
                let point = |kp: &EcdsaKeyPair, crv: &str| {
                    let p = kp.public_key().as_ref();
                    let half = (p.len() - 1) / 2;
                    json!({"kty": "EC", "crv": crv, "x": b64(&p[1..=half]), "y": b64(&p[1 + half..])})
                };
                let public = rsa.public_key();
                Real {
                    jwks: vec![
                        json!({
                            "kty": "RSA",
                            "n": b64(public.modulus().big_endian_without_leading_zero()),
                            "e": b64(public.exponent().big_endian_without_leading_zero()),
                        }),
                        point(&p256, "P-256"),
                        point(&p384, "P-384"),
                        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(ed25519.public_key().as_ref())}),
                    ],
                    spki: vec![
                        public.as_der().expect("der").as_ref().to_vec(),
                        p256.public_key().as_der().expect("der").as_ref().to_vec(),
                        p384.public_key().as_der().expect("der").as_ref().to_vec(),
                        ed25519.public_key().as_der().expect("der").as_ref().to_vec(),
                    ],
                    ed25519,
                }
            })
        }

        /// A JWK: a real key with fields replaced, added or removed, with values of any type.
        fn jwk() -> impl Strategy<Value = Value> {
            let field = prop_oneof![
                select(JWK_WORDS).prop_map(Value::from),
                prop::collection::vec(any::<u8>(), 0..70).prop_map(|b| Value::from(b64(&b))),
                json_with_names(JWK_WORDS),
            ];
            let edit = (select(JWK_KEYS), prop::option::weighted(0.8, field));
            (0usize..4, prop::collection::vec(edit, 0..4)).prop_map(|(which, edits)| {
                let mut key = real().jwks[which].clone();
                let map = key.as_object_mut().expect("object");
                for (name, value) in edits {
                    match value {
                        Some(value) => map.insert(name.to_owned(), value),
                        None => map.remove(name),
                    };
                }
                key
            })
        }

        fn str_of<'v>(key: &'v Value, name: &str) -> Option<&'v str> {
            key.get(name).and_then(Value::as_str)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn any_json_document_gives_a_key_set_or_an_error(document in json_with_names(JWK_WORDS)) {
                match KeySet::from_jwks(&document) {
                    Ok((set, skipped)) => {
                        let listed = document["keys"].as_array().map_or(usize::MAX, Vec::len);
                        prop_assert_eq!(set.len() + skipped, listed);
                    }
                    Err(e) => {
                        prop_assert_eq!(e.kind(), ConfigErrorKind::InvalidKey);
                        prop_assert!(!document.get("keys").is_some_and(Value::is_array));
                    }
                }
            }

            #[test]
            fn a_key_set_never_holds_a_symmetric_or_encryption_key(
                keys in prop::collection::vec(prop_oneof![3 => jwk(), 1 => json_with_names(JWK_WORDS)], 0..5),
            ) {
                let (set, skipped) = KeySet::from_jwks(&json!({"keys": keys})).expect("a keys array");
                prop_assert_eq!(set.len() + skipped, keys.len());
                for key in &keys {
                    let (one, _) = KeySet::from_jwks(&json!({"keys": [key]})).expect("a keys array");
                    if one.len() == 1 {
                        prop_assert!(
                            matches!(str_of(key, "kty"), Some("RSA" | "EC" | "OKP")),
                            "usable: {}", key
                        );
                        prop_assert_ne!(str_of(key, "use"), Some("enc"));
                        prop_assert!(
                            !one.keys[0].checks.iter().any(|(a, _)| Algorithm::HMAC.contains(a)),
                            "an HMAC check from {}", key
                        );
                    }
                }
            }

            #[test]
            fn an_oct_key_is_skipped_in_a_set_but_parses_when_configured(
                secret in prop::collection::vec(any::<u8>(), 32..80),
                alg in prop::option::of(select(&["HS256", "HS384", "HS512"][..])),
                kid in prop::option::of("[a-z0-9]{1,8}"),
            ) {
                let mut key = json!({"kty": "oct", "k": b64(&secret)});
                if let Some(alg) = alg {
                    key["alg"] = json!(alg);
                }
                if let Some(kid) = &kid {
                    key["kid"] = json!(kid);
                }
                let (set, skipped) = KeySet::from_jwks(&json!({"keys": [key]})).expect("document");
                prop_assert!(set.is_empty());
                prop_assert_eq!(skipped, 1);
                // The same JWK is a valid key when the user configures it.
                let jwk: Jwk = serde_json::from_value(key).expect("jwk");
                let configured = Key::from_jwk(&jwk, true);
                let long_enough = match alg {
                    Some("HS384") => secret.len() >= 48,
                    Some("HS512") => secret.len() >= 64,
                    _ => true,
                };
                prop_assert_eq!(configured.is_ok(), long_enough);
            }

            #[test]
            fn unedited_real_keys_are_usable(which in 0usize..4, kid in prop::option::of(".{0,8}")) {
                let mut key = real().jwks[which].clone();
                if let Some(kid) = kid {
                    key["kid"] = json!(kid);
                }
                let (set, skipped) = KeySet::from_jwks(&json!({"keys": [key]})).expect("document");
                prop_assert_eq!((set.len(), skipped), (1, 0));
            }

            #[test]
            fn a_real_key_for_encryption_is_skipped(
                which in 0usize..4,
                key_use in prop::option::of(select(&["sig", "enc"][..])),
            ) {
                let mut key = real().jwks[which].clone();
                if let Some(key_use) = key_use {
                    key["use"] = json!(key_use);
                }
                let (set, _) = KeySet::from_jwks(&json!({"keys": [key]})).expect("document");
                prop_assert_eq!(set.len(), usize::from(key_use != Some("enc")));
            }

            #[test]
            fn any_parsed_jwk_gives_a_key_or_an_error(key in jwk(), symmetric in any::<bool>()) {
                if let Ok(jwk) = serde_json::from_value::<Jwk>(key)
                    && let Err(e) = Key::from_jwk(&jwk, symmetric)
                {
                    prop_assert_eq!(e.kind(), ConfigErrorKind::InvalidKey);
                }
            }

            #[test]
            fn any_pem_gives_a_key_or_an_error(
                which in 0usize..4,
                tag in select(&["PUBLIC KEY", "RSA PUBLIC KEY", "PRIVATE KEY", "CERTIFICATE", ""][..]),
                edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
                cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
                only in prop::option::of(select(&[Algorithm::RS256, Algorithm::PS384, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA, Algorithm::HS256][..])),
                text in ".{0,80}",
            ) {
                let mut der = real().spki[which].clone();
                for (at, byte) in &edits {
                    let i = at.index(der.len());
                    der[i] = *byte;
                }
                if let Some(cut) = cut {
                    der.truncate(cut.index(der.len()));
                }
                let pem = pem::encode(&pem::Pem::new(tag, der));
                let result = Key::from_pem(&pem, only);
                if let Err(e) = &result {
                    prop_assert_eq!(e.kind(), ConfigErrorKind::InvalidKey);
                }
                if edits.is_empty() && cut.is_none() && tag == "PUBLIC KEY" {
                    let fits = match (which, only) {
                        (_, None) => true,
                        (0, Some(a)) => Algorithm::RSA.contains(&a),
                        (1, Some(a)) => a == Algorithm::ES256,
                        (2, Some(a)) => a == Algorithm::ES384,
                        (_, Some(a)) => a == Algorithm::EdDSA,
                    };
                    prop_assert_eq!(result.is_ok(), fits);
                }
                prop_assert!(Key::from_pem(&text, only).is_err());
            }

            #[test]
            fn only_exact_names_parse_as_algorithms(name in prop_oneof![
                ".{0,8}",
                "[ \t]{0,1}(none|NONE|None|nOnE|RS256|hs256|HS256|EdDSA|eddsa)[ \t\u{0}]{0,1}",
            ]) {
                if let Ok(alg) = name.parse::<Algorithm>() {
                    prop_assert!(alg.as_str() == name || name == "Ed25519", "{name:?}");
                }
                prop_assert!(!name.eq_ignore_ascii_case("none") || name.parse::<Algorithm>().is_err());
            }

            #[test]
            fn hmac_secrets_need_the_hash_length(
                secret in prop::collection::vec(any::<u8>(), 0..80),
                only in prop::option::of(select(&[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512, Algorithm::RS256, Algorithm::EdDSA][..])),
            ) {
                let needed = match only {
                    None | Some(Algorithm::HS256) => Some(32),
                    Some(Algorithm::HS384) => Some(48),
                    Some(Algorithm::HS512) => Some(64),
                    Some(_) => None,
                };
                let key = Key::hmac(&secret, only);
                prop_assert_eq!(key.is_ok(), needed.is_some_and(|n| secret.len() >= n));
                if let Ok(key) = key {
                    prop_assert!(key.checks.iter().all(|(a, _)| Algorithm::HMAC.contains(a)));
                }
            }

            #[test]
            fn only_the_right_signature_verifies(
                message in prop::collection::vec(any::<u8>(), 0..100),
                forged in prop::collection::vec(any::<u8>(), 0..100),
                alg in select(&[Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256, Algorithm::HS256][..]),
            ) {
                let real = real();
                let jwk: Jwk = serde_json::from_value(real.jwks[3].clone()).expect("jwk");
                let key = Key::from_jwk(&jwk, false).expect("ed25519");
                let signature = real.ed25519.sign(&message);
                let expected = if alg == Algorithm::EdDSA { Ok(()) } else { Err(KeyError::AlgorithmNotAllowed) };
                prop_assert_eq!(key.verify(alg, &message, signature.as_ref()), expected);
                if forged.as_slice() != signature.as_ref() {
                    prop_assert!(key.verify(alg, &message, &forged).is_err());
                }
            }
        }
    }
}
