//! [`TokenBuilder`]: mints signed JWTs for tests.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::clock::unix_now;
use super::key::{DevAlgorithm, DevKey, sign_hs256};
use super::state::Shared;

const HOUR: u64 = 3600;

/// What signs the token instead of the issuer's current key.
#[derive(Clone)]
enum Signer {
    /// A foreign key ([`TokenBuilder::signed_with`]).
    Key(DevKey),
    /// An HMAC secret for `HS256` ([`TokenBuilder::hmac_secret`]).
    Hmac(Vec<u8>),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Key(key) => f.debug_tuple("Key").field(key).finish(),
            Signer::Hmac(_) => f.write_str("Hmac(<redacted>)"),
        }
    }
}

/// An edit to the default JOSE header, applied in call order.
#[derive(Debug, Clone)]
enum HeaderEdit {
    Set(String, Value),
    Remove(String),
}

/// Builds and signs a JWT for a [`DevIssuer`](super::DevIssuer).
///
/// Created by [`DevIssuer::token`](super::DevIssuer::token) with these defaults:
/// `iss` = the issuer URL, `sub` = `"dev-user"`, `aud` = `"dev-api"`,
/// `iat` = now, `exp` = now + 1 hour, a random `jti`, and the header
/// `{"alg", "typ": "JWT", "kid"}` for the issuer's current
/// [`DevAlgorithm::RS256`] key. Every method takes and returns the builder, so
/// calls chain:
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// # let issuer = tower_authz_dev::DevIssuer::start().await?;
/// let token = issuer.token().subject("alice").roles(["admin"]).sign()?;
/// # Ok(()) }
/// ```
///
/// The key is looked up when [`sign`](Self::sign) runs, so a builder created
/// before [`DevIssuer::rotate`](super::DevIssuer::rotate) signs with the new key.
/// [`signed_with`](Self::signed_with) and [`hmac_secret`](Self::hmac_secret)
/// sign with a key of your own instead. The [`Debug`] output never shows an
/// HMAC secret.
pub struct TokenBuilder {
    shared: Arc<Shared>,
    now: u64,
    claims: Map<String, Value>,
    header_edits: Vec<HeaderEdit>,
    algorithm: DevAlgorithm,
    signer: Option<Signer>,
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("claims", &self.claims)
            .field("header_edits", &self.header_edits)
            .field("algorithm", &self.algorithm)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl TokenBuilder {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let now = unix_now();
        let mut claims = Map::new();
        claims.insert("iss".into(), shared.issuer().into());
        claims.insert("sub".into(), "dev-user".into());
        claims.insert("aud".into(), "dev-api".into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + HOUR).into());
        claims.insert("jti".into(), shared.new_jti().into());
        TokenBuilder {
            shared,
            now,
            claims,
            header_edits: Vec::new(),
            algorithm: DevAlgorithm::RS256,
            signer: None,
        }
    }

    /// The time the defaults are relative to (`iat`, Unix seconds).
    pub(super) fn now(&self) -> u64 {
        self.now
    }

    /// Replaces every claim with `claims`.
    pub(super) fn with_claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }

    /// Sets `sub`.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", subject.into())
    }

    /// Sets `sid`, the session the token belongs to (OpenID Connect
    /// Front-/Back-Channel Logout): a back-channel logout of that session
    /// names it. FusionAuth-shaped tokens carry one already.
    pub fn session(self, session: impl Into<String>) -> Self {
        self.claim("sid", session.into())
    }

    /// Sets `aud` to a single string.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", audience.into())
    }

    /// Sets `aud` to an array of strings.
    pub fn audiences<I>(self, audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.claim("aud", string_array(audiences))
    }

    /// Overrides `iss` (for example to test issuer mismatches).
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", issuer.into())
    }

    /// Sets `roles` to an array of strings.
    pub fn roles<I>(self, roles: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.claim("roles", string_array(roles))
    }

    /// Sets `scope` to the space-separated list of `scopes`.
    pub fn scopes<I>(self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let scope: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.claim("scope", scope.join(" "))
    }

    /// Sets any claim, replacing a default or earlier value.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim, for example `"exp"` to mint a token without expiry.
    pub fn remove_claim(mut self, name: impl AsRef<str>) -> Self {
        self.claims.remove(name.as_ref());
        self
    }

    /// Sets a JOSE header field, adding to or overriding the defaults
    /// (`alg`, `typ`, `kid`), for example `"jku"`, `"jwk"`, `"crit"` or `"typ"`.
    ///
    /// Setting `alg` only changes the header; the signature is still made
    /// with the key's own algorithm (useful for algorithm-confusion tests).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header_edits
            .push(HeaderEdit::Set(name.into(), value.into()));
        self
    }

    /// Removes a JOSE header field, for example `"kid"` or `"typ"`.
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        self.header_edits.push(HeaderEdit::Remove(name.into()));
        self
    }

    /// Overrides the `kid` header (the signing key stays the same).
    pub fn kid(self, kid: impl Into<String>) -> Self {
        self.header("kid", kid.into())
    }

    /// Sets `exp` to now + `lifetime`.
    pub fn lifetime(self, lifetime: Duration) -> Self {
        let exp = self.now.saturating_add(lifetime.as_secs());
        self.claim("exp", exp)
    }

    /// Makes the token expired: `iat` = now - 2 hours, `exp` = now - 1 hour.
    pub fn expired(self) -> Self {
        let (iat, exp) = (
            self.now.saturating_sub(2 * HOUR),
            self.now.saturating_sub(HOUR),
        );
        self.claim("iat", iat).claim("exp", exp)
    }

    /// Makes the token not yet valid: `nbf` = now + 1 hour.
    pub fn not_yet_valid(self) -> Self {
        let nbf = self.now.saturating_add(HOUR);
        self.claim("nbf", nbf)
    }

    /// Signs with the issuer's current key for `algorithm` (default
    /// [`DevAlgorithm::RS256`]). Ignored when [`signed_with`](Self::signed_with)
    /// or [`hmac_secret`](Self::hmac_secret) chose the key.
    pub fn algorithm(mut self, algorithm: DevAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Signs with a foreign key instead of the issuer's. Takes `&DevKey`, so
    /// `&key` and `&arc_key` both work; the (cheap) clone shares the key
    /// material. The `alg` and `kid` headers come from that key unless
    /// overridden with [`header`](Self::header) / [`kid`](Self::kid).
    ///
    /// Replaces an earlier [`hmac_secret`](Self::hmac_secret).
    pub fn signed_with(mut self, key: &DevKey) -> Self {
        self.signer = Some(Signer::Key(key.clone()));
        self
    }

    /// Signs with HMAC-SHA256 (`HS256`) and `secret`, like FusionAuth's
    /// default signing key. The header is `{"alg": "HS256", "typ": "JWT"}`,
    /// without a `kid` unless set with [`kid`](Self::kid) or
    /// [`header`](Self::header). HMAC keys are never published in the JWKS.
    /// Any length is accepted here (verifiers want at least 32 bytes).
    ///
    /// Replaces an earlier [`signed_with`](Self::signed_with).
    pub fn hmac_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.signer = Some(Signer::Hmac(secret.into()));
        self
    }

    /// The claims the token will carry.
    pub fn claims(&self) -> Value {
        Value::Object(self.claims.clone())
    }

    /// Signs the token and returns the compact JWS.
    ///
    /// # Errors
    /// Fails when the issuer has no current key for the algorithm (all its keys
    /// were retired) or signing fails.
    pub fn sign(self) -> io::Result<String> {
        let claims = Value::Object(self.claims);
        let issuer_key;
        let key = match &self.signer {
            Some(Signer::Hmac(secret)) => {
                let header = build_header("HS256", None, &self.header_edits);
                return sign_hs256(secret, &header, &claims);
            }
            Some(Signer::Key(key)) => key,
            None => {
                issuer_key = self.shared.signing_key(self.algorithm).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("the dev issuer publishes no {} key", self.algorithm),
                    )
                })?;
                &*issuer_key
            }
        };
        let header = build_header(
            key.algorithm().as_str(),
            Some(key.kid()),
            &self.header_edits,
        );
        key.sign_jws(&header, &claims)
    }
}

/// The header `{"alg", "typ": "JWT", "kid"}` (no `kid` if `None`) with `edits` applied.
fn build_header(alg: &str, kid: Option<&str>, edits: &[HeaderEdit]) -> Map<String, Value> {
    let mut header = Map::new();
    header.insert("alg".into(), alg.into());
    header.insert("typ".into(), "JWT".into());
    if let Some(kid) = kid {
        header.insert("kid".into(), kid.into());
    }
    for edit in edits {
        match edit {
            HeaderEdit::Set(name, value) => {
                header.insert(name.clone(), value.clone());
            }
            HeaderEdit::Remove(name) => {
                header.remove(name);
            }
        }
    }
    header
}

fn string_array<I>(items: I) -> Value
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
}
