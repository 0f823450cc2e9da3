//! How this service authenticates itself to the provider's introspection and token endpoints.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;

use super::keyfile::ApplicationKey;
use crate::error::AuthError;

/// Client authentication at a token or introspection endpoint (RFC 6749 §2.3, RFC 7523 §2.2).
///
/// Secrets and keys never appear in `Debug` output or logs.
///
/// ```
/// use tower_authz::ClientAuth;
///
/// let auth = ClientAuth::basic("my-api", "s3cret");
/// assert_eq!(format!("{auth:?}"), r#"ClientAuth::Basic { client_id: "my-api", secret: <redacted> }"#);
/// ```
#[derive(Clone)]
pub struct ClientAuth(Method);

#[derive(Clone)]
enum Method {
    Basic { client_id: String, secret: String },
    Post { client_id: String, secret: String },
    PrivateKeyJwt(ApplicationKey),
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Method::Basic { client_id, .. } => write!(
                f,
                "ClientAuth::Basic {{ client_id: {client_id:?}, secret: <redacted> }}"
            ),
            Method::Post { client_id, .. } => write!(
                f,
                "ClientAuth::Post {{ client_id: {client_id:?}, secret: <redacted> }}"
            ),
            Method::PrivateKeyJwt(key) => write!(f, "ClientAuth::PrivateKeyJwt({key:?})"),
        }
    }
}

/// The form fields and header one request carries for client authentication.
pub(crate) struct Applied {
    pub(crate) authorization: Option<HeaderValue>,
    pub(crate) form: Vec<(&'static str, String)>,
}

impl ClientAuth {
    /// `client_secret_basic`: the client id and secret in an `Authorization: Basic` header.
    pub fn basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self(Method::Basic {
            client_id: client_id.into(),
            secret: secret.into(),
        })
    }

    /// `client_secret_post`: the client id and secret as form fields.
    pub fn post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self(Method::Post {
            client_id: client_id.into(),
            secret: secret.into(),
        })
    }

    /// `private_key_jwt`: an RS256 assertion signed with a ZITADEL application key
    /// (`iss` = `sub` = client id, `aud` = the issuer, one minute of validity).
    pub fn private_key_jwt(key: ApplicationKey) -> Self {
        Self(Method::PrivateKeyJwt(key))
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        match &self.0 {
            Method::Basic { client_id, .. } | Method::Post { client_id, .. } => client_id,
            Method::PrivateKeyJwt(key) => key.client_id(),
        }
    }

    /// The header and form fields for one request; `audience` is the assertion's `aud` (the
    /// issuer, as ZITADEL expects).
    pub(crate) fn apply(&self, audience: &str) -> Result<Applied, AuthError> {
        Ok(match &self.0 {
            Method::Basic { client_id, secret } => {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
                let credentials = format!("{}:{}", urlencode(client_id), urlencode(secret));
                let value = format!("Basic {}", STANDARD.encode(credentials));
                let mut header = HeaderValue::from_str(&value).map_err(|_| {
                    AuthError::upstream("the client credentials cannot be sent in a header")
                })?;
                header.set_sensitive(true);
                Applied {
                    authorization: Some(header),
                    form: Vec::new(),
                }
            }
            Method::Post { client_id, secret } => Applied {
                authorization: None,
                form: vec![
                    ("client_id", client_id.clone()),
                    ("client_secret", secret.clone()),
                ],
            },
            Method::PrivateKeyJwt(key) => Applied {
                authorization: None,
                form: vec![
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                    ),
                    (
                        "client_assertion",
                        key.key.assertion(key.client_id(), audience)?,
                    ),
                ],
            },
        })
    }
}

fn urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_urlencoded_then_base64() {
        let applied = ClientAuth::basic("id:1", "p@ss w")
            .apply("iss")
            .expect("basic");
        let header = applied.authorization.expect("header");
        let encoded = header.to_str().expect("ascii").trim_start_matches("Basic ");
        let decoded = String::from_utf8(STANDARD.decode(encoded).expect("b64")).expect("utf8");
        assert_eq!(decoded, "id%3A1:p%40ss+w");
        assert!(header.is_sensitive());
    }

    #[test]
    fn post_puts_credentials_in_the_form() {
        let applied = ClientAuth::post("id", "secret").apply("iss").expect("post");
        assert!(applied.authorization.is_none());
        assert_eq!(applied.form.len(), 2);
    }

    #[test]
    fn debug_redacts() {
        let debug = format!("{:?}", ClientAuth::post("id", "hunter2"));
        assert!(!debug.contains("hunter2"));
    }
}
