//! One request to a token endpoint (RFC 6749 §4.4, RFC 7523 §2.1) and its answer.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::dpop::DpopKey;
use super::error::{TokenError, TokenErrorKind};
use crate::credentials::{ClientAuth, ServiceAccountKey};
use crate::provider::discovery::Endpoint;
use crate::provider::fetch::{self, FormAnswer, HttpFetcher};
use crate::provider::url::ProviderUrl;

/// How long after a failed discovery it is retried, by default.
const DISCOVERY_RETRY: Duration = Duration::from_secs(5);
/// The largest token response accepted.
const MAX_RESPONSE: usize = 64 * 1024;

/// A fresh token and how long the token endpoint said it lives.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) expires_in: Option<Duration>,
    /// The key the token is bound to (`token_type` `DPoP`).
    pub(crate) dpop: Option<DpopKey>,
}

/// A way to obtain a token from a token endpoint.
#[async_trait]
pub(crate) trait Grant: Send + Sync + 'static {
    async fn request(&self) -> Result<Issued, TokenError>;
}

/// What every grant shares: where the token endpoint is and how to reach it.
#[derive(Clone, Debug)]
pub(crate) struct TokenEndpoint {
    pub(crate) endpoint: Endpoint,
    pub(crate) http: HttpFetcher,
    /// `aud` of assertions: the issuer (ZITADEL) or the token endpoint.
    pub(crate) audience: String,
    /// How long after a failed discovery it is tried again.
    pub(crate) retry: Duration,
    /// The key that DPoP-binds the tokens (RFC 9449), if any.
    pub(crate) dpop: Option<DpopKey>,
}

/// The HTTP client for a token endpoint: the default timeout, the token-response cap.
fn token_endpoint_fetcher() -> Result<HttpFetcher, crate::ConfigError> {
    let mut http = HttpFetcher::new(fetch::DEFAULT_TIMEOUT)?;
    http.set_max_body(MAX_RESPONSE);
    Ok(http)
}

impl TokenEndpoint {
    pub(crate) fn discover(issuer: &ProviderUrl) -> Result<Self, crate::ConfigError> {
        Ok(Self {
            endpoint: Endpoint::discovered(issuer, "token_endpoint")?,
            http: token_endpoint_fetcher()?,
            audience: issuer.as_str().to_owned(),
            retry: DISCOVERY_RETRY,
            dpop: None,
        })
    }

    pub(crate) fn fixed(token_endpoint: &ProviderUrl) -> Result<Self, crate::ConfigError> {
        Ok(Self {
            endpoint: Endpoint::fixed(token_endpoint, "token endpoint")?,
            http: token_endpoint_fetcher()?,
            audience: token_endpoint.as_str().to_owned(),
            retry: DISCOVERY_RETRY,
            dpop: None,
        })
    }

