//! The token cache every OAuth provider shares: one token, refreshed ahead of its expiry, with
//! concurrent callers sharing one refresh.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use super::AccessToken;
use super::error::{TokenError, TokenErrorKind};
use super::grant::Grant;

/// How long before expiry a token is refreshed, at most. Default: 60 seconds.
pub(crate) const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// How long a token without `expires_in` is used before it is refreshed.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 60);

type Refresh = Shared<BoxFuture<'static, Result<AccessToken, TokenError>>>;

/// A grant, the token it last produced, and the refresh in flight.
pub(crate) struct Refreshing<G> {
    pub(crate) grant: Arc<G>,
    pub(crate) refresh_ahead: Duration,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    current: Option<AccessToken>,
    in_flight: Option<Refresh>,
}

impl<G: fmt::Debug> fmt::Debug for Refreshing<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refreshing")
            .field("grant", &self.grant)
            .field("refresh_ahead", &self.refresh_ahead)
            .finish_non_exhaustive()
    }
}

impl<G: Grant + Clone> Refreshing<G> {
    pub(crate) fn new(grant: G) -> Self {
        Self {
            grant: Arc::new(grant),
            refresh_ahead: DEFAULT_REFRESH_AHEAD,
            state: Arc::default(),
        }
    }

    /// The grant, to configure it (cloned if a refresh task still holds it).
    pub(crate) fn grant_mut(&mut self) -> &mut G {
        Arc::make_mut(&mut self.grant)
    }

    /// A token that is good for at least the refresh margin, refreshing it if needed.
    pub(crate) async fn token(&self) -> Result<AccessToken, TokenError> {
        let (refresh, held) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let held = state.current.clone();
            if let Some(token) = &held
                && !token.needs_refresh(self.refresh_ahead)
            {
                return Ok(token.clone());
            }
            let refresh = match &state.in_flight {
                Some(refresh) => refresh.clone(),
                None => {
                    let refresh = self.spawn_refresh()?;
                    state.in_flight = Some(refresh.clone());
                    refresh
                }
            };
            (refresh, held)
        };
        match refresh.await {
            Ok(token) => Ok(token),
            // A refresh ahead of expiry failed but the held token is still valid: use it (the
            // next call tries again). An expired token is never handed out.
            Err(error) => match held.filter(|token| !token.is_expired()) {
                Some(token) => {
                    tracing::warn!(%error, "token refresh failed; using the held token until it expires");
                    Ok(token)
                }
                None => Err(error),
            },
        }
    }

    fn spawn_refresh(&self) -> Result<Refresh, TokenError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            TokenError::new(
                TokenErrorKind::Internal,
                "obtaining a token needs a Tokio runtime",
            )
        })?;
        let (grant, state) = (Arc::clone(&self.grant), Arc::clone(&self.state));
        let task = runtime.spawn(async move {
            let result = grant.request().await.map(|issued| {
                let lifetime = issued.expires_in.unwrap_or(DEFAULT_LIFETIME);
                AccessToken::new(
                    issued.access_token,
                    Some(Instant::now() + lifetime),
                    lifetime,
                )
            });
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.in_flight = None;
            if let Ok(token) = &result {
                state.current = Some(token.clone());
            }
            result
        });
        Ok(task
            .map(|joined| {
                joined.unwrap_or_else(|e| {
                    Err(TokenError::new(
                        TokenErrorKind::Internal,
                        "the token request did not complete",
                    )
                    .with_source(e))
                })
            })
            .boxed()
            .shared())
    }
}
