//! OpenID Connect Back-Channel Logout 1.0, the OP's side: receivers
//! registered per client, Logout Tokens sent when a session ends
//! ([`DevIssuer::end_session`], [`DevIssuer::logout_subject`], FusionAuth's
//! `/app/logout/{clientId}` and RP-Initiated Logout at
//! `/oidc/v1/end_session`), and [`LogoutTokenBuilder`] for crafted tokens.

mod delivery;
mod end_session;
mod receivers;
mod token;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;

use super::DevIssuer;
use super::loopback::loopback_url;
use super::reply::simulate_faults;
use super::state::{END_SESSION_PATH, Shared};

pub(crate) use delivery::EndedSession;
pub use delivery::{DeliveryOutcome, LogoutDelivery};
pub(crate) use receivers::Receivers;
pub use token::{BACKCHANNEL_LOGOUT_EVENT, LogoutTokenBuilder};

impl DevIssuer {
    /// Registers `uri` as a back-channel logout receiver of the client
    /// `client_id` (its `backchannel_logout_uri`): when a session ends, a
    /// Logout Token with `aud` = `client_id` is posted there. An OP keeps one
    /// URI per client; several are allowed here (e.g. one per replica of a
    /// service), each getting its own token. Registering the same pair twice
    /// adds it once. A known `sid` is always sent
    /// (`backchannel_logout_session_required`).
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] unless `uri` is an absolute `http(s)`
    /// URL on a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), like
    /// every redirect URI of the dev issuer, without a fragment (§2.2).
    pub fn add_backchannel_logout(&self, client_id: &str, uri: &str) -> io::Result<()> {
        // Back-Channel Logout 1.0 §2.2: the URI must not have a fragment.
        let url = loopback_url(Some(uri))
            .filter(|url| url.fragment().is_none())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a back-channel logout URI must be an absolute http(s) URL on a loopback host, without a fragment, not {uri:?}"
                    ),
                )
            })?;
        self.shared.logout.add(receivers::Receiver {
            client_id: client_id.to_owned(),
            uri: url,
        });
        Ok(())
    }

    /// The RP-Initiated Logout endpoint: issuer + `/oidc/v1/end_session`
    /// (ZITADEL's path), the discovery document's `end_session_endpoint`.
    pub fn end_session_endpoint(&self) -> String {
        self.shared.url(END_SESSION_PATH)
    }

    /// A [`LogoutTokenBuilder`] with this issuer's defaults, to craft Logout
    /// Tokens for a receiver's tests (valid ones and every kind of invalid
    /// one).
    pub fn logout_token(&self) -> LogoutTokenBuilder {
        LogoutTokenBuilder::new(Arc::clone(&self.shared))
    }

    /// Ends the session `session` (`sid`) of `subject` (`sub`): posts a
    /// Logout Token with both to every registered receiver, at once, and
    /// waits for the answers (at most 2 seconds each). Returns one
    /// [`LogoutDelivery`] per receiver, in registration order; a receiver
    /// that is down or slow is a [`DeliveryOutcome::Failed`], never a hang
    /// or a panic.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// let issuer = tower_authz_dev::DevIssuer::start().await?;
    /// let access_token = issuer.token().subject("alice").session("s-1").sign()?;
    /// // ... the service under test accepts it, then the session ends:
    /// let deliveries = issuer.end_session("alice", "s-1").await;
    /// assert!(deliveries.is_empty()); // no receiver registered here
    /// # let _ = access_token;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })
    /// # }
    /// ```
    pub async fn end_session(&self, subject: &str, session: &str) -> Vec<LogoutDelivery> {
        let ended = EndedSession {
            subject: Some(subject.to_owned()),
            session: Some(session.to_owned()),
        };
        send(&self.shared, &ended, None).await
    }

    /// Ends every session of `subject`: like [`end_session`](Self::end_session)
    /// with a Logout Token that carries `sub` and no `sid`.
    pub async fn logout_subject(&self, subject: &str) -> Vec<LogoutDelivery> {
        let ended = EndedSession {
            subject: Some(subject.to_owned()),
            session: None,
        };
        send(&self.shared, &ended, None).await
    }

    /// How many Logout Tokens the issuer has posted, whatever the answer (a
    /// receiver that is down counts too); a token that could not be signed
    /// was not posted.
    pub fn logout_deliveries(&self) -> usize {
        self.shared.logout_deliveries.load(Ordering::SeqCst)
    }
}

/// Sends the Logout Tokens of `ended` to the receivers of `client_id`, or to
/// every receiver with `None`.
pub(crate) async fn send(
    shared: &Arc<Shared>,
    ended: &EndedSession,
    client_id: Option<&str>,
) -> Vec<LogoutDelivery> {
    let receivers = shared.logout.of(client_id);
    delivery::deliver(shared, receivers, ended).await
}

/// `/oidc/v1/end_session`, behind the outage switch.
pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route(
            END_SESSION_PATH,
            get(end_session::end_session_get).post(end_session::end_session_post),
        )
        .route_layer(from_fn_with_state(shared, simulate_faults))
}
