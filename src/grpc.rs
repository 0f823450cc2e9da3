//! tonic glue: [`AuthError`] as a [`tonic::Status`], the claims of a tonic request, and the
//! gRPC service names of wrapped services.
//!
//! [`AuthLayer`](crate::AuthLayer) already answers gRPC requests with gRPC status codes; this is
//! for handlers that check claims themselves.

use crate::claims::Claims;
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

/// An [`Auth`](crate::Auth)-wrapped tonic service keeps its gRPC name, so that it can be given
/// to `Server::add_service` directly (or use `Server::builder().layer(AuthLayer::new(..))`).
impl<S: tonic::server::NamedService, R> tonic::server::NamedService for crate::Auth<S, R> {
    const NAME: &'static str = S::NAME;
}

/// A [`Require`](crate::Require)-wrapped tonic service keeps its gRPC name.
impl<S: tonic::server::NamedService, R> tonic::server::NamedService for crate::Require<S, R> {
    const NAME: &'static str = S::NAME;
}
