//! What the FusionAuth face remembers: applications, pending authorization
//! codes and refresh tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::app::FusionAuthApp;

/// A login: what a code or a refresh token stands for.
#[derive(Debug, Clone)]
pub(super) struct Grant {
    pub(super) application_id: String,
    pub(super) login_id: String,
    pub(super) scopes: Vec<String>,
    /// The session id (`sid`), the same for every token of this login.
    pub(super) session_id: String,
    /// When the user logged in (`auth_time`, Unix seconds).
    pub(super) auth_time: u64,
}

impl Grant {
    pub(super) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// An authorization code issued by the login form, redeemed by `/app/callback`.
#[derive(Debug, Clone)]
pub(super) struct PendingCode {
    pub(super) grant: Grant,
    /// Where `/app/callback` sends the browser (a checked loopback URL).
    pub(super) redirect_uri: String,
    pub(super) state: Option<String>,
    pub(super) expires_at: u64,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    grant: Grant,
    expires_at: u64,
}

#[derive(Debug, Default)]
struct Entries {
    apps: HashMap<String, Arc<FusionAuthApp>>,
    codes: HashMap<String, PendingCode>,
    refresh_tokens: HashMap<String, RefreshToken>,
}

/// The FusionAuth applications of a [`DevIssuer`](crate::DevIssuer) and
/// their logins.
#[derive(Debug, Default)]
pub(crate) struct Store {
    entries: Mutex<Entries>,
}

impl Store {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn add_app(&self, app: FusionAuthApp) {
        self.lock()
            .apps
            .insert(app.application_id.clone(), Arc::new(app));
    }

    pub(super) fn app(&self, application_id: &str) -> Option<Arc<FusionAuthApp>> {
        self.lock().apps.get(application_id).cloned()
    }

    pub(super) fn apps(&self) -> Vec<Arc<FusionAuthApp>> {
        self.lock().apps.values().cloned().collect()
    }

    /// Whether any application allows `origin` (CORS).
    pub(super) fn allows_origin(&self, origin: &str) -> bool {
        self.lock()
            .apps
            .values()
            .any(|app| app.allowed_origins.iter().any(|o| o == origin))
    }

    /// Stores a code, dropping the expired ones.
    pub(super) fn insert_code(&self, code: String, pending: PendingCode, now: u64) {
        let mut entries = self.lock();
        entries.codes.retain(|_, pending| pending.expires_at > now);
        entries.codes.insert(code, pending);
    }

    /// Redeems a code: it is forgotten whatever happens, and returned if
    /// unexpired.
    pub(super) fn take_code(&self, code: &str, now: u64) -> Option<PendingCode> {
        self.lock()
            .codes
            .remove(code)
            .filter(|pending| pending.expires_at > now)
    }

    /// Stores a refresh token, dropping the expired ones.
    pub(super) fn insert_refresh_token(
        &self,
        token: String,
        grant: Grant,
        expires_at: u64,
        now: u64,
    ) {
        let mut entries = self.lock();
        entries.refresh_tokens.retain(|_, rt| rt.expires_at > now);
        entries
            .refresh_tokens
            .insert(token, RefreshToken { grant, expires_at });
    }

    /// The login a refresh token stands for, if it is known and unexpired.
    pub(super) fn refresh_token(&self, token: &str, now: u64) -> Option<Grant> {
        self.lock()
            .refresh_tokens
            .get(token)
            .filter(|rt| rt.expires_at > now)
            .map(|rt| rt.grant.clone())
    }

    /// Forgets a refresh token; true if it was known.
    pub(super) fn revoke_refresh_token(&self, token: &str) -> bool {
        self.lock().refresh_tokens.remove(token).is_some()
    }
}
