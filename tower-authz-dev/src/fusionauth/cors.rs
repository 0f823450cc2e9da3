//! CORS with credentials for the origins the FusionAuth applications allow
//! (FusionAuth's CORS settings with "Allow Credentials"), by tower-http's
//! [`CorsLayer`].

use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, Method};
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};

use super::super::state::Shared;

/// Answers preflight requests itself, and adds
/// `Access-Control-Allow-Origin: <origin>` and
/// `Access-Control-Allow-Credentials: true` to every answer to an origin an
/// application allows (checked per request, so apps added later count).
/// Other origins get neither, so a browser lets their pages read nothing.
pub(super) fn layer(shared: &Arc<Shared>) -> CorsLayer {
    let allowed = |shared: Arc<Shared>| {
        move |origin: &HeaderValue, _: &Parts| {
            origin
                .to_str()
                .is_ok_and(|origin| shared.fusionauth.allows_origin(origin))
        }
    };
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(allowed(Arc::clone(shared))))
        .allow_credentials(AllowCredentials::predicate(allowed(Arc::clone(shared))))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([CONTENT_TYPE])
}
