//! tonic glue: [`AuthError`] as a [`tonic::Status`], the claims of a tonic request (as
//! [`Claims`] or as your own type), and the gRPC service names of wrapped services.
//!
//! [`AuthLayer`](crate::AuthLayer) already answers gRPC requests with gRPC status codes; this is
//! for handlers that check claims themselves.

use serde::de::DeserializeOwned;

use crate::claims::Claims;
use crate::custom_claims::CustomClaims;
use crate::error::AuthError;

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        let code = tonic::Code::from_i32(i32::from(error.kind().grpc_code()));
        tonic::Status::new(code, error.description())
    }
}

/// The verified claims of a tonic request, or `UNAUTHENTICATED` if there are none.
///
/// ```
/// # fn handler(request: tonic::Request<()>) -> Result<(), tonic::Status> {
/// let claims = tower_authz::grpc::claims(&request)?;
/// # Ok(()) }
/// ```
#[allow(clippy::result_large_err)]
pub fn claims<T>(request: &tonic::Request<T>) -> Result<&Claims, tonic::Status> {
    request
        .extensions()
        .get::<Claims>()
        .ok_or_else(|| AuthError::missing_credentials().into())
}

/// The verified claims of a tonic request as your type `C`, deserialized once per request (see
/// [`CustomClaims::from_extensions`]): `UNAUTHENTICATED` without claims or when they do not fit
/// `C`, `INTERNAL` when no [`AuthLayer`](crate::AuthLayer) runs in front of the service.
///
/// ```
/// # #[derive(serde::Deserialize)]
/// # struct Zitadel { #[serde(rename = "urn:zitadel:iam:user:resourceowner:id")] organization: String }
/// # fn handler(mut request: tonic::Request<()>) -> Result<(), tonic::Status> {
/// let user: tower_authz::CustomClaims<Zitadel> = tower_authz::grpc::custom_claims(&mut request)?;
/// println!("organization {}", user.organization);
/// # Ok(()) }
/// ```
#[allow(clippy::result_large_err)]
pub fn custom_claims<C, T>(
    request: &mut tonic::Request<T>,
) -> Result<CustomClaims<C>, tonic::Status>
where
    C: DeserializeOwned + Send + Sync + 'static,
{
    CustomClaims::from_extensions(request.extensions_mut()).map_err(tonic::Status::from)
}

/// An [`Auth`](crate::Auth)-wrapped tonic service keeps its gRPC name, so that it can be given
/// to `Server::add_service` directly (or use `Server::builder().layer(AuthLayer::new(..))`).
impl<S: tonic::server::NamedService, R> tonic::server::NamedService for crate::Auth<S, R> {
    const NAME: &'static str = S::NAME;
}

/// A [`Require`](crate::Require)-wrapped tonic service keeps its gRPC name.
impl<S: tonic::server::NamedService, R> tonic::server::NamedService for crate::Require<S, R> {
    const NAME: &'static str = S::NAME;
}
