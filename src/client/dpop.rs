//! [`DpopKey`]: a client's DPoP proof key (RFC 9449), its public JWK and thumbprint, and the
//! proofs it signs; and the latest `DPoP-Nonce` of each server, which its proofs carry.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::error::{TokenError, TokenErrorKind};
use crate::clock::now;
use crate::dpop::{access_token_hash, jwk_thumbprint};
use crate::error::{ConfigError, ConfigErrorKind};

/// How many servers' nonces a key remembers; past that the oldest are forgotten (a forgotten
/// nonce costs one `use_dpop_nonce` round trip, nothing more).
const MAX_NONCES: usize = 64;
/// The longest nonce remembered (a server's nonce is short; a longer one is not sent back).
const MAX_NONCE_LEN: usize = 512;

/// A client's DPoP proof key (RFC 9449): it binds the access tokens a
/// [`TokenProvider`](super::TokenProvider) obtains with it
/// ([`ClientCredentials::with_dpop`](super::ClientCredentials::with_dpop),
/// [`JwtBearer::with_dpop`](super::JwtBearer::with_dpop)) and signs a fresh proof for every
/// request that sends them.
///
/// ES256 keys are generated; ES256 (P-256), EdDSA (Ed25519) and RS256 keys are read from PEM.
/// Cloning shares the key and the nonces it remembers (the latest `DPoP-Nonce` of each server,
/// sent back in its next proofs). `Debug` shows the algorithm and the thumbprint, never the
/// private key.
///
/// ```
/// use tower_authz::client::DpopKey;
///
/// let key = DpopKey::generate()?;
/// assert_eq!(key.algorithm(), "ES256");
/// assert_eq!(key.public_jwk()["kty"], "EC");
/// assert_eq!(key.thumbprint().len(), 43); // base64url of a SHA-256
///
/// let proof = key.proof("GET", "https://api.example.com/todos?page=2", Some("the-token"), None)?;
/// assert_eq!(proof.split('.').count(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
}

struct Inner {
    signer: Signer,
    /// The JOSE header, base64url-encoded: it is the same for every proof.
    header: String,
    jwk: Value,
    thumbprint: String,
    nonces: Mutex<Nonces>,
}

enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

impl Signer {
    fn algorithm(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::EdDsa(_) => "EdDSA",
            Self::Rs256(_) => "RS256",
        }
    }

    /// The public JWK (RFC 7517) and the members its RFC 7638 thumbprint hashes, in order.
    fn public_jwk(&self) -> Value {
        match self {
            Self::Es256(key) => {
                // The uncompressed point: 0x04 ‖ x ‖ y, 32 bytes each.
                let coordinates = key.public_key().as_ref().get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                json!({"crv": "P-256", "kty": "EC", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)})
            }
            Self::EdDsa(key) => json!({
                "crv": "Ed25519",
                "kty": "OKP",
                "x": URL_SAFE_NO_PAD.encode(key.public_key().as_ref()),
            }),
            Self::Rs256(key) => {
                let components = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
                json!({
                    "e": URL_SAFE_NO_PAD.encode(&components.e),
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(&components.n),
                })
            }
        }
    }

    fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        let rng = SystemRandom::new();
        match self {
            Self::Es256(key) => key.sign(&rng, input).ok().map(|s| s.as_ref().to_vec()),
            Self::EdDsa(key) => Some(key.sign(input).as_ref().to_vec()),
            Self::Rs256(key) => {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, input, &mut signature)
                    .ok()?;
                Some(signature)
            }
        }
    }
}

