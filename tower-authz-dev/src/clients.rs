//! Who may talk to the issuer's OAuth endpoints: confidential clients, API
//! applications and service accounts with keys, machine users and their roles.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::DEV_TENANT_ID;
use super::key::{DevKey, stable_guid};

/// A confidential OAuth client of the [`DevIssuer`](super::DevIssuer),
/// registered with [`DevIssuer::add_client`](super::DevIssuer::add_client).
///
/// It authenticates at the token endpoint with `client_secret_basic` or
/// `client_secret_post`, and at the introspection and revocation endpoints
/// with `client_secret_basic`. Its `client_credentials` access tokens are
/// opaque (like ZITADEL's default) unless [`jwt_access_tokens`](Self::jwt_access_tokens)
/// is set; a scope `api://{appId}/.default` always gets an Entra-shaped JWT.
/// The [`Debug`] output never shows the secret.
#[derive(Clone)]
pub struct DevClient {
    pub(super) client_id: String,
    secret: String,
    pub(super) jwt_access_tokens: bool,
    pub(super) app_roles: Vec<String>,
    pub(super) tenant_id: String,
}

impl fmt::Debug for DevClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevClient")
            .field("client_id", &self.client_id)
            .field("jwt_access_tokens", &self.jwt_access_tokens)
            .field("app_roles", &self.app_roles)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

impl DevClient {
    /// A client with this id and secret, opaque access tokens, no app roles
    /// and the tenant [`DEV_TENANT_ID`].
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        DevClient {
            client_id: client_id.into(),
            secret: secret.into(),
            jwt_access_tokens: false,
            app_roles: Vec::new(),
            tenant_id: DEV_TENANT_ID.to_owned(),
        }
    }

    /// Issues JWT access tokens for `client_credentials` instead of opaque ones
    /// (ZITADEL's "JWT" access token type).
    pub fn jwt_access_tokens(mut self) -> Self {
        self.jwt_access_tokens = true;
        self
    }

    /// Entra app roles granted to this client: the `roles` claim of its
    /// `api://{appId}/.default` tokens.
    pub fn app_roles<I>(mut self, roles: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.app_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The Entra tenant (`tid`) of this client's Entra-shaped tokens.
    pub fn tenant_id(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The Entra object id of the client's service principal (`oid`): a
    /// GUID-shaped string derived from the client id, stable across runs.
    pub fn object_id(&self) -> String {
        stable_guid(&self.client_id)
    }

    fn secret_matches(&self, secret: &str) -> bool {
        // A development server: no need for a constant-time comparison.
        self.secret == secret
    }
}

/// A ZITADEL API application written by
/// [`DevIssuer::write_api_key_file`](super::DevIssuer::write_api_key_file):
/// it introspects with `private_key_jwt` using the key in [`path`](Self::path).
/// Holds no key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevApiApp {
    /// The OAuth client id, `"<appId>@dev-project"`: `iss` and `sub` of its assertions.
    pub client_id: String,
    /// The numeric application id.
    pub app_id: String,
    /// The key id: the `kid` header of its assertions.
    pub key_id: String,
    /// Where the key file was written.
    pub path: PathBuf,
}

/// A ZITADEL service account (machine user) key written by
/// [`DevIssuer::write_service_account_key_file`](super::DevIssuer::write_service_account_key_file),
/// accepted by the jwt-bearer grant. Holds no key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevServiceAccount {
    /// The machine user's id: `iss` and `sub` of its assertions.
    pub user_id: String,
    /// The key id: the `kid` header of its assertions.
    pub key_id: String,
    /// Where the key file was written.
    pub path: PathBuf,
}

/// What a registered assertion key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyUse {
    /// `private_key_jwt` client authentication of an API application.
    Application,
    /// The jwt-bearer grant of a service account.
    ServiceAccount,
}

/// A public key the issuer accepts assertions from.
#[derive(Debug, Clone)]
pub(super) struct AssertionKey {
    pub(super) key_use: KeyUse,
    /// The client id (application) or user id (service account): `iss` and `sub`.
    pub(super) owner: String,
    pub(super) key: Arc<DevKey>,
}

/// A registered machine user (ZITADEL service account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MachineUser {
    /// The display name (the user id unless set).
    pub(super) name: String,
    /// When it was registered (Unix seconds).
    pub(super) created_at: u64,
    /// When it was last renamed, else registered (Unix seconds).
    pub(super) changed_at: u64,
}

#[derive(Debug, Default)]
struct Entries {
    clients: HashMap<String, DevClient>,
    /// Assertion keys by key id.
    keys: HashMap<String, AssertionKey>,
    /// Machine users by id.
    machine_users: HashMap<String, MachineUser>,
    /// ZITADEL project roles granted to users.
    user_roles: HashMap<String, Vec<String>>,
}

/// Every client, key and user the issuer knows.
#[derive(Debug, Default)]
pub(super) struct Registry {
    entries: Mutex<Entries>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn add_client(&self, client: DevClient) {
        self.lock().clients.insert(client.client_id.clone(), client);
    }

    /// The client `client_id` if `secret` is its secret.
    pub(super) fn authenticate(&self, client_id: &str, secret: &str) -> Option<DevClient> {
        self.lock()
            .clients
            .get(client_id)
            .filter(|client| client.secret_matches(secret))
            .cloned()
    }

    pub(super) fn add_key(&self, key: AssertionKey) {
        self.lock().keys.insert(key.key.kid().to_owned(), key);
    }

    /// The key `kid` if it is registered for `key_use`.
    pub(super) fn key(&self, kid: &str, key_use: KeyUse) -> Option<AssertionKey> {
        self.lock()
            .keys
            .get(kid)
            .filter(|key| key.key_use == key_use)
            .cloned()
    }

    /// Registers a machine user at `now`, or renames a known one (keeping
    /// its creation time).
    pub(super) fn add_machine_user(&self, user_id: &str, name: &str, now: u64) {
        self.lock()
            .machine_users
            .entry(user_id.to_owned())
            .and_modify(|user| {
                user.name = name.to_owned();
                user.changed_at = now;
            })
            .or_insert_with(|| MachineUser {
                name: name.to_owned(),
                created_at: now,
                changed_at: now,
            });
    }

    /// Registers `user_id` at `now` as a machine user named after its id,
    /// unless known.
    pub(super) fn ensure_machine_user(&self, user_id: &str, now: u64) {
        self.lock()
            .machine_users
            .entry(user_id.to_owned())
            .or_insert_with(|| MachineUser {
                name: user_id.to_owned(),
                created_at: now,
                changed_at: now,
            });
    }

    /// The machine user `user_id`, if registered.
    pub(super) fn machine_user(&self, user_id: &str) -> Option<MachineUser> {
        self.lock().machine_users.get(user_id).cloned()
    }

    pub(super) fn set_user_roles(&self, user_id: &str, roles: Vec<String>) {
        self.lock().user_roles.insert(user_id.to_owned(), roles);
    }

    /// The project roles of `user_id` (none if never set).
    pub(super) fn user_roles(&self, user_id: &str) -> Vec<String> {
        self.lock()
            .user_roles
            .get(user_id)
            .cloned()
            .unwrap_or_default()
    }
}
