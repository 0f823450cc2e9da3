//! ZITADEL key files and the RS256 assertions signed with them (RFC 7523).
//!
//! - An API application's key (`{"type":"application","keyId","key","appId","clientId"}`)
//!   authenticates the API to the introspection endpoint (`private_key_jwt`).
//! - A service account's key (`{"type":"serviceaccount","keyId","key","userId"}`) obtains access
//!   tokens with the JWT-bearer grant.
//!
//! `key` is a PKCS#1 PEM RSA private key (`BEGIN RSA PRIVATE KEY`); PKCS#8 is accepted too.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::error::{AuthError, ConfigError, ConfigErrorKind};
use crate::verifier::jwt_core::now;

/// How long a signed assertion is valid (ZITADEL accepts up to one hour; its SDKs use one minute).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// An RSA private key with its key id, signing RS256 JWT assertions.
#[derive(Clone)]
pub(crate) struct AssertionKey {
    key_id: String,
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionKey")
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AssertionKey {
    fn from_pem(key_id: String, pem: &str) -> Result<Self, ConfigError> {
        let bad_key = |detail: &'static str| {
            ConfigError::new(
                ConfigErrorKind::InvalidKeyFile,
                format!("the key file's `key` is not a usable RSA private key: {detail}"),
            )
        };
        let block = pem::parse(pem).map_err(|_| bad_key("not PEM"))?;
        let key = match block.tag() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(block.contents()),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(block.contents()),
            _ => {
                return Err(bad_key(
                    "expected BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY",
                ));
            }
        }
        .map_err(|_| bad_key("the key does not parse"))?;
        Ok(Self {
            key_id,
            key: Arc::new(key),
        })
    }

    /// Signs an RS256 JWT with `kid` = the key id, `iss` = `sub` = `subject`, `aud` = `audience`,
    /// `iat` = now − 1 s, `exp` = now + 60 s and a random `jti`.
    pub(crate) fn assertion(&self, subject: &str, audience: &str) -> Result<String, AuthError> {
        let failed = || AuthError::upstream("cannot sign the client assertion");
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| failed())?;
        let now = now();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.key_id});
        let claims = json!({
            "iss": subject,
            "sub": subject,
            "aud": audience,
            "iat": now.saturating_sub(1),
            "exp": now + ASSERTION_LIFETIME.as_secs(),
            "jti": URL_SAFE_NO_PAD.encode(jti),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
            .map_err(|_| failed())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// A ZITADEL API application key file, for `private_key_jwt` client authentication at the
/// introspection endpoint.
///
/// ```no_run
/// use tower_authz::ApplicationKey;
///
/// let key = ApplicationKey::from_file("./api-key.json")?;
/// println!("introspecting as {}", key.client_id());
/// # Ok::<(), tower_authz::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ApplicationKey {
    client_id: String,
    app_id: Option<String>,
    pub(crate) key: AssertionKey,
}

impl fmt::Debug for ApplicationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplicationKey")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key.key_id)
            .finish_non_exhaustive()
    }
}

impl ApplicationKey {
    /// Reads a key file downloaded from ZITADEL.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_json(&read(path.as_ref())?)
    }

    /// Parses the contents of a key file.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let file = KeyFile::parse(json, "application")?;
        Ok(Self {
            client_id: file.string("clientId")?,
            app_id: file.optional_string("appId")?,
            key: file.key()?,
        })
    }

    /// The client id (`<id>@<project>`), used as `iss` and `sub` of the assertion.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The application id (not used for authentication).
    pub fn app_id(&self) -> Option<&str> {
        self.app_id.as_deref()
    }

    /// The key id, sent as the assertion's `kid`.
    pub fn key_id(&self) -> &str {
        &self.key.key_id
    }
}

/// A ZITADEL service-account key file, for the JWT-bearer grant (RFC 7523).
#[derive(Clone)]
pub struct ServiceAccountKey {
    user_id: String,
    pub(crate) key: AssertionKey,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("user_id", &self.user_id)
            .field("key_id", &self.key.key_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Reads a key file downloaded from ZITADEL.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_json(&read(path.as_ref())?)
    }

    /// Parses the contents of a key file.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let file = KeyFile::parse(json, "serviceaccount")?;
        Ok(Self {
            user_id: file.string("userId")?,
            key: file.key()?,
        })
    }

    /// The service account's user id, used as `iss` and `sub` of the assertion.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The key id, sent as the assertion's `kid`.
    pub fn key_id(&self) -> &str {
        &self.key.key_id
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            ConfigErrorKind::Io,
            format!("cannot read the key file {}", path.display()),
        )
        .with_source(e)
    })
}

/// A parsed key file, with errors that name the field.
struct KeyFile(serde_json::Map<String, Value>);

impl KeyFile {
    fn parse(json: &str, expected_type: &'static str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(json).map_err(|e| {
            ConfigError::new(ConfigErrorKind::InvalidKeyFile, "the key file is not JSON")
                .with_source(e)
        })?;
        let Value::Object(map) = value else {
            return Err(invalid("the key file is not a JSON object"));
        };
        let file = Self(map);
        let kind = file.string("type")?;
        if kind != expected_type {
            return Err(invalid(format!(
                "the key file's `type` is `{kind}`, expected `{expected_type}`"
            )));
        }
        Ok(file)
    }

    fn optional_string(&self, field: &'static str) -> Result<Option<String>, ConfigError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!(
                "the key file's `{field}` must be a non-empty string"
            ))),
        }
    }

    fn string(&self, field: &'static str) -> Result<String, ConfigError> {
        self.optional_string(field)?
            .ok_or_else(|| invalid(format!("the key file has no `{field}`")))
    }

    fn key(&self) -> Result<AssertionKey, ConfigError> {
        AssertionKey::from_pem(self.string("keyId")?, &self.string("key")?)
    }
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> ConfigError {
    ConfigError::new(ConfigErrorKind::InvalidKeyFile, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_key_files_name_the_field() {
        let cases = [
            ("not json", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"keyId":"1"}"#, "no `type`"),
            (r#"{"type":"serviceaccount"}"#, "expected `application`"),
            (
                r#"{"type":"application","keyId":"1","key":"k"}"#,
                "no `clientId`",
            ),
            (
                r#"{"type":"application","clientId":"c","key":"k"}"#,
                "no `keyId`",
            ),
            (
                r#"{"type":"application","clientId":"c","keyId":"1"}"#,
                "no `key`",
            ),
            (
                r#"{"type":"application","clientId":5,"keyId":"1","key":"k"}"#,
                "`clientId` must be",
            ),
            (
                r#"{"type":"application","clientId":"c","keyId":"1","key":"k"}"#,
                "not a usable RSA private key",
            ),
        ];
        for (json, expected) in cases {
            let error = ApplicationKey::from_json(json).expect_err(json);
            assert!(error.to_string().contains(expected), "{json}: {error}");
            assert!(matches!(error.kind(), ConfigErrorKind::InvalidKeyFile));
        }
        let error =
            ServiceAccountKey::from_json(r#"{"type":"serviceaccount","keyId":"1","key":"k"}"#)
                .expect_err("no user");
        assert!(error.to_string().contains("no `userId`"));
        let missing = ApplicationKey::from_file("/nonexistent/key.json").expect_err("missing");
        assert_eq!(missing.kind(), ConfigErrorKind::Io);
    }
}
