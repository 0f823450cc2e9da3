//! The development issuer's FusionAuth face: `POST /api/login`, the hosted
//! backend (`/app/*`) with its cookies, and FusionAuth-shaped tokens for
//! [`FusionAuthApp`]s.

mod api_login;
mod app;
mod cookies;
mod cors;
mod hosted;
mod page;
mod store;
mod tokens;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use super::DevIssuer;
use super::clock::unix_now;
use super::reply::simulate_faults;
use super::state::Shared;
use super::token::TokenBuilder;
use tower_authz::{AuthLayer, TokenSource};

pub use app::FusionAuthApp;
pub(crate) use store::Store;

/// The application id of FusionAuth's .NET API guide: the default `aud` of
/// the `fusionauth_api` example.
pub const FUSIONAUTH_APP_ID: &str = "e9fdb985-9173-4e01-9d73-ac2d60d1dc8e";

/// The user every [`FusionAuthApp::new`] has: (login id, password), roles
/// `["user"]`.
pub const FUSIONAUTH_DEV_USER: (&str, &str) = ("richard@example.com", "password");

/// The tenant id (`tid`) of FusionAuth-shaped tokens.
pub const FUSIONAUTH_TENANT_ID: &str = "d7d09513-a3f5-401c-9685-34ab6c552453";

/// The `kid` header of tokens signed with a [`FusionAuthApp::hmac_secret`]
/// (FusionAuth names its HMAC keys too). The JWKS never lists it: a verifier
/// configured with the secret as a JWK (`{"kty": "oct", "kid": ..., "k": ...}`)
/// finds the key by this id.
pub const FUSIONAUTH_HMAC_KEY_ID: &str = "dev-fusionauth-hs256";

/// The hosted backend's default scope.
const DEFAULT_SCOPE: &str = "openid offline_access";

impl DevIssuer {
    /// Registers a FusionAuth application (replacing one with the same id):
    /// its users can then log in through `POST /api/login` and the hosted
    /// backend. See [`FusionAuthApp`].
    pub fn add_fusionauth_app(&self, app: FusionAuthApp) {
        self.shared.fusionauth.add_app(app);
    }

    /// A [`TokenBuilder`] preset with the access token the hosted backend
    /// gives `login_id` at `application_id` (scope `openid offline_access`,
    /// `gty: ["authorization_code"]`, a new session), signed as the app is
    /// configured (HS256 with [`FUSIONAUTH_HMAC_KEY_ID`], or RS256). Change
    /// it like any token, e.g. `.expired()` or `.audience(..)`, then
    /// [`sign`](TokenBuilder::sign).
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] if the application or the user is unknown;
    /// fails if randomness is unavailable.
    pub fn fusionauth_token(
        &self,
        application_id: &str,
        login_id: &str,
    ) -> io::Result<TokenBuilder> {
        let not_found = |what: String| io::Error::new(io::ErrorKind::NotFound, what);
        let app = self
            .shared
            .fusionauth
            .app(application_id)
            .ok_or_else(|| not_found(format!("no FusionAuth application {application_id}")))?;
        let user = app.find_user(login_id).ok_or_else(|| {
            not_found(format!(
                "no user {login_id} in the FusionAuth application {application_id}"
            ))
        })?;
        let grant = tokens::new_grant(&app, user, hosted::scopes(""), unix_now())?;
        Ok(tokens::access_token(
            &self.shared,
            &app,
            user,
            &grant,
            tokens::GrantType::AuthorizationCode,
        ))
    }
}

/// The FusionAuth routes, behind the outage switch and CORS.
pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let me = Router::new().route("/app/me", get(hosted::me)).route_layer(
        AuthLayer::new(tokens::AccessTokenVerifier {
            shared: Arc::clone(&shared),
        })
        .with_token_sources([TokenSource::cookie(cookies::ACCESS_TOKEN)]),
    );
    Router::new()
        .route("/api/login", post(api_login::login))
        .route(
            "/app/login/{client_id}",
            get(hosted::login_form).post(hosted::login_submit),
        )
        .route("/app/callback", get(hosted::callback))
        .route("/app/refresh/{client_id}", post(hosted::refresh))
        .route("/app/logout/{client_id}", get(hosted::logout))
        .merge(me)
        .layer(from_fn_with_state(Arc::clone(&shared), simulate_faults))
        .layer(cors::layer(&shared))
}
