//! [`LogoutTokenBuilder`]: OpenID Connect Back-Channel Logout tokens, the ones
//! the issuer sends and crafted ones for a receiver's negative tests.

use std::io;
use std::sync::Arc;

use serde_json::{Value, json};

use super::super::key::{DevAlgorithm, DevKey};
use super::super::state::Shared;
use super::super::token::TokenBuilder;

/// The event a Logout Token carries in its `events` claim (Back-Channel
/// Logout 1.0 §2.4), with an empty object as its value.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The `typ` header of a Logout Token (Back-Channel Logout 1.0 §2.4).
pub(super) const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";

/// How long a Logout Token stays valid: `exp` = `iat` + 2 minutes.
const LIFETIME: u64 = 120;

/// Builds and signs an OpenID Connect Back-Channel Logout 1.0 Logout Token
/// for a [`DevIssuer`](crate::DevIssuer): created by
/// [`DevIssuer::logout_token`](crate::DevIssuer::logout_token), for tests of a
/// receiver (the tokens the issuer sends when a session ends are built the
/// same way).
///
/// Defaults: header `{"alg": "RS256", "typ": "logout+jwt", "kid"}` for the
/// issuer's current RS256 key (published in the JWKS); claims `iss` = the
/// issuer URL, `aud` = `"dev-api"`, `sub` = `"dev-user"`, no `sid`, `iat` =
/// now, `exp` = now + 2 minutes, a random `jti`, and `events` =
/// `{"http://schemas.openid.net/event/backchannel-logout": {}}`. Never a
/// `nonce` unless [`nonce`](Self::nonce) adds the forbidden claim. Signing is
/// [`TokenBuilder`]'s: the key is looked up when [`sign`](Self::sign) runs.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let issuer = tower_authz_dev::DevIssuer::start().await?;
/// // A valid token for the receiver "my-app", about one session of alice.
/// let valid = issuer
///     .logout_token()
///     .audience("my-app")
///     .subject("alice")
///     .session("a-session-id")
///     .sign()?;
/// // What a receiver must refuse.
/// let with_nonce = issuer.logout_token().audience("my-app").nonce("n-0S6_WzA2Mj").sign()?;
/// let without_events = issuer.logout_token().audience("my-app").without_events().sign()?;
/// let id_token_typ = issuer.logout_token().audience("my-app").typ("JWT").sign()?;
/// let neither_sub_nor_sid = issuer.logout_token().audience("my-app").remove_claim("sub").sign()?;
/// # let _ = (valid, with_nonce, without_events, id_token_typ, neither_sub_nor_sid);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })
/// # }
/// ```
#[derive(Debug)]
pub struct LogoutTokenBuilder {
    token: TokenBuilder,
}

impl LogoutTokenBuilder {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let token = TokenBuilder::new(shared);
        let exp = token.now().saturating_add(LIFETIME);
        let token = token
            .claim("exp", exp)
            .claim("events", json!({ BACKCHANNEL_LOGOUT_EVENT: {} }))
            .header("typ", LOGOUT_TOKEN_TYPE);
        LogoutTokenBuilder { token }
    }

    /// Sets `sub`, the user whose sessions end.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.map(|token| token.subject(subject))
    }

    /// Sets `sid`, the session that ends.
    pub fn session(self, session: impl Into<String>) -> Self {
        self.map(|token| token.session(session))
    }

    /// Sets `aud`: the client id of the receiver.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.map(|token| token.audience(audience))
    }

    /// Sets `iat` (Unix seconds); `exp` stays as it was.
    pub fn issued_at(self, issued_at: u64) -> Self {
        self.claim("iat", issued_at)
    }

    /// Sets `exp` (Unix seconds).
    pub fn expires_at(self, expires_at: u64) -> Self {
        self.claim("exp", expires_at)
    }

    /// Sets `jti`, for example to send the same token id twice (replay).
    pub fn jti(self, jti: impl Into<String>) -> Self {
        self.claim("jti", jti.into())
    }

    /// Adds a `nonce` claim, which a Logout Token must not carry (§2.4): a
    /// receiver must refuse the token.
    pub fn nonce(self, nonce: impl Into<String>) -> Self {
        self.claim("nonce", nonce.into())
    }

    /// Removes the `events` claim.
    pub fn without_events(self) -> Self {
        self.remove_claim("events")
    }

    /// Replaces the `events` claim, e.g. with an object that lacks the
    /// back-channel logout event or gives it a value other than `{}`.
    pub fn events(self, events: Value) -> Self {
        self.claim("events", events)
    }

    /// Replaces the `typ` header (default `logout+jwt`); remove it with
    /// [`remove_header("typ")`](Self::remove_header).
    pub fn typ(self, typ: impl Into<String>) -> Self {
        self.header("typ", typ.into())
    }

    /// Sets any claim, replacing a default or earlier value.
    pub fn claim(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.map(|token| token.claim(name, value))
    }

    /// Removes a claim, e.g. `"sub"` (a token with neither `sub` nor `sid`
    /// is invalid), `"jti"` or `"iat"`.
    pub fn remove_claim(self, name: impl AsRef<str>) -> Self {
        self.map(|token| token.remove_claim(name))
    }

    /// Sets a JOSE header field (see [`TokenBuilder::header`]).
    pub fn header(self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.map(|token| token.header(name, value))
    }

    /// Removes a JOSE header field, e.g. `"typ"` or `"kid"`.
    pub fn remove_header(self, name: impl Into<String>) -> Self {
        self.map(|token| token.remove_header(name))
    }

    /// Signs with the issuer's current key for `algorithm` instead of RS256.
    pub fn algorithm(self, algorithm: DevAlgorithm) -> Self {
        self.map(|token| token.algorithm(algorithm))
    }

    /// Signs with a foreign key (see [`TokenBuilder::signed_with`]), e.g. one
    /// the issuer never published.
    pub fn signed_with(self, key: &DevKey) -> Self {
        self.map(|token| token.signed_with(key))
    }

    /// The claims the token will carry.
    pub fn claims(&self) -> Value {
        self.token.claims()
    }

    /// Signs the token and returns the compact JWS.
    ///
    /// # Errors
    /// Fails when the issuer has no current key for the algorithm (all its
    /// keys were retired) or signing fails.
    pub fn sign(self) -> io::Result<String> {
        self.token.sign()
    }

    fn map(self, edit: impl FnOnce(TokenBuilder) -> TokenBuilder) -> Self {
        LogoutTokenBuilder {
            token: edit(self.token),
        }
    }
}
