//! [`JwtVerifier`]: JWTs signed with fixed keys.

use std::fmt;

use jsonwebtoken::jwk::{Jwk, JwkSet};

use super::jwt_core::{ParsedJwt, Validation, check_token_len};
use super::keys::{Key, KeyError, KeySet};
use super::verified::{self, CacheLookup, VerifiedCache};
use super::{Verification, Verifier, validation_setters};
use crate::claims::Claims;
use crate::error::{AuthError, ConfigError, ConfigErrorKind};
use crate::telemetry::{CacheUse, VerifierKind, verifier_report};

/// Verifies JWTs against keys given up front: an HMAC secret (FusionAuth's default HS256 signing
/// key), PEM public keys or JWKs. For keys published at a URL, use
/// [`JwksVerifier`](crate::JwksVerifier).
///
/// The issuer and the audience are required; more audiences can be added.
///
/// ```
/// use tower_authz::JwtVerifier;
///
/// let verifier = JwtVerifier::new("http://localhost:9011", "e9fdb985-9173-4e01-9d73-ac2d60d1dc8e")
///     .with_hmac_secret(b"a-32-byte-or-longer-shared-secret!")
///     .unwrap();
/// ```
pub struct JwtVerifier {
    validation: Validation,
    keys: KeySet,
    verified: Option<VerifiedCache>,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.validation.issuer)
            .field("audiences", &self.validation.audiences)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier for tokens from `issuer` (compared exactly with `iss`) for `audience`. Add at
    /// least one key.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            validation: Validation::new(issuer.into(), audience.into()),
            keys: KeySet::configured(),
            verified: VerifiedCache::new(verified::DEFAULT_MAX_TTL, verified::DEFAULT_CAPACITY),
        }
    }

    /// Caches verified tokens (recognised by a keyed SipHash-2-4 128-bit hash of their bytes,
    /// the whole token compared on a hit) so that a token seen before skips the signature check; `exp`/`nbf` are checked on every hit, and an entry lives
    /// at most until `exp` and `max_ttl`. Default: on, 60 s, 10 000 entries.
    pub fn with_verified_cache(mut self, max_ttl: std::time::Duration, capacity: u64) -> Self {
        self.verified = VerifiedCache::new(max_ttl, capacity);
        self
    }

    /// Checks every token's signature, even one seen a moment ago.
    pub fn without_verified_cache(mut self) -> Self {
        self.verified = None;
        self
    }

    /// The same verifier for OpenID Connect Back-Channel Logout tokens instead of access tokens
    /// (typed `logout+jwt`, or untyped), checking each signature (a logout token is used once).
    pub(crate) fn for_logout_tokens(mut self) -> Self {
        self.validation_mut().purpose = super::jwt_core::Purpose::Logout;
        self.without_verified_cache()
    }

    validation_setters!(validation_mut);

    fn validation_mut(&mut self) -> &mut Validation {
        &mut self.validation
    }

    /// Adds an HMAC secret, accepted for HS256 (and HS384/HS512 if it is long enough). The secret
    /// must be at least 32 bytes (RFC 7518 §3.2). A PEM document is refused (a public key used as
    /// an HMAC secret lets anyone sign tokens, CVE-2016-10555).
    pub fn with_hmac_secret(self, secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let key = Key::hmac(secret.as_ref(), None)?;
        Ok(self.push(key))
    }

    /// Adds a PEM public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`): RSA, P-256, P-384 or
    /// Ed25519. `kid`, if given, must match the token's `kid` header.
    pub fn with_public_key_pem(self, pem: &str, kid: Option<&str>) -> Result<Self, ConfigError> {
        let key = Key::from_pem(pem, None)?.with_kid(kid.map(str::to_owned));
        Ok(self.push(key))
    }

    /// Adds a public key as a JWK (JSON). Symmetric (`oct`) JWKs are accepted here, because the
    /// key was configured, not fetched.
    pub fn with_jwk(self, jwk: &str) -> Result<Self, ConfigError> {
        let jwk: Jwk = serde_json::from_str(jwk).map_err(|e| {
            ConfigError::new(ConfigErrorKind::InvalidKey, "the JWK does not parse").with_source(e)
        })?;
        let key = Key::from_jwk(&jwk, true)?;
        Ok(self.push(key))
    }

    /// Adds every key of a JWKS document (JSON), e.g. one saved from a provider.
    pub fn with_jwks(mut self, jwks: &str) -> Result<Self, ConfigError> {
        let set: JwkSet = serde_json::from_str(jwks).map_err(|e| {
            ConfigError::new(ConfigErrorKind::InvalidKey, "the JWKS does not parse").with_source(e)
        })?;
        for jwk in &set.keys {
            self = self.push(Key::from_jwk(jwk, true)?);
        }
        Ok(self)
    }

    fn push(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Checks `token` against the fixed keys, through the verified-token cache.
    fn check(&self, token: &str) -> Result<Claims, AuthError> {
        let report =
            |cache| verifier_report(VerifierKind::Jwt, Some(&self.validation.issuer), cache);
        let cache = match &self.verified {
            Some(cache) if check_token_len(token, self.validation.max_token_len).is_ok() => cache,
            _ => {
                report(CacheUse::None);
                check_token_len(token, self.validation.max_token_len)?;
                return self.verify_uncached(token).map(|(claims, _)| claims);
            }
        };
        let hash = match cache.get(token, self.validation.leeway) {
            CacheLookup::Hit(result) => {
                report(CacheUse::Hit);
                return result;
            }
            CacheLookup::Miss(miss) => {
                report(CacheUse::Miss);
                miss
            }
        };
        let (claims, key) = self.verify_uncached(token)?;
        cache.insert(hash, &claims, key);
        Ok(claims)
    }

    fn verify_uncached(&self, token: &str) -> Result<(Claims, [u8; 32]), AuthError> {
        let jwt = ParsedJwt::parse(token, &self.validation)?;
        let key = jwt.verify_signature(&self.keys).map_err(key_error)?;
        Ok((jwt.claims(&self.validation)?, key.fingerprint()))
    }
}

