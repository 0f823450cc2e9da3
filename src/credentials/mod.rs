//! What this service presents to the identity provider: client authentication and ZITADEL key
//! files.

mod client_auth;
mod keyfile;

pub use client_auth::ClientAuth;
pub use keyfile::{ApplicationKey, ServiceAccountKey};