impl DpopKey {
    /// A new ES256 (P-256) key, the algorithm every DPoP server supports.
    pub fn generate() -> Result<Self, ConfigError> {
        let failed = || ConfigError::new(ConfigErrorKind::InvalidKey, "cannot generate a DPoP key");
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| failed())?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| failed())?;
        Self::from_signer(Signer::Es256(key))
    }

    /// A private key in PEM: `BEGIN PRIVATE KEY` (PKCS#8: P-256, Ed25519 or RSA),
    /// `BEGIN EC PRIVATE KEY` (SEC 1, P-256) or `BEGIN RSA PRIVATE KEY` (PKCS#1). The
    /// algorithm follows the key: ES256, EdDSA or RS256.
    ///
    /// ```
    /// use tower_authz::client::DpopKey;
    ///
    /// let refused = DpopKey::from_pem("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n");
    /// assert_eq!(refused.unwrap_err().kind(), tower_authz::ConfigErrorKind::InvalidKey);
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self, ConfigError> {
        let bad = |detail: &'static str| {
            ConfigError::new(
                ConfigErrorKind::InvalidKey,
                format!("not a usable DPoP private key: {detail}"),
            )
        };
        let block = pem::parse(pem).map_err(|_| bad("not PEM"))?;
        let der = block.contents();
        let signer = match block.tag() {
            "PRIVATE KEY" => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map(Signer::Es256)
                .or_else(|_| Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map(Signer::EdDsa))
                .or_else(|_| RsaKeyPair::from_pkcs8(der).map(Signer::Rs256))
                .map_err(|_| bad("a PKCS#8 key that is neither P-256, Ed25519 nor RSA"))?,
            "EC PRIVATE KEY" => {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map(Signer::Es256)
                    .map_err(|_| bad("an EC key that is not P-256"))?
            }
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(der)
                .map(Signer::Rs256)
                .map_err(|_| bad("the RSA key does not parse"))?,
            _ => {
                return Err(bad(
                    "expected BEGIN PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY",
                ));
            }
        };
        Self::from_signer(signer)
    }

    fn from_signer(signer: Signer) -> Result<Self, ConfigError> {
        let jwk = signer.public_jwk();
        let thumbprint = jwk_thumbprint(&jwk).ok_or_else(|| {
            ConfigError::new(
                ConfigErrorKind::InvalidValue,
                "the DPoP key's JWK has no RFC 7638 thumbprint",
            )
        })?;
        let header = json!({"typ": "dpop+jwt", "alg": signer.algorithm(), "jwk": jwk});
        Ok(Self {
            inner: Arc::new(Inner {
                header: URL_SAFE_NO_PAD.encode(header.to_string()),
                signer,
                jwk,
                thumbprint,
                nonces: Mutex::default(),
            }),
        })
    }

    /// The proofs' `alg`: `ES256`, `EdDSA` or `RS256`.
    pub fn algorithm(&self) -> &'static str {
        self.inner.signer.algorithm()
    }

    /// The public key as a JWK (the proofs' `jwk` header): only the public members.
    pub fn public_jwk(&self) -> &Value {
        &self.inner.jwk
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key, base64url: the `cnf.jkt` of the
    /// tokens bound to this key.
    pub fn thumbprint(&self) -> &str {
        &self.inner.thumbprint
    }

    /// A fresh proof (RFC 9449 §4.2) for a `method` request to `url`: header
    /// `{"typ": "dpop+jwt", "alg", "jwk"}`, claims `jti` (random), `htm` = `method`, `htu` =
    /// `url` without its query and fragment, `iat` = now, `ath` = base64url(SHA-256(token)) with
    /// an `access_token`, and `nonce` when given.
    ///
    /// Fails ([`TokenErrorKind::Internal`]) if `url` is not an absolute URL or signing fails.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, TokenError> {
        let failed = |what| TokenError::new(TokenErrorKind::Internal, what);
        let mut htu = reqwest::Url::parse(url)
            .map_err(|_| failed("a DPoP proof needs an absolute request URL"))?;
        htu.set_query(None);
        htu.set_fragment(None);
        let mut jti = [0u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| failed("cannot sign the DPoP proof"))?;
        let mut claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": htu.as_str(),
            "iat": now(),
        });
        if let Some(map) = claims.as_object_mut() {
            if let Some(token) = access_token {
                map.insert("ath".into(), access_token_hash(token).into());
            }
            if let Some(nonce) = nonce {
                map.insert("nonce".into(), nonce.into());
            }
        }
        let input = format!(
            "{}.{}",
            self.inner.header,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .inner
            .signer
            .sign(input.as_bytes())
            .ok_or_else(|| failed("cannot sign the DPoP proof"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// A proof with the nonce last remembered for `url`'s server, if any.
    pub(crate) fn proof_for(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, TokenError> {
        let nonce = self.nonce(url);
        self.proof(method, url, access_token, nonce.as_deref())
    }

    /// The latest `DPoP-Nonce` remembered for `url`'s server (scheme, host and port).
    pub(crate) fn nonce(&self, url: &str) -> Option<String> {
        let origin = origin(url)?;
        self.nonces().get(&origin)
    }

    /// Remembers `nonce` (a `DPoP-Nonce` answer header) for `url`'s server. Returns whether it
    /// is new (so a request refused with `use_dpop_nonce` is worth retrying).
    pub(crate) fn remember_nonce(&self, url: &str, nonce: &http::HeaderValue) -> bool {
        let (Some(origin), Ok(nonce)) = (origin(url), nonce.to_str()) else {
            return false;
        };
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
            return false;
        }
        self.nonces().insert(origin, nonce)
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, Nonces> {
        self.inner
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("algorithm", &self.algorithm())
            .field("thumbprint", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

/// The latest nonce of each origin, at most [`MAX_NONCES`] of them.
#[derive(Default)]
struct Nonces {
    by_origin: HashMap<String, String>,
}

impl Nonces {
    fn get(&self, origin: &str) -> Option<String> {
        self.by_origin.get(origin).cloned()
    }

    fn insert(&mut self, origin: String, nonce: &str) -> bool {
        if self
            .by_origin
            .get(&origin)
            .is_some_and(|held| held == nonce)
        {
            return false;
        }
        if self.by_origin.len() >= MAX_NONCES && !self.by_origin.contains_key(&origin) {
            self.by_origin.clear();
        }
        self.by_origin.insert(origin, nonce.to_owned());
        true
    }
}

/// `scheme://host:port` of `url`.
fn origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization())
}

/// Whether a `WWW-Authenticate` value (or a token endpoint's error) says `use_dpop_nonce` in a
/// `DPoP` challenge, wherever that challenge is in the list (a resource server that also takes
/// bearer tokens sends `Bearer, DPoP algs="..", error="use_dpop_nonce"`, RFC 9449 §7.2).
pub(crate) fn asks_for_nonce(www_authenticate: &http::HeaderValue) -> bool {
    www_authenticate.to_str().is_ok_and(|value| {
        challenge_params(value).any(|(scheme, name, value)| {
            scheme.eq_ignore_ascii_case("dpop")
                && name.eq_ignore_ascii_case("error")
                && value == "use_dpop_nonce"
        })
    })
}

/// The auth-params of a `WWW-Authenticate` value (RFC 9110 §11.6.1), each with the scheme of its
/// challenge: `(scheme, name, value)`, the value unquoted (escapes kept). Lenient: what does
/// not parse is skipped.
fn challenge_params(value: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    let mut rest = value;
    let mut scheme = "";
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                return None;
            }
            let end = rest.find([' ', '\t', ',', '=']).unwrap_or(rest.len());
            let (token, after) = rest.split_at(end);
            let after_spaces = after.trim_start_matches([' ', '\t']);
            let Some(param_value) = after_spaces.strip_prefix('=') else {
                // A token not followed by `=`: the scheme of a new challenge.
                scheme = token;
                rest = after;
                continue;
            };
            let param_value = param_value.trim_start_matches([' ', '\t']);
            let (found, remaining) = match param_value.strip_prefix('"') {
                Some(quoted) => {
                    let close = quoted
                        .char_indices()
                        .scan(false, |escaped, (i, c)| {
                            let closes = c == '"' && !*escaped;
                            *escaped = c == '\\' && !*escaped;
                            Some((i, closes))
                        })
                        .find(|(_, closes)| *closes)
                        .map_or(quoted.len(), |(i, _)| i);
                    (&quoted[..close], quoted.get(close + 1..).unwrap_or(""))
                }
                None => {
                    let end = param_value
                        .find([' ', '\t', ','])
                        .unwrap_or(param_value.len());
                    param_value.split_at(end)
                }
            };
            rest = remaining;
            // A token68 (`Basic abc==`) ends in `=` with nothing after: not a parameter.
            if !token.is_empty() {
                return Some((scheme, token, found));
            }
        }
    })
}

