//! The registered back-channel logout receivers: a client id and its
//! `backchannel_logout_uri`.

use std::sync::{Mutex, MutexGuard, PoisonError};

use reqwest::Url;

/// A receiver of Logout Tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Receiver {
    /// The client id: the `aud` of the tokens it receives.
    pub(super) client_id: String,
    /// Where the tokens are posted (a checked loopback URL).
    pub(super) uri: Url,
}

/// The receivers of a [`DevIssuer`](crate::DevIssuer), in registration order,
/// and the HTTP client that posts to them.
#[derive(Debug, Default)]
pub(crate) struct Receivers {
    entries: Mutex<Vec<Receiver>>,
    /// Built on the first delivery, then shared (a clone shares its pool).
    client: Mutex<Option<reqwest::Client>>,
}

impl Receivers {
    fn entries(&self) -> MutexGuard<'_, Vec<Receiver>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a receiver; the same client id and URI twice is one receiver.
    pub(super) fn add(&self, receiver: Receiver) {
        let mut entries = self.entries();
        if !entries.contains(&receiver) {
            entries.push(receiver);
        }
    }

    /// The receivers of `client_id`, or every receiver with `None`.
    pub(super) fn of(&self, client_id: Option<&str>) -> Vec<Receiver> {
        self.entries()
            .iter()
            .filter(|receiver| client_id.is_none_or(|id| receiver.client_id == id))
            .cloned()
            .collect()
    }

    /// The HTTP client of the deliveries, built by `build` the first time.
    pub(super) fn client(
        &self,
        build: impl FnOnce() -> reqwest::Result<reqwest::Client>,
    ) -> reqwest::Result<reqwest::Client> {
        let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = &*client {
            return Ok(client.clone());
        }
        let built = build()?;
        *client = Some(built.clone());
        Ok(built)
    }
}
