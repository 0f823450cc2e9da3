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

use crate::clock::now;
use crate::error::{AuthError, ConfigError, ConfigErrorKind};

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

    // Property tests: any key file gives a key or an `InvalidKeyFile` error, never a panic; and
    // what is accepted is exactly a well-typed file with a usable RSA key.
    mod properties {
        use super::*;
        use std::sync::OnceLock;

        use aws_lc_rs::encoding::AsDer;
        use proptest::prelude::*;
        use proptest::sample::select;

        const FIELDS: &[&str] = &[
            "type",
            "keyId",
            "key",
            "appId",
            "clientId",
            "userId",
            "expirationDate",
        ];

        fn json() -> BoxedStrategy<Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                select(&["application", "serviceaccount", "", "1"][..]).prop_map(Value::from),
                ".{0,10}".prop_map(Value::String),
            ];
            leaf.prop_recursive(2, 12, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    prop::collection::vec((select(FIELDS).prop_map(String::from), inner), 0..3)
                        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                ]
            })
            .boxed()
        }

        /// A fresh RSA-2048 key as PKCS#1 (`RSA PRIVATE KEY`) and PKCS#8 (`PRIVATE KEY`) PEM.
        fn pems() -> &'static [String; 2] {
            static PEMS: OnceLock<[String; 2]> = OnceLock::new();
            PEMS.get_or_init(|| {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .expect("rsa");
                let pkcs8 = pair.as_der().expect("pkcs8").as_ref().to_vec();
                // PrivateKeyInfo: SEQUENCE { INTEGER 0, AlgorithmIdentifier (15 bytes),
                // OCTET STRING (4-byte header) { RSAPrivateKey } }.
                assert_eq!(&pkcs8[4..9], &[0x02, 0x01, 0x00, 0x30, 0x0d]);
                assert_eq!(&pkcs8[22..24], &[0x04, 0x82]);
                let pkcs1 = pkcs8[26..].to_vec();
                [
                    pem::encode(&pem::Pem::new("RSA PRIVATE KEY", pkcs1)),
                    pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8)),
                ]
            })
        }

        /// The `key` field: a real key (`Some(true)`), one surely unusable (`Some(false)`), or
        /// a real key with a byte changed (`None`: may or may not parse).
        fn key_field() -> impl Strategy<Value = (Value, Option<bool>)> {
            prop_oneof![
                3 => (0usize..2).prop_map(|i| (Value::from(pems()[i].clone()), Some(true))),
                1 => (0usize..2, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, at, b)| {
                    let mut bytes = pems()[i].clone().into_bytes();
                    let at = at.index(bytes.len());
                    bytes[at] = b.clamp(0x20, 0x7e);
                    (Value::from(String::from_utf8(bytes).expect("ascii")), None)
                }),
                1 => (0usize..2).prop_map(|i| {
                    // The right key under the other label.
                    let swapped = if i == 0 {
                        pems()[0].replace("RSA PRIVATE KEY", "PRIVATE KEY")
                    } else {
                        pems()[1].replace("PRIVATE KEY", "RSA PRIVATE KEY")
                    };
                    (Value::from(swapped), Some(false))
                }),
                1 => json().prop_map(|v| (v, Some(false))),
            ]
        }

        fn text() -> impl Strategy<Value = Value> {
            prop_oneof![3 => "[0-9a-z@.]{0,12}".prop_map(Value::from), 1 => json()]
        }

        /// A key file: each field present or not, of any type, among other fields.
        fn key_file() -> impl Strategy<Value = (Value, Option<bool>)> {
            (
                prop::collection::vec((select(FIELDS).prop_map(String::from), json()), 0..2),
                prop::option::weighted(
                    0.95,
                    prop_oneof![
                        3 => select(&["application", "serviceaccount"][..]).prop_map(Value::from),
                        1 => json(),
                    ],
                ),
                prop::option::weighted(0.95, text()),
                prop::option::weighted(0.95, key_field()),
                prop::option::of(text()),
                prop::option::weighted(0.8, text()),
                prop::option::weighted(0.8, text()),
            )
                .prop_map(|(extra, kind, key_id, key, app_id, client_id, user_id)| {
                    let mut map: serde_json::Map<String, Value> = extra.into_iter().collect();
                    let usable = key.as_ref().and_then(|(_, usable)| *usable);
                    for (name, value) in [
                        ("type", kind),
                        ("keyId", key_id),
                        ("key", key.map(|(k, _)| k)),
                        ("appId", app_id),
                        ("clientId", client_id),
                        ("userId", user_id),
                    ] {
                        if let Some(value) = value {
                            map.insert(name.into(), value);
                        }
                    }
                    (Value::Object(map), usable)
                })
        }

        /// A complete file of either kind, then zero to two fields replaced or removed.
        fn mostly_good_file() -> impl Strategy<Value = (Value, Option<bool>)> {
            (
                select(&["application", "serviceaccount"][..]),
                key_field(),
                "[0-9]{1,18}",
                "[0-9]{1,18}@[a-z]{1,8}",
                prop::collection::vec(
                    (
                        select(&["type", "keyId", "appId", "clientId", "userId"][..]),
                        prop::option::of(prop_oneof![Just(Value::from("")), json()]),
                    ),
                    0..3,
                ),
            )
                .prop_map(|(kind, (key, usable), id, client, edits)| {
                    let mut file = serde_json::json!({
                        "type": kind, "keyId": id, "key": key, "appId": id, "clientId": client,
                        "userId": id,
                    });
                    for (field, value) in edits {
                        let map = file.as_object_mut().expect("object");
                        match value {
                            Some(value) => map.insert(field.to_owned(), value),
                            None => map.remove(field),
                        };
                    }
                    (file, usable)
                })
        }

        fn non_empty(file: &Value, field: &str) -> bool {
            file.get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        }

        fn optional(file: &Value, field: &str) -> bool {
            file.get(field)
                .is_none_or(|v| v.is_null() || non_empty(file, field))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn any_text_gives_a_key_or_an_invalid_key_file_error(text in ".{0,120}") {
                for result in [
                    ApplicationKey::from_json(&text).map(|_| ()),
                    ServiceAccountKey::from_json(&text).map(|_| ()),
                ] {
                    prop_assert_eq!(result.map_err(|e| e.kind()), Err(ConfigErrorKind::InvalidKeyFile));
                }
            }

            #[test]
            fn accepted_exactly_when_every_field_is_right(
                (file, usable) in prop_oneof![key_file(), mostly_good_file()],
            ) {
                let text = file.to_string();
                let application = ApplicationKey::from_json(&text);
                let service_account = ServiceAccountKey::from_json(&text);
                for error in [application.as_ref().err(), service_account.as_ref().err()].into_iter().flatten() {
                    prop_assert_eq!(error.kind(), ConfigErrorKind::InvalidKeyFile);
                }
                let common = non_empty(&file, "keyId") && non_empty(&file, "key");
                let is = |kind: &str| file.get("type") == Some(&Value::from(kind));
                let app_fields = is("application") && common && non_empty(&file, "clientId") && optional(&file, "appId");
                let sa_fields = is("serviceaccount") && common && non_empty(&file, "userId");
                match usable {
                    Some(usable) => {
                        prop_assert_eq!(application.is_ok(), app_fields && usable, "{}", text);
                        prop_assert_eq!(service_account.is_ok(), sa_fields && usable, "{}", text);
                    }
                    None => {
                        prop_assert!(application.is_err() || app_fields);
                        prop_assert!(service_account.is_err() || sa_fields);
                    }
                }
                if let Ok(key) = &application {
                    prop_assert_eq!(Some(key.client_id()), file["clientId"].as_str());
                    prop_assert_eq!(Some(key.key_id()), file["keyId"].as_str());
                    prop_assert!(key.key.assertion(key.client_id(), "https://issuer.example").is_ok());
                }
                if let Ok(key) = &service_account {
                    prop_assert_eq!(Some(key.user_id()), file["userId"].as_str());
                }
            }
        }
    }
}
