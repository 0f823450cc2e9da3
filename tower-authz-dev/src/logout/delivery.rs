//! Sending Logout Tokens (Back-Channel Logout 1.0 §2.5): one `POST` per
//! receiver, form-encoded, with a short timeout and no redirects.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use reqwest::redirect::Policy;
use tokio::task::JoinSet;

use super::super::state::Shared;
use super::receivers::Receiver;
use super::token::LogoutTokenBuilder;

/// How long one delivery may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Whom a session end is about: `sub`, `sid` or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndedSession {
    pub(crate) subject: Option<String>,
    pub(crate) session: Option<String>,
}

/// What happened to one Logout Token: returned by
/// [`DevIssuer::end_session`](crate::DevIssuer::end_session) and
/// [`DevIssuer::logout_subject`](crate::DevIssuer::logout_subject), one per
/// registered receiver.
///
/// The [`Debug`] output does not show the token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogoutDelivery {
    /// The receiver's client id: the token's `aud`.
    pub client_id: String,
    /// Where the token was posted.
    pub uri: String,
    /// The Logout Token that was posted; `None` if it could not be signed.
    pub logout_token: Option<String>,
    /// How the receiver answered.
    pub outcome: DeliveryOutcome,
}

impl fmt::Debug for LogoutDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutDelivery")
            .field("client_id", &self.client_id)
            .field("uri", &self.uri)
            .field(
                "logout_token",
                &self.logout_token.as_ref().map(|_| "<redacted>"),
            )
            .field("outcome", &self.outcome)
            .finish()
    }
}

impl LogoutDelivery {
    /// Whether the receiver took the token ([`DeliveryOutcome::Delivered`]).
    pub fn is_delivered(&self) -> bool {
        self.outcome == DeliveryOutcome::Delivered
    }
}

/// How a receiver answered a Logout Token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// `200 OK`, or `204 No Content`, which Back-Channel Logout 1.0 §2.8 asks
    /// OPs to take as success too.
    Delivered,
    /// Another status, e.g. `400` (the receiver refused the token) or a
    /// redirect (never followed).
    Rejected {
        /// The status code of the answer.
        status: u16,
    },
    /// No answer: the connection failed, no answer came within 2 seconds,
    /// or the token could not be signed. The reason, for messages.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

/// Signs one Logout Token per receiver about `ended` and posts them all at
/// once; the outcomes in the order of `receivers`.
pub(super) async fn deliver(
    shared: &Arc<Shared>,
    receivers: Vec<Receiver>,
    ended: &EndedSession,
) -> Vec<LogoutDelivery> {
    if receivers.is_empty() {
        return Vec::new();
    }
    let client = shared.logout.client(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(Policy::none())
            .no_proxy()
            .build()
    });
    let mut deliveries: Vec<LogoutDelivery> = Vec::with_capacity(receivers.len());
    let mut posts = JoinSet::new();
    for (index, receiver) in receivers.into_iter().enumerate() {
        let token = logout_token(shared, &receiver.client_id, ended).sign();
        let outcome = match (&client, &token) {
            (_, Err(error)) => Some(failed(format!("cannot sign the logout token: {error}"))),
            (Err(error), _) => Some(failed(format!("no HTTP client: {error}"))),
            (Ok(client), Ok(token)) => {
                shared.logout_deliveries.fetch_add(1, Ordering::SeqCst);
                let post = post(client.clone(), receiver.uri.clone(), token.clone());
                posts.spawn(async move { (index, post.await) });
                None
            }
        };
        deliveries.push(LogoutDelivery {
            client_id: receiver.client_id,
            uri: receiver.uri.into(),
            logout_token: token.ok(),
            // Replaced when the post ends.
            outcome: outcome.unwrap_or_else(|| failed("the delivery did not end".to_owned())),
        });
    }
    while let Some(joined) = posts.join_next().await {
        match joined {
            Ok((index, outcome)) => {
                if let Some(delivery) = deliveries.get_mut(index) {
                    delivery.outcome = outcome;
                }
            }
            Err(error) => tracing::warn!(%error, "a logout delivery task failed"),
        }
    }
    for delivery in &deliveries {
        match &delivery.outcome {
            DeliveryOutcome::Delivered => {
                tracing::debug!(
                    client_id = delivery.client_id,
                    uri = delivery.uri,
                    "logout token delivered"
                );
            }
            outcome => {
                tracing::warn!(
                    client_id = delivery.client_id,
                    uri = delivery.uri,
                    ?outcome,
                    "logout token not delivered"
                );
            }
        }
    }
    deliveries
}

/// The Logout Token for the receiver `client_id` about `ended`: `sub` and
/// `sid` when known (`backchannel_logout_session_required` is honoured by
/// always sending a known `sid`).
fn logout_token(shared: &Arc<Shared>, client_id: &str, ended: &EndedSession) -> LogoutTokenBuilder {
    let builder = LogoutTokenBuilder::new(Arc::clone(shared)).audience(client_id);
    let builder = match &ended.subject {
        Some(subject) => builder.subject(subject.as_str()),
        None => builder.remove_claim("sub"),
    };
    match &ended.session {
        Some(session) => builder.session(session.as_str()),
        None => builder,
    }
}

/// `POST uri` with `logout_token=...`.
async fn post(client: reqwest::Client, uri: reqwest::Url, token: String) -> DeliveryOutcome {
    let answer = client
        .post(uri)
        .form(&[("logout_token", token)])
        .send()
        .await;
    match answer {
        Ok(response) => match response.status() {
            StatusCode::OK | StatusCode::NO_CONTENT => DeliveryOutcome::Delivered,
            status => DeliveryOutcome::Rejected {
                status: status.as_u16(),
            },
        },
        Err(error) => failed(chain(&error)),
    }
}

/// An error and its sources, `": "`-separated (reqwest's own text names the
/// URL, never the body; the cause, e.g. "Connection refused", is a source).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn failed(reason: String) -> DeliveryOutcome {
    DeliveryOutcome::Failed { reason }
}
