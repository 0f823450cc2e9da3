//! The OAuth side of [`DevIssuer`]: clients, keys, users and tokens for the
//! token, introspection and revocation endpoints.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::clients::{AssertionKey, DevApiApp, DevClient, DevServiceAccount, KeyUse};
use super::clock::unix_now;
use super::key::{DevAlgorithm, DevKey, random_numeric_id};
use super::opaque::OpaqueTokenBuilder;
use super::revocation::revoke_token;
use super::state::{INTROSPECTION_PATH, REVOCATION_PATH, TOKEN_PATH};
use super::store::{StoredToken, TokenKind};
use super::{DEV_ORG_DOMAIN, DevIssuer, keyfile};

/// Lifetime of personal access tokens.
const PAT_LIFETIME: u64 = 365 * 24 * 3600;

impl DevIssuer {
    /// The token endpoint: issuer + `/oauth/v2/token`.
    pub fn token_endpoint(&self) -> String {
        self.shared.url(TOKEN_PATH)
    }

    /// The introspection endpoint: issuer + `/oauth/v2/introspect`.
    pub fn introspection_endpoint(&self) -> String {
        self.shared.url(INTROSPECTION_PATH)
    }

    /// The revocation endpoint: issuer + `/oauth/v2/revoke`.
    pub fn revocation_endpoint(&self) -> String {
        self.shared.url(REVOCATION_PATH)
    }

    /// An [`OpaqueTokenBuilder`] with this issuer's defaults.
    pub fn opaque_token(&self) -> OpaqueTokenBuilder {
        OpaqueTokenBuilder::new(Arc::clone(&self.shared))
    }

    /// Revokes a token: forgets an opaque token or personal access token, or
    /// remembers the `jti` of a valid JWT of this issuer, so that
    /// introspection answers `active: false`. Returns whether anything was
    /// revoked.
    pub fn revoke(&self, token: &str) -> bool {
        revoke_token(&self.shared, token)
    }

    /// Registers a confidential client (replacing one with the same id). It
    /// gets tokens with `client_credentials` and may introspect and revoke
    /// with `client_secret_basic`.
    pub fn add_client(&self, client: DevClient) {
        self.shared.registry.add_client(client);
    }

    /// Creates a ZITADEL API application that introspects with
    /// `private_key_jwt`, and writes its key file to `path` (mode 0600 on
    /// Unix): `{"type":"application","keyId","key","appId","clientId"}` with
    /// a PKCS#1 PEM RSA key and `clientId` = `"<appId>@dev-project"`.
    ///
    /// # Errors
    /// Fails if key generation or writing the file fails.
    pub fn write_api_key_file(&self, path: &Path) -> io::Result<DevApiApp> {
        let key = new_rsa_key()?;
        let app_id = random_numeric_id()?;
        let client_id = format!("{app_id}@dev-project");
        keyfile::write(path, &keyfile::application(&key, &app_id, &client_id)?)?;
        let key_id = key.kid().to_owned();
        self.shared.registry.add_key(AssertionKey {
            key_use: KeyUse::Application,
            owner: client_id.clone(),
            key: Arc::new(key),
        });
        Ok(DevApiApp {
            client_id,
            app_id,
            key_id,
            path: path.to_owned(),
        })
    }

    /// Creates a key for the service account (machine user) `user_id`, which
    /// the jwt-bearer grant then accepts, and writes its key file to `path`
    /// (mode 0600 on Unix): `{"type":"serviceaccount","keyId","key","userId"}`
    /// with a PKCS#1 PEM RSA key. Registers the machine user if unknown.
    ///
    /// # Errors
    /// Fails if key generation or writing the file fails.
    pub fn write_service_account_key_file(
        &self,
        path: &Path,
        user_id: &str,
    ) -> io::Result<DevServiceAccount> {
        let key = new_rsa_key()?;
        keyfile::write(path, &keyfile::service_account(&key, user_id)?)?;
        let key_id = key.kid().to_owned();
        self.shared.registry.add_key(AssertionKey {
            key_use: KeyUse::ServiceAccount,
            owner: user_id.to_owned(),
            key: Arc::new(key),
        });
        self.shared
            .registry
            .ensure_machine_user(user_id, unix_now());
        Ok(DevServiceAccount {
            user_id: user_id.to_owned(),
            key_id,
            path: path.to_owned(),
        })
    }