    /// POSTs the form `form()` builds (plus the client authentication, if any) and reads the
    /// token response. With a DPoP key, the request carries a proof (with the server's latest
    /// nonce), and a `use_dpop_nonce` refusal with a new `DPoP-Nonce` is retried once with a
    /// fresh form and proof (RFC 9449 §8).
    async fn post(
        &self,
        form: impl Fn() -> Result<Vec<(&'static str, String)>, TokenError> + Send + Sync,
        auth: Option<&ClientAuth>,
    ) -> Result<Issued, TokenError> {
        let url = self.endpoint.get(&self.http, self.retry).await?;
        let mut retried = false;
        loop {
            let proof = match &self.dpop {
                Some(key) => Some(dpop_header(key.proof_for("POST", url.as_str(), None)?)?),
                None => None,
            };
            let answered = self
                .http
                .post_with_dpop(
                    url.clone(),
                    form()?,
                    auth,
                    &self.audience,
                    proof,
                    crate::telemetry::ProviderEndpoint::Token,
                )
                .await?;
            let new_nonce = match (&self.dpop, &answered.dpop_nonce) {
                (Some(key), Some(nonce)) => key.remember_nonce(url.as_str(), nonce),
                _ => false,
            };
            match answered.answer {
                FormAnswer::Json(answer) => {
                    return parse_token_response(&answer, self.dpop.as_ref());
                }
                FormAnswer::ClientError(status, body) => {
                    #[derive(Deserialize, Default)]
                    struct OAuthError {
                        error: Option<String>,
                        error_description: Option<String>,
                    }
                    let error: OAuthError = serde_json::from_slice(&body).unwrap_or_default();
                    if new_nonce && !retried && error.error.as_deref() == Some("use_dpop_nonce") {
                        retried = true;
                        continue;
                    }
                    return Err(TokenError::rejected(error.error, error.error_description)
                        .with_source(format!("HTTP status {status}")));
                }
            }
        }
    }
}

/// A proof as a `DPoP` header value.
fn dpop_header(proof: String) -> Result<http::HeaderValue, TokenError> {
    http::HeaderValue::try_from(proof)
        .map_err(|_| TokenError::new(TokenErrorKind::Internal, "cannot send the DPoP proof"))
}

/// Reads `{"access_token", "token_type": "Bearer", "expires_in"}`, or `"token_type": "DPoP"`
/// when the request was DPoP-bound with `dpop`.
fn parse_token_response(
    answer: &serde_json::Value,
    dpop: Option<&DpopKey>,
) -> Result<Issued, TokenError> {
    let invalid = |what: &'static str| TokenError::new(TokenErrorKind::InvalidResponse, what);
    let access_token = answer
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("the token response has no access_token"))?;
    let token_type = answer.get("token_type").and_then(|t| t.as_str());
    let is = |expected: &str| token_type.is_some_and(|t| t.eq_ignore_ascii_case(expected));
    match dpop {
        // RFC 9449 §5: a server that does not bind answers `Bearer`; refused, not sent as one.
        Some(_) if is("bearer") => {
            return Err(TokenError::new(
                TokenErrorKind::NotDpopBound,
                "DPoP was requested but the token endpoint issued a Bearer token",
            ));
        }
        Some(_) if !is("dpop") => {
            return Err(invalid("the token response is not for a DPoP token"));
        }
        None if !is("bearer") => {
            return Err(invalid("the token response is not for a Bearer token"));
        }
        _ => {}
    }
    let expires_in = match answer.get("expires_in") {
        Some(serde_json::Value::Number(n)) => read_expires_in(n.as_u64(), n.as_i64(), n.as_f64()),
        // Some providers send the number as a string.
        Some(serde_json::Value::String(s)) => {
            let s = s.trim();
            read_expires_in(s.parse().ok(), s.parse().ok(), s.parse().ok())
        }
        // Missing, `null` or not a number: the caller's default lifetime.
        _ => None,
    };
    Ok(Issued {
        access_token: access_token.to_owned(),
        expires_in,
        dpop: dpop.cloned(),
    })
}

/// `expires_in` read as the token endpoint wrote it, whole or fractional seconds, saturating:
/// negative is zero, too large for a `Duration` is `Duration::MAX`, not a finite number is
/// `None`. Whether the value is sensible is the token cache's business (it clamps it).
fn read_expires_in(whole: Option<u64>, signed: Option<i64>, real: Option<f64>) -> Option<Duration> {
    if let Some(secs) = whole {
        return Some(Duration::from_secs(secs));
    }
    if signed.is_some_and(|secs| secs < 0) {
        return Some(Duration::ZERO);
    }
    let secs = real.filter(|secs| secs.is_finite())?;
    Some(if secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    })
}

/// The client-credentials grant (RFC 6749 §4.4).
#[derive(Clone, Debug)]
pub(crate) struct ClientCredentialsGrant {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) auth: ClientAuth,
    pub(crate) scopes: Vec<String>,
    pub(crate) resources: Vec<String>,
}

#[async_trait]
impl Grant for ClientCredentialsGrant {
    async fn request(&self) -> Result<Issued, TokenError> {
        let form = || {
            let mut form = vec![("grant_type", "client_credentials".to_owned())];
            if !self.scopes.is_empty() {
                form.push(("scope", self.scopes.join(" ")));
            }
            for resource in &self.resources {
                form.push(("resource", resource.clone()));
            }
            Ok(form)
        };
        self.endpoint.post(form, Some(&self.auth)).await
    }
}