/// The client-facing error for a key lookup or signature failure.
pub(crate) fn key_error(error: KeyError) -> AuthError {
    match error {
        KeyError::UnknownKid => AuthError::invalid_token("the token's signing key is unknown"),
        KeyError::AlgorithmNotAllowed => {
            AuthError::invalid_token("the token's algorithm is not accepted for its key")
        }
        KeyError::BadSignature => AuthError::invalid_token("the token's signature is invalid"),
    }
}

/// Fixed keys never wait: every answer is [`Verification::Ready`], so
/// `verifier.verify(token).into_ready()` is always `Some`.
impl Verifier for JwtVerifier {
    fn verify(&self, token: &str) -> Verification {
        Verification::Ready(self.check(token))
    }

    fn max_token_len(&self) -> Option<usize> {
        Some(self.validation.max_token_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthErrorKind;
    use aws_lc_rs::hmac;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn hs256(header: Value, claims: Value, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new("iss", "aud")
            .with_hmac_secret(SECRET)
            .expect("secret")
    }

    fn claims(exp_offset: i64) -> Value {
        json!({"iss": "iss", "aud": "aud", "sub": "u", "exp": crate::clock::now() as i64 + exp_offset})
    }

    #[test]
    fn hs256_round_trip() {
        let token = hs256(json!({"alg": "HS256", "typ": "JWT"}), claims(60), SECRET);
        let c = verifier().check(&token).expect("valid");
        assert_eq!(c.subject(), Some("u"));
    }

    #[test]
    fn wrong_secret_and_alg_confusion() {
        let token = hs256(
            json!({"alg": "HS256"}),
            claims(60),
            b"another-secret-of-32-bytes-long!!",
        );
        assert_eq!(
            verifier().check(&token).map_err(|e| e.kind()).err(),
            Some(AuthErrorKind::InvalidToken)
        );
        // A secret configured for HMAC is never used for RS256, and the other way round.
        let rs = hs256(json!({"alg": "RS256"}), claims(60), SECRET);
        assert!(verifier().check(&rs).is_err());
    }

    #[test]
    fn typ_check_is_opt_in() {
        let token = hs256(json!({"alg": "HS256", "typ": "JWT"}), claims(60), SECRET);
        assert!(verifier().with_typ("at+jwt").check(&token).is_err());
        let at = hs256(
            json!({"alg": "HS256", "typ": "application/at+jwt"}),
            claims(60),
            SECRET,
        );
        assert!(verifier().with_typ("at+jwt").check(&at).is_ok());
    }

    #[test]
    fn expired_is_its_own_kind() {
        let token = hs256(json!({"alg": "HS256"}), claims(-3600), SECRET);
        assert_eq!(
            verifier().check(&token).map_err(|e| e.kind()).err(),
            Some(AuthErrorKind::Expired)
        );
    }

    #[test]
    fn bad_keys_are_config_errors() {
        assert!(
            JwtVerifier::new("i", "a")
                .with_hmac_secret(b"short")
                .is_err()
        );
        assert!(
            JwtVerifier::new("i", "a")
                .with_public_key_pem("nope", None)
                .is_err()
        );
        assert!(JwtVerifier::new("i", "a").with_jwk("{}").is_err());
        // CVE-2016-10555: a public key is never an HMAC secret.
        let pem = "\n-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            JwtVerifier::new("i", "a")
                .with_hmac_secret(pem)
                .map(drop)
                .map_err(|e| e.kind()),
            Err(crate::ConfigErrorKind::InvalidKey)
        );
        assert!(
            JwtVerifier::new("i", "a")
                .with_jwks("{\"keys\":[{\"kty\":\"RSA\"}]}")
                .is_err()
        );
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let debug = format!("{:?}", verifier());
        assert!(!debug.contains("0123456789abcdef"));
    }
}