    /// A ZITADEL personal access token of the machine user `user_id` (an
    /// opaque token valid for a year). Introspection adds the introspecting
    /// client and [`DEV_PROJECT_ID`](super::DEV_PROJECT_ID) to its audience,
    /// so it is active for every authenticated client, with the roles from
    /// [`set_user_roles`](Self::set_user_roles). Registers the machine user
    /// if unknown.
    pub fn personal_access_token(&self, user_id: &str) -> String {
        let now = unix_now();
        self.shared.registry.ensure_machine_user(user_id, now);
        self.shared.store_token(StoredToken {
            kind: TokenKind::Personal,
            subject: user_id.to_owned(),
            client_id: user_id.to_owned(),
            scopes: vec!["openid".into(), "profile".into()],
            audiences: vec![user_id.to_owned()],
            username: format!("{user_id}@{DEV_ORG_DOMAIN}"),
            roles: None,
            extra: serde_json::Map::new(),
            issued_at: now,
            expires_at: now + PAT_LIFETIME,
            jti: self.shared.new_jti(),
        })
    }

    /// Grants `user_id` these ZITADEL project roles (replacing earlier ones).
    /// Introspection answers them for the user's personal access tokens,
    /// jwt-bearer tokens, and opaque tokens whose roles were not set with
    /// [`OpaqueTokenBuilder::roles`]; also for JWTs without a `roles` claim.
    pub fn set_user_roles(
        &self,
        user_id: &str,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) {
        let roles = roles.into_iter().map(Into::into).collect();
        self.shared.registry.set_user_roles(user_id, roles);
    }

    /// Registers (or renames) a machine user. Its name is the `machine.name`
    /// of its [`users_me_url`](Self::users_me_url) answer.
    pub fn add_machine_user(&self, user_id: &str, name: &str) {
        self.shared
            .registry
            .add_machine_user(user_id, name, unix_now());
    }

    /// The name of a machine user, if registered (by
    /// [`add_machine_user`](Self::add_machine_user), a service account key or
    /// a personal access token, which use the id as name).
    pub fn machine_user_name(&self, user_id: &str) -> Option<String> {
        self.shared
            .registry
            .machine_user(user_id)
            .map(|user| user.name)
    }

    /// How many token requests the server has received, including refused
    /// ones and `503`s.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// How many introspection requests the server has received, including
    /// refused ones and `503`s.
    pub fn introspection_requests(&self) -> usize {
        self.shared.introspection_requests.load(Ordering::SeqCst)
    }

    /// How many revocation requests the server has received, including
    /// refused ones and `503`s.
    pub fn revocation_requests(&self) -> usize {
        self.shared.revocation_requests.load(Ordering::SeqCst)
    }

    /// With `true`, the token endpoint requires DPoP proofs to carry a server
    /// nonce (RFC 9449 §8): a proof without it (or with an old one) is
    /// answered `400 {"error": "use_dpop_nonce"}` with the nonce in a
    /// `DPoP-Nonce` header, which every token answer then carries. Each call
    /// with `true` makes a new nonce; `false` (the default) turns it off.
    pub fn require_dpop_nonce(&self, on: bool) {
        self.shared.dpop.require_nonce(on);
    }

    /// With `Some`, every endpoint waits that long before answering (for
    /// timeout tests); `None` (the default) answers at once.
    pub fn set_response_delay(&self, delay: Option<Duration>) {
        self.shared.set_response_delay(delay);
    }
}

/// An RSA key with a numeric key id, like ZITADEL's.
fn new_rsa_key() -> io::Result<DevKey> {
    Ok(DevKey::generate(DevAlgorithm::RS256)?.with_kid(random_numeric_id()?))
}
