//! OpenID Connect Back-Channel Logout 1.0: the identity provider tells the service that a
//! user's session ended, with a signed logout token; [`BackChannelLogout`] verifies it and
//! records the logout in the service's [`Revocations`](crate::Revocations).

mod endpoint;
mod error;
mod token;

pub use endpoint::{BackChannelLogout, LogoutTokenKeys};
pub use error::{LogoutError, LogoutErrorKind};
