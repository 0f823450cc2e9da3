//! Discovery: the provider's metadata document, and endpoints found in it.
//!
//! The document is looked for where RFC 8414 (OAuth 2.0 authorization server metadata) and
//! OpenID Connect Discovery 1.0 put it, in the order RFC 8414 §5 gives (see
//! [`fetch::metadata_urls`]); the next location is tried only while the ones before answer
//! that they have no document (a 4xx, or something other than a JSON object). A document's
//! `issuer` must equal the configured issuer exactly (RFC 8414 §3.3, OpenID Connect Discovery
//! §4.3), or nothing in it is trusted: a document for another issuer is a failure, never a
//! reason to look elsewhere.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::{AuthError, ConfigError};
use crate::provider::fetch::{self, HttpFetcher};
use crate::provider::single_flight::SingleFlight;
use crate::provider::url::{ProviderUrl, require_https};

/// Fetches the metadata of `issuer` from the first of `locations` that has a document, and
/// checks its `issuer`: the document and where it was found.
async fn fetch_metadata(
    http: &HttpFetcher,
    issuer: &str,
    locations: &[Url],
) -> Result<(Value, Url), AuthError> {
    for location in locations {
        let Some(document) = http
            .get_document(location, crate::telemetry::ProviderEndpoint::Discovery)
            .await?
        else {
            tracing::debug!(%location, "no metadata document here; trying the next location");
            continue;
        };
        let stated = document.get("issuer").and_then(Value::as_str);
        if stated != Some(issuer) {
            return Err(
                AuthError::upstream("the discovery document is for another issuer").with_source(
                    format!(
                        "expected issuer {issuer:?}, the metadata at {location} says {stated:?}"
                    ),
                ),
            );
        }
        return Ok((document, location.clone()));
    }
    Err(
        AuthError::upstream("the identity provider publishes no discovery document")
            .with_source(format!("none of {} locations has one", locations.len())),
    )
}

/// The URL in field `field` of the discovery document fetched from `discovery`.
///
/// An endpoint of an `https://` issuer must be `https://`. An `http://` issuer (a loopback
/// host, or one allowed by [`ProviderUrl::allow_insecure_http`]) may name `http://` endpoints
/// to a loopback host, or to any host with that opt-out (`insecure_http`).
pub(crate) fn endpoint(
    document: &Value,
    field: &'static str,
    discovery: &Url,
    insecure_http: bool,
) -> Result<Url, AuthError> {
    let missing = || {
        AuthError::upstream("the discovery document lacks an endpoint this verifier needs")
            .with_source(format!("no `{field}`"))
    };
    let url = document
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(missing)?;
    let url = fetch::parse_url(url, field).map_err(|e| {
        AuthError::upstream("the discovery document has an invalid endpoint URL").with_source(e)
    })?;
    if url.scheme() == "http" {
        let refused = if discovery.scheme() == "https" {
            Some("the https issuer's discovery document names a plain http endpoint")
        } else if require_https(&url, field, insecure_http).is_err() {
            Some("the discovery document names a plain http endpoint on a non-loopback host")
        } else {
            None
        };
        if let Some(reason) = refused {
            tracing::warn!(
                field,
                discovery_document = %discovery,
                endpoint_host = url.host_str(),
                "{reason}: refused (use https, or ProviderUrl::allow_insecure_http for an http \
                 issuer on a trusted network)"
            );
            return Err(AuthError::upstream(
                "the discovery document names an insecure http endpoint",
            )
            .with_source(format!("`{field}` is http://")));
        }
    }
    Ok(url)
}

/// An endpoint URL, either configured or found by discovery on first use.
///
/// Discovery runs once for all concurrent callers (in its own task, so a cancelled request does
/// not cancel it). After a failure, callers are answered at once with a 503 until `retry` has
/// passed, so a provider that is down never holds requests in a queue behind one another.
#[derive(Clone)]
pub(crate) struct Endpoint(Arc<Inner>);

