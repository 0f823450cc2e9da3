//! A provider's token on a reqwest request, in one line.

use std::future::Future;

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};

use super::dpop::{DPOP, DPOP_NONCE, asks_for_nonce};
use super::error::{TokenError, TokenErrorKind};
use super::{AccessToken, TokenProvider};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds a provider's token to a reqwest request.
///
/// ```no_run
/// use tower_authz::client::{RequestBuilderExt, StaticToken};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pat = StaticToken::new("my-personal-access-token");
/// let me = reqwest::Client::new()
///     .get("https://my-instance.zitadel.cloud/auth/v1/users/me")
///     .bearer_from(&pat)
///     .await?
///     .send()
///     .await?;
/// # Ok(()) }
/// ```
///
/// With a [DPoP-bound](super::AccessToken::dpop_key) token, both methods send
/// `Authorization: DPoP <token>` and a fresh `DPoP` proof for the request's method and URL
/// (with the server's latest nonce); [`send_with`](Self::send_with) also retries once with the
/// server's new nonce when it answers `401` `use_dpop_nonce` (RFC 9449 §9).
pub trait RequestBuilderExt: Sized {
    /// Sets `Authorization: Bearer <token>` with a token from `provider` (or `DPoP <token>`
    /// and a `DPoP` proof).
    fn bearer_from<P: TokenProvider + ?Sized>(
        self,
        provider: &P,
    ) -> impl Future<Output = Result<Self, TokenError>> + Send;

    /// Sends the request with a token from `provider`, as [`bearer_from`](Self::bearer_from)
    /// sets it. For a DPoP-bound token, a `401` with `WWW-Authenticate: DPoP
    /// error="use_dpop_nonce"` and a new `DPoP-Nonce` is retried once with a proof carrying it,
    /// if the request can be copied (not a streaming body); every answer's `DPoP-Nonce` is
    /// remembered for the server's next proofs. Fails with the [`TokenError`] or the
    /// `reqwest::Error`, boxed.
    ///
    /// ```no_run
    /// use tower_authz::client::{ClientCredentials, DpopKey, RequestBuilderExt};
    /// use tower_authz::ClientAuth;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let tokens = ClientCredentials::discover(
    ///     "https://id.example.com",
    ///     ClientAuth::basic("daemon", "secret"),
    /// )?
    /// .with_dpop(DpopKey::generate()?);
    /// let todos = reqwest::Client::new()
    ///     .get("https://api.example.com/todos")
    ///     .send_with(&tokens)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    fn send_with<P: TokenProvider + ?Sized>(
        self,
        provider: &P,
    ) -> impl Future<Output = Result<Response, BoxError>> + Send;
}

impl RequestBuilderExt for RequestBuilder {
    async fn bearer_from<P: TokenProvider + ?Sized>(
        self,
        provider: &P,
    ) -> Result<Self, TokenError> {
        let token = provider.token().await?;
        authorize(self, &token)
    }

    async fn send_with<P: TokenProvider + ?Sized>(
        self,
        provider: &P,
    ) -> Result<Response, BoxError> {
        let token = provider.token().await?;
        let Some(key) = token.dpop_key() else {
            return Ok(authorize(self, &token)?.send().await?);
        };
        let again = self.try_clone();
        let response = authorize(self, &token)?.send().await?;
        let url = response.url().as_str().to_owned();
        let new_nonce = response
            .headers()
            .get(DPOP_NONCE)
            .is_some_and(|nonce| key.remember_nonce(&url, nonce));
        let asks = response.status() == StatusCode::UNAUTHORIZED
            && response
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .any(asks_for_nonce);
        match again {
            Some(again) if new_nonce && asks => {
                let response = authorize(again, &token)?.send().await?;
                if let Some(nonce) = response.headers().get(DPOP_NONCE) {
                    key.remember_nonce(response.url().as_str(), nonce);
                }
                Ok(response)
            }
            _ => Ok(response),
        }
    }
}

/// Sets `Authorization` (and, for a DPoP-bound token, a fresh `DPoP` proof for the request's
/// method and URL).
fn authorize(builder: RequestBuilder, token: &AccessToken) -> Result<RequestBuilder, TokenError> {
    let authorization = token.authorization()?;
    if token.dpop_key().is_none() {
        return Ok(builder.header(AUTHORIZATION, authorization));
    }
    let (client, request) = builder.build_split();
    let mut request = request.map_err(|e| {
        TokenError::new(TokenErrorKind::Internal, "the request could not be built").with_source(e)
    })?;
    if let Some(proof) = token.proof_header(request.method().as_str(), request.url().as_str())? {
        request.headers_mut().insert(DPOP, proof);
    }
    request.headers_mut().insert(AUTHORIZATION, authorization);
    Ok(RequestBuilder::from_parts(client, request))
}