/// The JWT-bearer grant (RFC 7523 §2.1) with a service-account key.
#[derive(Clone, Debug)]
pub(crate) struct JwtBearerGrant {
    pub(crate) endpoint: TokenEndpoint,
    pub(crate) key: ServiceAccountKey,
    pub(crate) scopes: Vec<String>,
}

#[async_trait]
impl Grant for JwtBearerGrant {
    async fn request(&self) -> Result<Issued, TokenError> {
        // A fresh assertion (and `jti`) for each attempt, the nonce retry included.
        let form = || {
            let assertion = self
                .key
                .key
                .assertion(self.key.user_id(), &self.endpoint.audience)?;
            Ok(vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                ),
                ("scope", self.scopes.join(" ")),
                ("assertion", assertion),
            ])
        };
        self.endpoint.post(form, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_responses() {
        let ok = parse_token_response(
            &json!({"access_token": "t", "token_type": "bearer", "expires_in": "60"}),
            None,
        )
        .expect("ok");
        assert_eq!(ok.expires_in, Some(Duration::from_secs(60)));
        let expires_in = |value: serde_json::Value| {
            parse_token_response(
                &json!({"access_token": "t", "token_type": "Bearer", "expires_in": value}),
                None,
            )
            .expect("a token response")
            .expires_in
        };
        let secs = |secs: u64| Some(Duration::from_secs(secs));
        assert_eq!(expires_in(json!(3600)), secs(3600));
        assert_eq!(expires_in(json!(" 3600 ")), secs(3600));
        assert_eq!(expires_in(json!(u64::MAX)), secs(u64::MAX));
        assert_eq!(expires_in(json!("18446744073709551615")), secs(u64::MAX));
        assert_eq!(expires_in(json!("1e400")), None, "not finite");
        assert_eq!(expires_in(json!(1e300)), Some(Duration::MAX));
        assert_eq!(
            expires_in(json!("99999999999999999999999")),
            Some(Duration::MAX)
        );
        assert_eq!(expires_in(json!(0)), secs(0));
        assert_eq!(expires_in(json!(-5)), secs(0));
        assert_eq!(expires_in(json!("-5")), secs(0));
        assert_eq!(expires_in(json!(i64::MIN)), secs(0));
        assert_eq!(expires_in(json!(-0.5)), secs(0));
        assert_eq!(expires_in(json!(59.5)), Some(Duration::from_millis(59_500)));
        assert_eq!(
            expires_in(json!("59.5")),
            Some(Duration::from_millis(59_500))
        );
        assert_eq!(expires_in(json!(null)), None);
        assert_eq!(expires_in(json!("soon")), None);
        assert_eq!(expires_in(json!(true)), None);
        assert_eq!(
            parse_token_response(&json!({"access_token": "t", "token_type": "Bearer"}), None)
                .expect("no expires_in")
                .expires_in,
            None
        );
        for bad in [
            json!({"token_type": "Bearer"}),
            json!({"access_token": "", "token_type": "Bearer"}),
            json!({"access_token": "t", "token_type": "DPoP"}),
            json!({"access_token": "t"}),
            json!([1]),
        ] {
            let error = parse_token_response(&bad, None).expect_err("bad");
            assert_eq!(error.kind(), TokenErrorKind::InvalidResponse, "{bad}");
        }
    }

    #[test]
    fn dpop_token_responses() {
        let key = DpopKey::generate().expect("key");
        let bound = parse_token_response(
            &json!({"access_token": "t", "token_type": "DPoP", "expires_in": 60}),
            Some(&key),
        )
        .expect("a DPoP token");
        assert!(bound.dpop.is_some());
        let bearer = parse_token_response(
            &json!({"access_token": "t", "token_type": "Bearer"}),
            Some(&key),
        )
        .expect_err("a Bearer token when DPoP was asked");
        assert_eq!(bearer.kind(), TokenErrorKind::NotDpopBound);
        let other = parse_token_response(
            &json!({"access_token": "t", "token_type": "mac"}),
            Some(&key),
        )
        .expect_err("not DPoP");
        assert_eq!(other.kind(), TokenErrorKind::InvalidResponse);
    }
}