enum Inner {
    Fixed(Url),
    Discovered {
        issuer: String,
        /// Where the metadata may be, in the order tried.
        locations: Vec<Url>,
        field: &'static str,
        /// The issuer's opt-out, which its `http://` endpoints need off loopback.
        insecure_http: bool,
        state: Mutex<State>,
    },
}

/// What a readiness check sees of an [`Endpoint`] (the introspection endpoint's).
#[cfg(feature = "introspection")]
pub(crate) struct EndpointReadiness {
    /// Configured, or discovered.
    pub(crate) known: bool,
    /// A discovery is in flight.
    pub(crate) discovering: bool,
    /// After a failed discovery, when the next may start.
    pub(crate) next_attempt: Option<Instant>,
}

#[derive(Default)]
struct State {
    known: Option<Url>,
    in_flight: SingleFlight<Result<Url, AuthError>>,
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Inner::Fixed(url) => f.debug_tuple("Fixed").field(&url.as_str()).finish(),
            Inner::Discovered { issuer, field, .. } => f
                .debug_struct("Discovered")
                .field("issuer", issuer)
                .field("field", field)
                .finish(),
        }
    }
}

impl Endpoint {
    /// A configured URL: `https://`, or `http://` to a loopback host or with the opt-out.
    pub(crate) fn fixed(url: &ProviderUrl, what: &'static str) -> Result<Self, ConfigError> {
        Ok(Self(Arc::new(Inner::Fixed(url.parse(what)?))))
    }

    /// The URL in `field` of `issuer`'s discovery document; the issuer must be `https://`, or
    /// `http://` to a loopback host or with the opt-out.
    pub(crate) fn discovered(
        issuer: &ProviderUrl,
        field: &'static str,
    ) -> Result<Self, ConfigError> {
        issuer.parse("issuer")?;
        let locations = fetch::metadata_urls(issuer.as_str())?;
        Ok(Self(Arc::new(Inner::Discovered {
            issuer: issuer.as_str().to_owned(),
            locations,
            field,
            insecure_http: issuer.allows_insecure_http(),
            state: Mutex::new(State::default()),
        })))
    }

    /// The URL, discovering it if needed; after a failed discovery, not again before `retry`.
    pub(crate) async fn get(&self, http: &HttpFetcher, retry: Duration) -> Result<Url, AuthError> {
        match &*self.0 {
            Inner::Fixed(url) => Ok(url.clone()),
            Inner::Discovered { state, .. } => {
                let lookup = {
                    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(url) = &state.known {
                        return Ok(url.clone());
                    }
                    match state.in_flight.joined() {
                        Some(lookup) => lookup,
                        None => {
                            if let Some(failed_at) = state.failed_at {
                                let since = failed_at.elapsed();
                                if since < retry {
                                    return Err(AuthError::upstream(
                                        "the identity provider's discovery document is not available",
                                    )
                                    .with_retry_after(retry - since));
                                }
                            }
                            self.start_lookup(&mut state, http)?
                        }
                    }
                };
                // The next attempt is `retry` away: say so to the client.
                lookup.await.map_err(|error| match error.retry_after() {
                    Some(_) => error,
                    None => error.with_retry_after(retry),
                })
            }
        }
    }

