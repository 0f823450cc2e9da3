//! The token cache every OAuth provider shares: one token, refreshed ahead of its expiry, with
//! concurrent callers sharing one refresh.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::AccessToken;
use super::error::{TokenError, TokenErrorKind};
use super::grant::Grant;
use crate::provider::single_flight::{Flight, SingleFlight};

/// How long before expiry a token is refreshed, at most. Default: 60 seconds.
pub(crate) const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// How long a token without `expires_in` is used before it is refreshed.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The shortest lifetime a token is given, whatever `expires_in` said (zero, negative, 1 s):
/// refreshed after half of it, so a provider that answers `expires_in: 0` costs one token
/// request every 5 seconds, not one per call. A token that really lives shorter is used past
/// its expiry for at most this long.
pub(crate) const MIN_LIFETIME: Duration = Duration::from_secs(10);
/// The longest lifetime a token is given, whatever `expires_in` said (`u64::MAX` included).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a token is held: `expires_in`, or [`DEFAULT_LIFETIME`] without one, clamped into
/// [[`MIN_LIFETIME`], [`MAX_LIFETIME`]].
pub(crate) fn lifetime(expires_in: Option<Duration>) -> Duration {
    let Some(expires_in) = expires_in else {
        return DEFAULT_LIFETIME;
    };
    let lifetime = expires_in.clamp(MIN_LIFETIME, MAX_LIFETIME);
    if lifetime != expires_in {
        tracing::warn!(
            expires_in_secs = expires_in.as_secs_f64(),
            held_for_secs = lifetime.as_secs(),
            "the token endpoint's expires_in is out of bounds; the token is held for the nearest bound"
        );
    }
    lifetime
}

type Refresh = Flight<Result<AccessToken, TokenError>>;

/// A grant, the token it last produced, and the refresh in flight.
pub(crate) struct Refreshing<G> {
    pub(crate) grant: Arc<G>,
    pub(crate) refresh_ahead: Duration,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    current: Option<AccessToken>,
    in_flight: SingleFlight<Result<AccessToken, TokenError>>,
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
            let refresh = match state.in_flight.joined() {
                Some(refresh) => refresh,
                None => self.start_refresh(&mut state)?,
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

    /// The shared refresh: on its first poll (outside the state lock, which its landing takes
    /// if the task is dropped at once, as on a runtime that is shutting down) it spawns the
    /// token request as a task, so the request goes on even if every caller gives up.
    fn start_refresh(&self, state: &mut State) -> Result<Refresh, TokenError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            TokenError::new(
                TokenErrorKind::Internal,
                "obtaining a token needs a Tokio runtime",
            )
        })?;
        let (grant, held) = (Arc::clone(&self.grant), Arc::clone(&self.state));
        let work = async move {
            grant.request().await.map(|issued| {
                let lifetime = lifetime(issued.expires_in);
                let now = Instant::now();
                // `lifetime` is at most a day, so this cannot overflow; if it ever did, the
                // token counts as expired rather than everlasting.
                let expires_at = now.checked_add(lifetime).unwrap_or(now);
                AccessToken::new(issued.access_token, Some(expires_at), lifetime)
                    .bound_to(issued.dpop)
            })
        };
        Ok(state.in_flight.start(
            runtime,
            work,
            move |answer| finish(&held, answer),
            |e| {
                Err(TokenError::new(
                    TokenErrorKind::Internal,
                    "the token request did not complete",
                )
                .with_source(e))
            },
        ))
    }
}

/// The refresh task ended, however it ended (finished, panicked or dropped: cancelled, or its
/// runtime shut down): keeps its token, if any, and lets the next refresh start. Without it a
/// dead task would stay the shared refresh that every later call awaits, and fails on, forever.
fn finish(state: &Mutex<State>, answer: Option<&Result<AccessToken, TokenError>>) {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.in_flight.clear();
    if let Some(Ok(token)) = answer {
        state.current = Some(token.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::client::grant::Issued;

    /// A grant whose first request misbehaves as `first` says; later requests issue a token.
    #[derive(Clone, Debug)]
    struct Scripted {
        calls: Arc<AtomicUsize>,
        first: First,
    }

    #[derive(Clone, Copy, Debug)]
    enum First {
        Panics,
        Hangs,
    }

    #[async_trait]
    impl Grant for Scripted {
        async fn request(&self) -> Result<Issued, TokenError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                match self.first {
                    First::Panics => panic!("the grant panicked"),
                    First::Hangs => std::future::pending::<()>().await,
                }
            }
            Ok(Issued {
                access_token: "fresh".to_owned(),
                expires_in: Some(Duration::from_secs(3600)),
                dpop: None,
            })
        }
    }

    fn refreshing(first: First) -> (Refreshing<Scripted>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let grant = Scripted {
            calls: Arc::clone(&calls),
            first,
        };
        (Refreshing::new(grant), calls)
    }

    #[tokio::test]
    async fn a_panicking_refresh_fails_its_callers_but_not_the_next_call() {
        let (tokens, calls) = refreshing(First::Panics);
        let error = tokens.token().await.expect_err("the refresh panicked");
        assert_eq!(error.kind(), TokenErrorKind::Internal);
        let token = tokens.token().await.expect("a new refresh");
        assert_eq!(token.as_str(), "fresh");
        tokens.token().await.expect("cached");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_refresh_dropped_with_its_runtime_does_not_wedge_later_calls() {
        let (tokens, calls) = refreshing(First::Hangs);
        let runtime = |()| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
        };
        let first = runtime(());
        first.block_on(async {
            let gave_up = tokio::time::timeout(Duration::from_millis(50), tokens.token()).await;
            assert!(gave_up.is_err(), "the first request hangs");
        });
        // The hanging task is dropped, not finished.
        drop(first);
        let token = runtime(()).block_on(tokens.token()).expect("a new refresh");
        assert_eq!(token.as_str(), "fresh");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn lifetimes_are_clamped() {
        assert_eq!(lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(Duration::ZERO)), MIN_LIFETIME);
        assert_eq!(lifetime(Some(Duration::from_secs(1))), MIN_LIFETIME);
        assert_eq!(
            lifetime(Some(Duration::from_secs(3600))),
            Duration::from_secs(3600)
        );
        assert_eq!(lifetime(Some(Duration::from_secs(u64::MAX))), MAX_LIFETIME);
        assert_eq!(lifetime(Some(Duration::MAX)), MAX_LIFETIME);
    }
}
