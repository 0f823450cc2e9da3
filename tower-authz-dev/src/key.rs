//! Signing keys of the development issuer: generation, JWK / PEM export and
//! compact-JWS signing.

use std::fmt;
use std::io;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// A JWS signature algorithm supported by the development issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DevAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
    /// ECDSA on P-256 with SHA-256 (fixed-length `r || s` signatures).
    ES256,
    /// Ed25519 (EdDSA).
    EdDSA,
}

impl DevAlgorithm {
    /// Every supported algorithm, in the order [`DevIssuer`](super::DevIssuer)
    /// generates its keys.
    pub const ALL: [DevAlgorithm; 3] = [
        DevAlgorithm::RS256,
        DevAlgorithm::ES256,
        DevAlgorithm::EdDSA,
    ];

    /// The JOSE `alg` name: `"RS256"`, `"ES256"` or `"EdDSA"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DevAlgorithm::RS256 => "RS256",
            DevAlgorithm::ES256 => "ES256",
            DevAlgorithm::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for DevAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The private half of a [`DevKey`].
enum KeyMaterial {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A generated signing key pair with a key id (`kid`).
///
/// Keys are generated with `aws-lc-rs`: RSA 2048 for [`DevAlgorithm::RS256`],
/// P-256 for [`DevAlgorithm::ES256`] and Ed25519 for [`DevAlgorithm::EdDSA`].
/// Cloning is cheap (the key material is shared). The [`Debug`] output shows
/// the algorithm and kid only, never key material.
#[derive(Clone)]
pub struct DevKey {
    kid: String,
    algorithm: DevAlgorithm,
    parts: Arc<KeyParts>,
}

impl fmt::Debug for DevKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// Generates a new key pair for `alg` with a random URL-safe kid.
    ///
    /// # Errors
    /// Fails if the cryptographic library cannot generate or encode the key.
    pub fn generate(alg: DevAlgorithm) -> io::Result<DevKey> {
        let parts = match alg {
            DevAlgorithm::RS256 => generate_rsa()?,
            DevAlgorithm::ES256 => generate_ec()?,
            DevAlgorithm::EdDSA => generate_ed()?,
        };
        Ok(DevKey {
            kid: random_token()?,
            algorithm: alg,
            parts: Arc::new(parts),
        })
    }

    /// Replaces the key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key id published in the JWKS and put in the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signature algorithm of this key.
    pub fn algorithm(&self) -> DevAlgorithm {
        self.algorithm
    }

    /// The public key as a JWK (`kid`, `use: "sig"`, `alg` and the key-type
    /// members, base64url without padding).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.parts.jwk_params.clone();
        jwk.insert("kid".into(), Value::String(self.kid.clone()));
        jwk.insert("use".into(), Value::String("sig".into()));
        jwk.insert("alg".into(), Value::String(self.algorithm.as_str().into()));
        Value::Object(jwk)
    }

    /// The public key as an X.509 `SubjectPublicKeyInfo` PEM
    /// (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.parts.spki_der)
    }

    /// The private key as an unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn private_key_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.parts.pkcs8_der)
    }

    /// For RSA keys, the private key as a PKCS#1 PEM
    /// (`-----BEGIN RSA PRIVATE KEY-----`, the format of ZITADEL key files);
    /// `None` for other key types.
    pub fn rsa_private_key_pkcs1_pem(&self) -> Option<String> {
        self.parts
            .pkcs1_der
            .as_deref()
            .map(|der| pem_encode("RSA PRIVATE KEY", der))
    }

    /// Signs a compact JWS: `b64url(header) . b64url(payload) . b64url(signature)`.
    ///
    /// The header is used exactly as given; the caller supplies `alg`, `kid`
    /// and `typ`. The signature always uses this key's own algorithm.
    ///
    /// # Errors
    /// Fails if the header or payload cannot be serialized or signing fails.
    pub fn sign_jws(&self, header: &Map<String, Value>, payload: &Value) -> io::Result<String> {
        compact_jws(header, payload, |input| self.sign_bytes(input))
    }

    /// Raw signature of `message` with this key's algorithm.
    fn sign_bytes(&self, message: &[u8]) -> io::Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.parts.material {
            KeyMaterial::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(crypto_error("RSA signing"))?;
                Ok(signature)
            }
            KeyMaterial::Ec(pair) => pair
                .sign(&rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(crypto_error("ECDSA signing")),
            KeyMaterial::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// A compact JWS: `b64url(header) . b64url(payload) . b64url(sign(signing input))`.
fn compact_jws(
    header: &Map<String, Value>,
    payload: &Value,
    sign: impl FnOnce(&[u8]) -> io::Result<Vec<u8>>,
) -> io::Result<String> {
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload)?);
    let signing_input = format!("{header}.{payload}");
    let signature = sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Signs a compact JWS with HMAC-SHA256 (`HS256`) and `secret`; the header is
