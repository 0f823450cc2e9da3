//! DPoP proofs for tests (RFC 9449 §4.2): an ES256 key of the development issuer's kind, its
//! RFC 7638 thumbprint (computed here, apart from the library's), and proofs with any edit.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{Map, Value, json};
use tower_authz_dev::{DevAlgorithm, DevKey};

/// A client's proof key.
pub struct ProofKey(pub DevKey);

impl ProofKey {
    pub fn es256() -> Self {
        Self(DevKey::generate(DevAlgorithm::ES256).expect("key"))
    }

    /// The public JWK, only the members of the key type.
    pub fn jwk(&self) -> Value {
        let full = self.0.public_jwk();
        json!({"kty": "EC", "crv": full["crv"], "x": full["x"], "y": full["y"]})
    }

    /// RFC 7638 SHA-256 thumbprint: the token's `cnf.jkt`.
    pub fn jkt(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
    }

    /// A good proof for `method url` with the access token `token`.
    pub fn proof(&self, method: &str, url: &str, token: &str) -> String {
        self.proof_with(method, url, token, |_, _| {})
    }

    /// A proof whose header and claims `edit` changes before it is signed.
    pub fn proof_with(
        &self,
        method: &str,
        url: &str,
        token: &str,
        edit: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>),
    ) -> String {
        let mut header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()});
        let mut claims = json!({
            "htm": method,
            "htu": url,
            "iat": now(),
            "jti": random_jti(),
            "ath": ath(token),
        });
        edit(
            header.as_object_mut().unwrap(),
            claims.as_object_mut().unwrap(),
        );
        self.0
            .sign_jws(header.as_object().unwrap(), &claims)
            .expect("proof")
    }
}

/// The `ath` of `token`.
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()))
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn random_jti() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The `algs` of the challenge with the default policy.
pub const DEFAULT_ALGS: &str = r#"algs="ES256 ES384 RS256 PS256 EdDSA""#;

/// What came back from a DPoP request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub challenge: String,
    pub nonce: Option<String>,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    /// Asserts the status and the whole challenge.
    #[track_caller]
    pub fn assert(&self, status: u16, challenge: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.challenge, challenge, "{self:?}");
    }

    /// Asserts a 401 `DPoP` challenge with `error` and a description containing `why`.
    #[track_caller]
    pub fn assert_dpop_refusal(&self, error: &str, why: &str) {
        assert_eq!(self.status, 401, "{self:?}");
        let prefix = format!(r#"DPoP {DEFAULT_ALGS}, error="{error}", error_description=""#);
        assert!(self.challenge.starts_with(&prefix), "{self:?}");
        assert!(self.challenge.contains(why), "{why:?}: {self:?}");
    }
}

/// `GET url` with `Authorization: <scheme> <token>`, a `DPoP` header per proof, and `headers`.
pub async fn send(
    scheme: &str,
    url: &str,
    token: &str,
    proofs: &[&str],
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = super::client()
        .get(url)
        .header(AUTHORIZATION, format!("{scheme} {token}"));
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    let challenge = header(WWW_AUTHENTICATE.as_str()).unwrap_or_default();
    let nonce = header("dpop-nonce");
    let headers = response.headers().clone();
    let status = response.status().as_u16();
    Reply {
        status,
        challenge,
        nonce,
        headers,
        body: response.text().await.unwrap_or_default(),
    }
}
