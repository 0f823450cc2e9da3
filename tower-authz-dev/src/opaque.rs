//! [`OpaqueTokenBuilder`]: opaque access tokens answered by the introspection
//! endpoint.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::clock::unix_now;
use super::state::Shared;
use super::store::{StoredToken, TokenKind};
use super::{DEV_ORG_DOMAIN, DEV_PROJECT_ID};

const HOUR: u64 = 3600;

/// Builds an opaque access token and stores it in a [`DevIssuer`](super::DevIssuer),
/// whose introspection endpoint then answers for it.
///
/// Created by [`DevIssuer::opaque_token`](super::DevIssuer::opaque_token) with
/// these defaults: `sub` = `"dev-user"`, `client_id` = `"dev-client"`,
/// `scope` = `"openid"`, `aud` = [[`DEV_PROJECT_ID`], `"dev-api"`], `username`
/// = `"<sub>@dev.localhost"`, valid for one hour, and the roles
/// [`DevIssuer::set_user_roles`](super::DevIssuer::set_user_roles) gave the
/// subject (looked up at introspection time).
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// # let issuer = tower_authz_dev::DevIssuer::start().await?;
/// let token = issuer.opaque_token().subject("alice").roles(["admin"]).issue();
/// assert!(!token.contains('.'));
/// # Ok(()) }
/// ```
pub struct OpaqueTokenBuilder {
    shared: Arc<Shared>,
    now: u64,
    subject: String,
    client_id: String,
    scopes: Vec<String>,
    roles: Option<Vec<String>>,
    audiences: Vec<String>,
    username: Option<String>,
    extra: Map<String, Value>,
    issued_at: u64,
    expires_at: u64,
}

impl fmt::Debug for OpaqueTokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpaqueTokenBuilder")
            .field("subject", &self.subject)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("roles", &self.roles)
            .field("audiences", &self.audiences)
            .field("username", &self.username)
            .field("extra", &self.extra)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl OpaqueTokenBuilder {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let now = unix_now();
        OpaqueTokenBuilder {
            shared,
            now,
            subject: "dev-user".into(),
            client_id: "dev-client".into(),
            scopes: vec!["openid".into()],
            roles: None,
            audiences: vec![DEV_PROJECT_ID.into(), "dev-api".into()],
            username: None,
            extra: Map::new(),
            issued_at: now,
            expires_at: now + HOUR,
        }
    }

    /// Sets `sub`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// Sets `client_id`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Sets the scopes (answered space-separated in `scope`).
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.scopes = strings(scopes);
        self
    }

    /// Sets the ZITADEL project roles, answered as role maps in
    /// `urn:zitadel:iam:org:project:roles` and
    /// `urn:zitadel:iam:org:project:{DEV_PROJECT_ID}:roles`.
    pub fn roles<I>(mut self, roles: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.roles = Some(strings(roles));
        self
    }

    /// Sets the audiences (answered as the `aud` array). Introspection
    /// answers `active: false` to a client that is not in the audience, unless
    /// the audience contains [`DEV_PROJECT_ID`].
    pub fn audiences<I>(mut self, audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.audiences = strings(audiences);
        self
    }

    /// Sets `username` (default `"<sub>@dev.localhost"`).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Adds a member to the introspection answer, overriding a standard one
    /// of the same name.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// Sets the expiry to now + `lifetime`.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.expires_at = self.now.saturating_add(lifetime.as_secs());
        self
    }

    /// Makes the token expired: issued 2 hours ago, expired 1 hour ago.
    pub fn expired(mut self) -> Self {
        self.issued_at = self.now.saturating_sub(2 * HOUR);
        self.expires_at = self.now.saturating_sub(HOUR);
        self
    }

    /// Stores the token in the issuer and returns it: 32 random bytes,
    /// base64url without padding.
    pub fn issue(self) -> String {
        let username = self
            .username
            .unwrap_or_else(|| format!("{}@{DEV_ORG_DOMAIN}", self.subject));
        let stored = StoredToken {
            kind: TokenKind::Access,
            subject: self.subject,
            client_id: self.client_id,
            scopes: self.scopes,
            audiences: self.audiences,
            username,
            roles: self.roles,
            extra: self.extra,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            jti: self.shared.new_jti(),
        };
        self.shared.store_token(stored)
    }
}

fn strings<I>(items: I) -> Vec<String>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}