/// The `DPoP-Nonce` header name.
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";
/// The `DPoP` header name.
pub(crate) const DPOP: &str = "dpop";

#[cfg(test)]
mod tests {
    use aws_lc_rs::digest::{SHA256, digest};
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    use super::*;

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
    }

    #[test]
    fn a_proof_has_the_rfc_9449_shape_and_verifies_with_its_jwk() {
        let key = DpopKey::generate().expect("key");
        let proof = key
            .proof(
                "POST",
                "https://as.example/token?x=1#frag",
                Some("tok"),
                Some("n-1"),
            )
            .expect("proof");
        let parts: Vec<&str> = proof.split('.').collect();
        let (header, claims) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(&header["jwk"], key.public_jwk());
        assert!(header["jwk"].get("d").is_none(), "public members only");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://as.example/token");
        assert_eq!(claims["nonce"], "n-1");
        // RFC 9449 §4.2: ath of the token.
        assert_eq!(claims["ath"], access_token_hash("tok"));
        assert!(claims["iat"].as_u64().is_some_and(|iat| iat + 5 > now()));
        let other = key
            .proof("POST", "https://as.example/token", None, None)
            .expect("proof");
        let other = decode(other.split('.').nth(1).expect("claims"));
        assert_ne!(other["jti"], claims["jti"], "a fresh jti per proof");
        assert!(other.get("ath").is_none() && other.get("nonce").is_none());

        let point = [
            &[4u8][..],
            &URL_SAFE_NO_PAD
                .decode(header["jwk"]["x"].as_str().expect("x"))
                .expect("x"),
            &URL_SAFE_NO_PAD
                .decode(header["jwk"]["y"].as_str().expect("y"))
                .expect("y"),
        ]
        .concat();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies with the proof's jwk");
        assert!(key.proof("GET", "/relative", None, None).is_err());
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // The RFC 7638 §3.1 example is tested with `dpop::jwk_thumbprint`; here the key's
        // thumbprint is recomputed by hand from its canonical members.
        let key = DpopKey::generate().expect("key");
        let jwk = key.public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().expect("x"),
            jwk["y"].as_str().expect("y")
        );
        assert_eq!(
            key.thumbprint(),
            URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
        );
    }

    #[test]
    fn pem_keys_of_each_algorithm() {
        let rng = SystemRandom::new();
        let pem = |tag: &str, der: &[u8]| pem::encode(&pem::Pem::new(tag, der.to_vec()));
        let p256 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("p256");
        let key = DpopKey::from_pem(&pem("PRIVATE KEY", p256.as_ref())).expect("P-256");
        assert_eq!(key.algorithm(), "ES256");
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).expect("ed25519");
        let key = DpopKey::from_pem(&pem("PRIVATE KEY", ed.as_ref())).expect("Ed25519");
        assert_eq!(key.algorithm(), "EdDSA");
        assert_eq!(key.public_jwk()["kty"], "OKP");
        key.proof("GET", "https://api.example/", None, None)
            .expect("an EdDSA proof");
        for bad in [
            "",
            "not pem",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
        ] {
            let error = DpopKey::from_pem(bad).expect_err(bad);
            assert_eq!(error.kind(), ConfigErrorKind::InvalidKey);
        }
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let key = DpopKey::generate().expect("key");
        let shown = format!("{key:?}");
        assert!(shown.contains("ES256") && shown.contains(key.thumbprint()));
        assert!(!shown.contains("\"d\""));
    }

    #[test]
    fn nonces_are_remembered_per_origin() {
        let key = DpopKey::generate().expect("key");
        let nonce = http::HeaderValue::from_static("n-1");
        assert!(key.remember_nonce("https://as.example/token", &nonce));
        assert!(
            !key.remember_nonce("https://as.example/other", &nonce),
            "not new"
        );
        assert_eq!(
            key.nonce("https://as.example:443/x").as_deref(),
            Some("n-1")
        );
        assert_eq!(key.nonce("https://api.example/x"), None);
        for i in 0..=MAX_NONCES {
            key.remember_nonce(&format!("https://h{i}.example/"), &nonce);
        }
        assert!(key.nonces().by_origin.len() <= MAX_NONCES);
        assert!(asks_for_nonce(&http::HeaderValue::from_static(
            r#"DPoP error="use_dpop_nonce", error_description="x""#
        )));
        assert!(!asks_for_nonce(&http::HeaderValue::from_static(
            r#"Bearer error="use_dpop_nonce""#
        )));
    }

    #[test]
    fn the_nonce_error_is_found_in_a_dpop_challenge_anywhere_in_the_list() {
        let asks = |value: &'static str| asks_for_nonce(&http::HeaderValue::from_static(value));
        // tower-authz's own answers, with bearer tokens allowed and not.
        assert!(asks(
            r#"Bearer realm="api", DPoP realm="api", algs="ES256 RS256", error="use_dpop_nonce", error_description="a, b""#
        ));
        assert!(asks(r#"DPoP algs="ES256", error="use_dpop_nonce""#));
        assert!(asks(r#"dpop error=use_dpop_nonce"#));
        assert!(asks(r#"Basic abc==, DPoP error="use_dpop_nonce""#));
        // The error in another challenge, in a description, or another error.
        assert!(!asks(r#"DPoP algs="ES256", Bearer error="use_dpop_nonce""#));
        assert!(!asks(
            r#"DPoP error="invalid_dpop_proof", error_description="error=\"use_dpop_nonce\"""#
        ));
        assert!(!asks(r#"DPoP algs="ES256""#));
        assert!(!asks(""));
    }
}
