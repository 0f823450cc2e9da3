//! A provider's token on a reqwest request, in one line.

use std::future::Future;

use super::TokenProvider;
use super::error::TokenError;

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
pub trait RequestBuilderExt: Sized {
    /// Sets `Authorization: Bearer <token>` with a token from `provider`.
    fn bearer_from<P: TokenProvider + ?Sized>(
        self,
        provider: &P,
    ) -> impl Future<Output = Result<Self, TokenError>> + Send;
}

impl RequestBuilderExt for reqwest::RequestBuilder {
    async fn bearer_from<P: TokenProvider + ?Sized>(
        self,
        provider: &P,
    ) -> Result<Self, TokenError> {
        let token = provider.token().await?;
        Ok(self.bearer_auth(token.as_str()))
    }
}
