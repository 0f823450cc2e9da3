//! The opaque tokens the issuer handed out, and the ids (`jti`) of the JWTs it
//! was asked to revoke.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};

/// How introspection treats a stored token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// An access token: active for an introspecting client in its audience.
    Access,
    /// A ZITADEL personal access token: the introspecting client and the
    /// project join its audience, so it is active for every client.
    Personal,
}

/// What the issuer remembers about an opaque token.
#[derive(Debug, Clone)]
pub(super) struct StoredToken {
    pub(super) kind: TokenKind,
    pub(super) subject: String,
    pub(super) client_id: String,
    pub(super) scopes: Vec<String>,
    pub(super) audiences: Vec<String>,
    pub(super) username: String,
    /// Explicit roles; `None` means the subject's roles at introspection time.
    pub(super) roles: Option<Vec<String>>,
    /// Extra members of the introspection answer.
    pub(super) extra: Map<String, Value>,
    pub(super) issued_at: u64,
    pub(super) expires_at: u64,
    pub(super) jti: String,
}

impl StoredToken {
    fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

#[derive(Debug, Default)]
pub(super) struct TokenStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
    revoked_jtis: Mutex<HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenStore {
    /// Stores `token`, dropping the entries that have expired.
    pub(super) fn insert(&self, token: String, stored: StoredToken, now: u64) {
        let mut tokens = lock(&self.tokens);
        tokens.retain(|_, stored| !stored.is_expired(now));
        tokens.insert(token, stored);
    }

    /// The token if it is stored and not expired (an expired one is dropped).
    pub(super) fn active(&self, token: &str, now: u64) -> Option<StoredToken> {
        let mut tokens = lock(&self.tokens);
        match tokens.get(token) {
            Some(stored) if stored.is_expired(now) => {
                tokens.remove(token);
                None
            }
            stored => stored.cloned(),
        }
    }

    /// Forgets `token`; true if it was stored.
    pub(super) fn remove(&self, token: &str) -> bool {
        lock(&self.tokens).remove(token).is_some()
    }

    /// Remembers `jti` as revoked; true if it was not already.
    pub(super) fn revoke_jti(&self, jti: &str) -> bool {
        lock(&self.revoked_jtis).insert(jti.to_owned())
    }

    pub(super) fn is_revoked(&self, jti: &str) -> bool {
        lock(&self.revoked_jtis).contains(jti)
    }
}