/// used exactly as given.
pub(super) fn sign_hs256(
    secret: &[u8],
    header: &Map<String, Value>,
    payload: &Value,
) -> io::Result<String> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    compact_jws(header, payload, |input| {
        Ok(hmac::sign(&key, input).as_ref().to_vec())
    })
}

/// A key pair and everything [`DevKey::generate`] derives from it.
struct KeyParts {
    material: KeyMaterial,
    /// PKCS#8 v1 `PrivateKeyInfo` DER.
    pkcs8_der: Vec<u8>,
    /// X.509 `SubjectPublicKeyInfo` DER.
    spki_der: Vec<u8>,
    /// PKCS#1 `RSAPrivateKey` DER (RSA keys only).
    pkcs1_der: Option<Vec<u8>>,
    /// Key-type specific JWK members (`kty`, `n`, `e`, `crv`, `x`, `y`).
    jwk_params: Map<String, Value>,
}

fn generate_rsa() -> io::Result<KeyParts> {
    let pair =
        RsaKeyPair::generate(KeySize::Rsa2048).map_err(crypto_error("RSA key generation"))?;
    let pkcs8_der = AsDer::as_der(&pair)
        .map_err(crypto_error("RSA PKCS#8 encoding"))?
        .as_ref()
        .to_vec();
    let pkcs1_der = der::pkcs1_from_pkcs8(&pkcs8_der)
        .ok_or_else(|| io::Error::other("cannot extract PKCS#1 key from PKCS#8"))?
        .to_vec();
    let public = pair.public_key();
    let (n, e) = der::rsa_public_components(public.as_ref())
        .ok_or_else(|| io::Error::other("cannot parse RSA public key"))?;
    let jwk_params = jwk_members([("kty", "RSA".into()), ("n", b64(n)), ("e", b64(e))]);
    Ok(KeyParts {
        spki_der: spki(public)?,
        material: KeyMaterial::Rsa(pair),
        pkcs8_der,
        pkcs1_der: Some(pkcs1_der),
        jwk_params,
    })
}

fn generate_ec() -> io::Result<KeyParts> {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .map_err(crypto_error("ECDSA key generation"))?;
    let pkcs8_der = pair
        .to_pkcs8v1()
        .map_err(crypto_error("ECDSA PKCS#8 encoding"))?
        .as_ref()
        .to_vec();
    let public = pair.public_key();
    // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
    let (x, y) = match public.as_ref() {
        [0x04, coordinates @ ..] if coordinates.len() == 64 => coordinates.split_at(32),
        _ => return Err(io::Error::other("unexpected P-256 public key encoding")),
    };
    let jwk_params = jwk_members([
        ("kty", "EC".into()),
        ("crv", "P-256".into()),
        ("x", b64(x)),
        ("y", b64(y)),
    ]);
    Ok(KeyParts {
        spki_der: spki(public)?,
        material: KeyMaterial::Ec(pair),
        pkcs8_der,
        pkcs1_der: None,
        jwk_params,
    })
}

fn generate_ed() -> io::Result<KeyParts> {
    let pair = Ed25519KeyPair::generate().map_err(crypto_error("Ed25519 key generation"))?;
    // PKCS#8 v1, the form `openssl genpkey -algorithm ED25519` writes.
    let pkcs8_der = pair
        .to_pkcs8v1()
        .map_err(crypto_error("Ed25519 PKCS#8 encoding"))?
        .as_ref()
        .to_vec();
    let public = pair.public_key();
    let jwk_params = jwk_members([
        ("kty", "OKP".into()),
        ("crv", "Ed25519".into()),
        ("x", b64(public.as_ref())),
    ]);
    Ok(KeyParts {
        spki_der: spki(public)?,
        material: KeyMaterial::Ed(pair),
        pkcs8_der,
        pkcs1_der: None,
        jwk_params,
    })
}

/// DER `SubjectPublicKeyInfo` of a public key.
fn spki<K>(public: &K) -> io::Result<Vec<u8>>
where
    K: AsDer<PublicKeyX509Der<'static>>,
{
    Ok(public
        .as_der()
        .map_err(crypto_error("public key encoding"))?
        .as_ref()
        .to_vec())
}

fn jwk_members<const N: usize>(members: [(&str, Value); N]) -> Map<String, Value> {
    members
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(URL_SAFE_NO_PAD.encode(bytes))
}