    fn start_lookup(
        &self,
        state: &mut State,
        http: &HttpFetcher,
    ) -> Result<crate::provider::single_flight::Flight<Result<Url, AuthError>>, AuthError> {
        let Inner::Discovered {
            issuer,
            locations,
            field,
            insecure_http,
            ..
        } = &*self.0
        else {
            return Err(AuthError::upstream("nothing to discover"));
        };
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| AuthError::upstream("discovery needs a Tokio runtime"))?;
        let (endpoint, http) = (self.clone(), http.clone());
        let (issuer, locations, field) = (issuer.clone(), locations.clone(), *field);
        let insecure_http = *insecure_http;
        let work = async move {
            fetch_metadata(&http, &issuer, &locations)
                .await
                .and_then(|(doc, found)| self::endpoint(&doc, field, &found, insecure_http))
        };
        Ok(state.in_flight.start(
            runtime,
            work,
            move |found| endpoint.settle(found),
            |e| Err(AuthError::upstream("discovery did not complete").with_source(e)),
        ))
    }

    /// For readiness: whether the URL is known, whether discovery is in flight, and when the
    /// next discovery may start if that is later than now. Starts discovery in the background
    /// when a request would ([`get`](Self::get): not known, none in flight, `retry` passed
    /// since the last failure).
    #[cfg(feature = "introspection")]
    pub(crate) fn readiness(&self, http: &HttpFetcher, retry: Duration) -> EndpointReadiness {
        let Inner::Discovered { state, .. } = &*self.0 else {
            return EndpointReadiness {
                known: true,
                discovering: false,
                next_attempt: None,
            };
        };
        let (known, discovering, failed_at) = {
            let state = state.lock().unwrap_or_else(PoisonError::into_inner);
            (
                state.known.is_some(),
                state.in_flight.joined().is_some(),
                state.failed_at,
            )
        };
        let next_attempt = failed_at
            .and_then(|failed| failed.checked_add(retry))
            .filter(|at| *at > Instant::now());
        if !known
            && !discovering
            && next_attempt.is_none()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (endpoint, http) = (self.clone(), http.clone());
            runtime.spawn(async move {
                // The answer is kept (or the failure's time) by `get` itself.
                let _ = endpoint.get(&http, retry).await;
            });
        }
        EndpointReadiness {
            known,
            discovering,
            next_attempt,
        }
    }

    /// The lookup ended: keeps the URL found, or the time of the failure (also when the task
    /// panicked or was dropped), and lets the next lookup start.
    fn settle(&self, found: Option<&Result<Url, AuthError>>) {
        if let Inner::Discovered { state, .. } = &*self.0 {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.in_flight.clear();
            match found {
                Some(Ok(url)) => state.known = Some(url.clone()),
                Some(Err(_)) | None => state.failed_at = Some(Instant::now()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn discovered_endpoints_keep_to_https() {
        let doc = |jwks: &str| json!({ "jwks_uri": jwks });
        let https = url("https://id.example.com/.well-known/openid-configuration");
        let loopback = url("http://127.0.0.1:8080/.well-known/openid-configuration");
        let compose = url("http://keycloak:8080/.well-known/openid-configuration");
        let found = |discovery: &Url, jwks: &str, insecure: bool| {
            endpoint(&doc(jwks), "jwks_uri", discovery, insecure)
        };
        assert!(found(&https, "https://keys.example.com/jwks", false).is_ok());
        // An https issuer never hands out http, not even to a loopback host, not even opted out.
        for insecure in [false, true] {
            for jwks in ["http://id.example.com/jwks", "http://127.0.0.1/jwks"] {
                let error = found(&https, jwks, insecure).expect_err(jwks);
                assert_eq!(error.kind(), crate::AuthErrorKind::Upstream);
            }
        }
        // An http issuer: loopback endpoints, or any with the issuer's opt-out.
        assert!(found(&loopback, "http://localhost:8080/jwks", false).is_ok());
        assert!(found(&loopback, "http://id.example.com/jwks", false).is_err());
        assert!(found(&compose, "http://keycloak:8080/jwks", true).is_ok());
        assert!(found(&compose, "https://keycloak:8443/jwks", false).is_ok());
        assert!(found(&https, "ftp://keys.example.com/jwks", false).is_err());
    }

    #[test]
    fn endpoints_check_the_https_rule_at_construction() {
        let refused = |url: ProviderUrl| {
            Endpoint::discovered(&url, "jwks_uri")
                .err()
                .map(|e| e.kind())
        };
        assert_eq!(
            refused("http://id.example.com".into()),
            Some(crate::ConfigErrorKind::InsecureUrl)
        );
        assert_eq!(
            refused(ProviderUrl::allow_insecure_http("http://id.example.com")),
            None
        );
        assert_eq!(refused("http://[::1]:9011".into()), None);
        let fixed = Endpoint::fixed(&"http://id.example.com/keys".into(), "JWKS URL");
        assert_eq!(
            fixed.err().map(|e| e.kind()),
            Some(crate::ConfigErrorKind::InsecureUrl)
        );
    }
}