/// Maps an `aws-lc-rs` error to an `io::Error` naming the failed operation.
fn crypto_error<E: fmt::Debug>(what: &'static str) -> impl Fn(E) -> io::Error {
    move |err| io::Error::other(format!("{what} failed: {err:?}"))
}

/// 16 random bytes, base64url without padding (22 characters).
pub(super) fn random_token() -> io::Result<String> {
    random_b64::<16>()
}

/// `N` random bytes, base64url without padding.
pub(super) fn random_b64<const N: usize>() -> io::Result<String> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(crypto_error("random generation"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// 16 bytes written as a GUID: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase hex.
fn guid(bytes: [u8; 16]) -> String {
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

/// A GUID derived from `seed` (the first 16 bytes of its SHA-256): the same
/// seed gives the same GUID in every run.
pub(super) fn stable_guid(seed: &str) -> String {
    let hash = digest::digest(&digest::SHA256, seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(hash.as_ref().get(..16).unwrap_or(&[0; 16]));
    guid(bytes)
}

/// A random version 4 UUID.
pub(super) fn random_uuid() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(crypto_error("random generation"))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(guid(bytes))
}

/// A random 18-digit decimal string, the shape of ZITADEL's resource ids.
pub(super) fn random_numeric_id() -> io::Result<String> {
    const LOW: u64 = 100_000_000_000_000_000;
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).map_err(crypto_error("random generation"))?;
    let n = u64::from_le_bytes(bytes) % (9 * LOW);
    Ok((LOW + n).to_string())
}

/// PEM with 64-column base64 lines and `\n` line endings.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(label, der), config)
}

/// A minimal DER reader for the two structures the issuer needs to take apart.
mod der {
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    const SEQUENCE: u8 = 0x30;

    /// Reads one TLV with the expected `tag`; returns its contents and the rest.
    fn read(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&actual, rest) = input.split_first()?;
        if actual != tag {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            // Zero means indefinite length (not DER); more than 4 is absurd here.
            if count == 0 || count > 4 {
                return None;
            }
            let (len_bytes, rest) = rest.split_at_checked(count)?;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &byte| (acc << 8) | usize::from(byte));
            (len, rest)
        };
        rest.split_at_checked(len)
    }

    /// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo`, which for RSA
    /// is the PKCS#1 `RSAPrivateKey` DER.
    pub(super) fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Option<&[u8]> {
        let (info, _) = read(pkcs8, SEQUENCE)?;
        let (_version, rest) = read(info, INTEGER)?;
        let (_algorithm, rest) = read(rest, SEQUENCE)?;
        let (private_key, _) = read(rest, OCTET_STRING)?;
        Some(private_key)
    }

    /// Modulus and public exponent of a PKCS#1 `RSAPublicKey`, without the
    /// leading zero bytes of the DER INTEGER encoding.
    pub(super) fn rsa_public_components(der: &[u8]) -> Option<(&[u8], &[u8])> {
        let (key, _) = read(der, SEQUENCE)?;
        let (n, rest) = read(key, INTEGER)?;
        let (e, _) = read(rest, INTEGER)?;
        Some((strip_leading_zeros(n), strip_leading_zeros(e)))
    }

    fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        bytes.get(start..).unwrap_or_default()
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    mod tests {
        use super::*;

        #[test]
        fn rejects_truncated_and_wrong_tags() {
            assert_eq!(read(&[], SEQUENCE), None);
            assert_eq!(read(&[0x30], SEQUENCE), None);
            assert_eq!(read(&[0x30, 0x05, 0x00], SEQUENCE), None);
            assert_eq!(read(&[0x02, 0x00], SEQUENCE), None);
            assert_eq!(read(&[0x30, 0x80, 0x00], SEQUENCE), None);
            assert_eq!(read(&[0x30, 0x85, 1, 1, 1, 1, 1], SEQUENCE), None);
            assert_eq!(read(&[0x30, 0x82, 0x01], SEQUENCE), None);
            assert_eq!(pkcs1_from_pkcs8(&[0x30, 0x03, 0x02, 0x01, 0x00]), None);
        }

        #[test]
        fn reads_long_form_lengths() {
            let mut input = vec![0x04, 0x81, 0x80];
            input.extend(std::iter::repeat_n(7u8, 0x80));
            input.push(0xff);
            let (contents, rest) = read(&input, OCTET_STRING).unwrap();
            assert_eq!(contents.len(), 0x80);
            assert_eq!(rest, &[0xff]);
        }

        #[test]
        fn strips_leading_zeros() {
            assert_eq!(strip_leading_zeros(&[0, 0, 1, 0]), &[1, 0]);
            assert_eq!(strip_leading_zeros(&[0, 0]), &[] as &[u8]);
        }
    }
}
