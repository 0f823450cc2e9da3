//! # tower-authz-dev
//!
//! An embedded OpenID Connect issuer for testing services protected by
//! [tower-authz](tower_authz), and for its examples.
//!
//! [`DevIssuer`] is a small ZITADEL/Entra-like authorization server on
//! `127.0.0.1`. It serves a discovery document and a JWKS, holds one RS256,
//! one ES256 and one EdDSA signing key and mints JWTs with [`TokenBuilder`],
//! so tests exercise the real discovery → JWKS → signature path without an
//! account at any identity provider. It also issues access tokens to
//! [`DevClient`]s and service accounts, stores opaque tokens
//! ([`OpaqueTokenBuilder`], [`DevIssuer::personal_access_token`]) and answers
//! introspection and revocation like ZITADEL. It also plays FusionAuth for
//! [`FusionAuthApp`]s: the Login API and the hosted backend with its cookies
//! (see [below](#fusionauth)). Keys can be rotated and retired, the endpoints
//! can be made to fail with `503` or to answer late, and request counters let
//! tests assert on caching.
//!
//! ## Testing your service
//!
//! Add the crate as a dev-dependency (`tower-authz-dev = "0.1"` under
//! `[dev-dependencies]`), start a [`DevIssuer`] in the test, point the
//! service's verifier at [`DevIssuer::issuer`] and call the service with
//! tokens from [`DevIssuer::token`]:
//!
//! ```
//! use axum::{Router, body::Body, http::Request, http::StatusCode, routing::get};
//! use tower::ServiceExt; // oneshot
//! use tower_authz::{AuthLayer, Claims, JwksVerifier, require_role};
//! use tower_authz_dev::DevIssuer;
//!
//! // The service under test: any router behind an `AuthLayer`.
//! fn app(verifier: JwksVerifier) -> Router {
//!     Router::new()
//!         .route("/admin", get(|| async { "hello, admin" }))
//!         .route_layer(require_role("admin"))
//!         .route("/whoami", get(|claims: Claims| async move {
//!             claims.subject().unwrap_or_default().to_owned()
//!         }))
//!         .layer(AuthLayer::new(verifier))
//! }
//!
//! fn get_with(path: &str, token: Option<&str>) -> Request<Body> {
//!     let mut request = Request::get(path);
//!     if let Some(token) = token {
//!         request = request.header("authorization", format!("Bearer {token}"));
//!     }
//!     request.body(Body::empty()).unwrap()
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let issuer = DevIssuer::start().await?;
//! // Discovery and JWKS on 127.0.0.1; the tokens' audience is "dev-api".
//! let app = app(JwksVerifier::discover(issuer.issuer(), "dev-api")?);
//!
//! let alice = issuer.token().subject("alice").sign()?;
//! let response = app.clone().oneshot(get_with("/whoami", Some(&alice))).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let response = app.clone().oneshot(get_with("/admin", Some(&alice))).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//!
//! let admin = issuer.token().roles(["admin"]).sign()?;
//! let response = app.clone().oneshot(get_with("/admin", Some(&admin))).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let expired = issuer.token().expired().sign()?;
//! let response = app.clone().oneshot(get_with("/whoami", Some(&expired))).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! let response = app.oneshot(get_with("/whoami", None)).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//!
//! issuer.stop().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! ## Endpoints
//!
//! | Path | Content |
//! |------|---------|
//! | `GET /.well-known/openid-configuration` | discovery document (OpenID Connect Discovery) |
//! | `GET /.well-known/oauth-authorization-server` | the same document as RFC 8414 authorization server metadata; either can be turned off ([`DevIssuer::serve_metadata`]) |
//! | `GET /oauth/v2/keys` | JWKS (ZITADEL's path) |
//! | `GET /.well-known/jwks.json` | the same JWKS (FusionAuth's path); HMAC keys are never published |
//! | `POST /oauth/v2/token` | `client_credentials` (`client_secret_basic` / `client_secret_post`): opaque tokens, ZITADEL JWTs, or Entra v2 JWTs for a scope `api://{appId}/.default`; RFC 7523 jwt-bearer with a service account key; with a `DPoP` proof (RFC 9449: typ, ES256/EdDSA/RS256 signature by its public `jwk`, `htm` POST, `htu` this endpoint, `iat` within 60 s, unused `jti`; else `400 invalid_dpop_proof`) a DPoP-bound token (`cnf.jkt`, also in introspection; `token_type: DPoP`); [`DevIssuer::require_dpop_nonce`] adds the nonce flow (`400 use_dpop_nonce` + `DPoP-Nonce`) |
//! | `POST /oauth/v2/introspect` | RFC 7662, ZITADEL's answer; client auth `client_secret_basic` or `private_key_jwt` (else `401`) |
//! | `POST /oauth/v2/revoke` | RFC 7009; client auth as for introspection |
//! | `GET /auth/v1/users/me` | ZITADEL's `GetMyUser` ([`DevIssuer::users_me_url`]): the token's subject as a machine user; protected by tower-authz's [`AuthLayer`](tower_authz::AuthLayer) (RFC 6750 `401`s) |
//! | `POST /api/login` | FusionAuth's Login API: JSON `{"loginId", "password", "applicationId"}` → `200 {"token", "tokenExpirationInstant" (ms), "user"}`; `404` for a wrong login id or password; `400` for a body that is not JSON (`generalErrors`), a missing field or an unknown application (`fieldErrors`). The `Authorization` (API key) header is ignored |
//! | `GET /app/login/{clientId}?redirect_uri&state&scope` | hosted backend: an HTML login form (`loginId`, `password`, button `submit`); default scope `openid offline_access`; `redirect_uri` must be an `http(s)` URL on a loopback host (else `400`); unknown client `404` |
//! | `POST /app/login/{clientId}` | the form's target: a wrong login shows the form again with `<p id="error">` (`200`); success is `302` to `/app/callback?code&state` (the code is single-use, valid 60 s) |
//! | `GET /app/callback?code&state` | redeems the code, sets the cookies, `302` to `redirect_uri?state=...`; an unknown, used or expired code or another `state` is `400` |
//! | `POST /app/refresh/{clientId}` | reads `app.rt`: `200 {}` with new `app.at`, `app.at_exp` (and `app.idt`); no, unknown, revoked or another client's refresh token is `400` (log in again) |
//! | `GET /app/me` | userinfo from the `app.at` cookie (`sub`, `email`, `email_verified`, `preferred_username`, `applicationId`, `roles`, `tid`); `401` without a valid access token |
//! | `GET /app/logout/{clientId}?post_logout_redirect_uri` | revokes the `app.rt` refresh token, sends the session's Logout Tokens (`sub` and `sid` of `app.rt`, else of `app.at`) to the app's [back-channel logout](#back-channel-logout) receivers, deletes the four cookies (`Max-Age=0`), `302` to `post_logout_redirect_uri` (loopback only, else `400`; default: the app's first allowed origin, else `/`) |
//! | `GET\|POST /oidc/v1/end_session?id_token_hint&post_logout_redirect_uri&state` | RP-Initiated Logout (ZITADEL's path, [`DevIssuer::end_session_endpoint`]): `id_token_hint` must be a JWT of this issuer (signed with a published key, so not an HS256 FusionAuth token; expired less than a day ago is fine) with a `sub`; sends Logout Tokens for its `sub` and `sid` to every [back-channel logout](#back-channel-logout) receiver, then `302` to `post_logout_redirect_uri` (loopback only) with `state`, or `200 logged out`; no or a bad hint, another redirect, or a repeated parameter is `400` |
//!
//! ## Back-channel logout
//!
//! The issuer plays an OpenID Connect Provider with Back-Channel Logout 1.0
//! (discovery: `end_session_endpoint`, `backchannel_logout_supported` and
//! `backchannel_logout_session_supported`). A service registers its receiver
//! per client id with [`DevIssuer::add_backchannel_logout`] (loopback URLs
//! only). When a session ends, by [`DevIssuer::end_session`] (`sub` and
//! `sid`), [`DevIssuer::logout_subject`] (`sub` only), FusionAuth's
//! `/app/logout/{clientId}` (that app's receivers) or `/oidc/v1/end_session`,
//! each receiver gets a `POST` with `Content-Type:
//! application/x-www-form-urlencoded` and the body `logout_token=...`: a JWT
//! with the header `typ: "logout+jwt"`, RS256 with the current key and its
//! `kid`, and the claims `iss`, `aud` (the client id), `iat`, `exp` (`iat` +
//! 2 minutes), a random `jti`, `events` =
//! `{`[`BACKCHANNEL_LOGOUT_EVENT`]`: {}}`, `sub` and `sid` when known, never
//! `nonce`. Each `POST` has 2 seconds, redirects are not followed, `200` (or
//! `204`) is success; [`DevIssuer::end_session`] returns a [`LogoutDelivery`]
//! per receiver and [`DevIssuer::logout_deliveries`] counts the `POST`s. The
//! endpoints answer after their deliveries (all at once, each within 2
//! seconds), so a test finds them done once it has the answer.
//! Tokens set with [`TokenBuilder::session`] carry a `sid`; FusionAuth's
//! carry one already. [`DevIssuer::logout_token`] crafts Logout Tokens, valid
//! or not, for a receiver's own tests.
//!
//! ```
//! use axum::{Form, Router, routing::post};
//! use tokio::sync::mpsc;
//! use tower_authz::{JwtVerifier, Verifier};
//! use tower_authz_dev::DevIssuer;
//!
//! #[derive(serde::Deserialize)]
//! struct LogoutForm {
//!     logout_token: String,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let issuer = DevIssuer::start().await?;
//! // The service's receiver, on 127.0.0.1 (your service's route in real tests).
//! let (tx, mut received) = mpsc::unbounded_channel();
//! let receiver = Router::new().route(
//!     "/backchannel-logout",
//!     post(move |Form(form): Form<LogoutForm>| async move {
//!         let _ = tx.send(form.logout_token);
//!     }),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let uri = format!("http://{}/backchannel-logout", listener.local_addr()?);
//! tokio::spawn(async move { axum::serve(listener, receiver).await });
//! issuer.add_backchannel_logout("my-app", &uri)?;
//!
//! let access_token = issuer.token().subject("alice").session("s-1").sign()?;
//! let deliveries = issuer.end_session("alice", "s-1").await;
//! assert!(deliveries[0].is_delivered());
//! assert_eq!(issuer.logout_deliveries(), 1);
//!
//! // Part of what a receiver checks (also: `iat`, `jti` replay, `sub` or `sid`).
//! let logout_token = received.recv().await.ok_or("no logout token")?;
//! let jwks = reqwest::get(issuer.jwks_uri()).await?.text().await?;
//! let claims = JwtVerifier::new(issuer.issuer(), "my-app")
//!     .with_typ("logout+jwt")
//!     .with_jwks(&jwks)?
//!     .verify(&logout_token)
//!     .into_ready()
//!     .ok_or("not ready")??;
//! assert_eq!(claims.get("sid").and_then(|sid| sid.as_str()), Some("s-1"));
//! assert!(claims.get("events").is_some() && claims.get("nonce").is_none());
//! # let _ = access_token;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! ## FusionAuth
//!
//! [`DevIssuer::add_fusionauth_app`] registers a [`FusionAuthApp`], for
//! example with the guide's id [`FUSIONAUTH_APP_ID`]; every app has the user
//! [`FUSIONAUTH_DEV_USER`] unless replaced.
//!
//! ```
//! use tower_authz_dev::DevIssuer;
//! use tower_authz_dev::{FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, FusionAuthApp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let issuer = DevIssuer::start().await?;
//! issuer.add_fusionauth_app(
//!     FusionAuthApp::new(FUSIONAUTH_APP_ID).allowed_origin("http://127.0.0.1:3000"),
//! );
//! // A page links here; after the login the browser lands on the profile
//! // page with the app.at, app.at_exp, app.idt and app.rt cookies.
//! let login = format!(
//!     "{}/app/login/{FUSIONAUTH_APP_ID}?redirect_uri={}&state=demo",
//!     issuer.issuer(),
//!     "http%3A%2F%2F127.0.0.1%3A3000%2Fprofile.html",
//! );
//! // Tokens for tests, without a browser:
//! let (login_id, _) = FUSIONAUTH_DEV_USER;
//! let expired = issuer
//!     .fusionauth_token(FUSIONAUTH_APP_ID, login_id)?
//!     .expired()
//!     .sign()?;
//! # let _ = (login, expired);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! Its access tokens carry FusionAuth's claims: `aud` and `applicationId` =
//! the application id, `sub` = the user's UUID, `roles`, `tid` =
//! [`FUSIONAUTH_TENANT_ID`], `sid`, `jti`, `iat`, `exp`, `auth_time`,
//! `authenticationType: "PASSWORD"`, `gty` (`["password"]` from `/api/login`,
//! `["authorization_code"]` from the hosted backend, plus `"refresh_token"`
//! after a refresh), `scope` (hosted backend), `email`, `email_verified` and
//! `preferred_username`; header `typ: "JWT"` and a `kid`. They are signed
//! RS256 with the current RS256 key, or HS256 with the app's
//! [`hmac_secret`](FusionAuthApp::hmac_secret) and `kid` =
//! [`FUSIONAUTH_HMAC_KEY_ID`]. [`DevIssuer::fusionauth_token`] presets a
//! [`TokenBuilder`] with the same claims.
//!
//! The hosted backend's cookies are all `Path=/`, `SameSite=Lax` and
//! host-only (no `Domain`): on `127.0.0.1` they reach every port, so an API on
//! another port receives them. `app.at` (HttpOnly) holds the access token,
//! `app.at_exp` its `exp` in Unix seconds, `app.idt` (scope `openid`) the ID
//! token, `app.rt` (HttpOnly, scope `offline_access`) an opaque refresh token
//! valid 30 days. The ID token has the same `aud` as the access token but no
//! `applicationId`, `roles`, `scope` or `gty`: an API must read `app.at` only
//! (RFC 8725 §3.11), as `/app/me` does.
//!
//! `/api/login` and `/app/*` answer CORS with credentials for the origins the
//! apps allow ([`FusionAuthApp::allowed_origin`]): preflights get `204` with
//! `Access-Control-Allow-Origin: <origin>`, `-Allow-Credentials: true`,
//! `-Allow-Methods: GET, POST, OPTIONS` and `-Allow-Headers: content-type`;
//! other answers get the first two. Other origins get no CORS headers; every
//! answer has `Vary: Origin`.
//!
//! Where it differs from FusionAuth: cookies are `Secure` only when the issuer
//! URL is `https` (always `http` here; browsers drop `Secure` cookies set over
//! plain http), and have no `Domain` (FusionAuth uses the broadest non-TLD
//! domain). Users belong to an app, so `/api/login` requires an
//! `applicationId` (`400` without one or for an unknown one). Redirects go to
//! loopback URLs only. Refresh tokens do not rotate. CORS is one list for all
//! apps, like FusionAuth's global CORS settings. `/app/me` verifies HS256
//! tokens only when the secret has at least 32 bytes.
//!
//! Opaque tokens, personal access tokens and JWTs of this issuer are active
//! at introspection while unexpired, unrevoked and meant for the caller: the
//! audience must contain the introspecting client's id or [`DEV_PROJECT_ID`]
//! (ZITADEL adds both to a personal access token's audience). Roles come as
//! ZITADEL role maps `{"<role>": {DEV_ORG_ID: DEV_ORG_DOMAIN}}`. As in
//! ZITADEL, a scope `urn:zitadel:iam:org:project:id:{X}:aud` adds `X` to the
//! audience of the token endpoint's ZITADEL-shaped tokens, so a service
//! account asks for `urn:zitadel:iam:org:project:id:{DEV_PROJECT_ID}:aud` to
//! get a token the project's API applications accept. ZITADEL's own API
//! (`/auth/v1/users/me`) accepts personal access tokens and tokens whose
//! audience contains `zitadel` (scope
//! `urn:zitadel:iam:org:project:id:zitadel:aud`) or [`DEV_PROJECT_ID`].
//!
//! ```
//! use tower_authz_dev::DevClient;
//! use tower_authz_dev::{DevAlgorithm, DevIssuer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let issuer = DevIssuer::start().await?;
//!
//! // A verifier under test is pointed at `issuer.issuer()`
//! // (or `issuer.discovery_url()`) and expects audience "dev-api".
//! let token = issuer
//!     .token()
//!     .subject("alice")
//!     .roles(["admin"])
//!     .scopes(["read", "write"])
//!     .algorithm(DevAlgorithm::ES256)
//!     .sign()?;
//! assert_eq!(token.split('.').count(), 3);
//!
//! // Rotate the RS256 key: the old one stays published until retired.
//! let old = issuer.current_key(DevAlgorithm::RS256);
//! let new_kid = issuer.rotate(DevAlgorithm::RS256)?;
//! assert!(issuer.retire(old.kid()));
//! assert_eq!(issuer.current_key(DevAlgorithm::RS256).kid(), new_kid);
//!
//! // Opaque tokens for introspection tests.
//! issuer.add_client(DevClient::new("resource-server", "secret"));
//! issuer.set_user_roles("alice", ["admin"]);
//! let opaque = issuer.opaque_token().subject("alice").issue();
//! assert!(!opaque.contains('.'));
//!
//! issuer.stop().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```

#![forbid(unsafe_code)]
// Server code never unwraps what a request can influence.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod assertion;
mod client_auth;
mod clients;
mod clock;
mod dpop;
mod fusionauth;
mod introspection;
mod key;
mod keyfile;
mod logout;
mod loopback;
mod oauth;
mod opaque;
mod reply;
mod revocation;
mod server;
mod state;
mod store;
mod token;
mod token_endpoint;
mod users_me;

#[cfg(test)]
mod oauth_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod users_me_tests;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use clients::{DevApiApp, DevClient, DevServiceAccount};
pub use fusionauth::{
    FUSIONAUTH_APP_ID, FUSIONAUTH_DEV_USER, FUSIONAUTH_HMAC_KEY_ID, FUSIONAUTH_TENANT_ID,
    FusionAuthApp,
};
pub use key::{DevAlgorithm, DevKey};
pub use logout::{BACKCHANNEL_LOGOUT_EVENT, DeliveryOutcome, LogoutDelivery, LogoutTokenBuilder};
pub use opaque::OpaqueTokenBuilder;
pub use token::TokenBuilder;

/// The id of the ZITADEL project the dev issuer's tokens belong to: in the
/// default audience of opaque tokens, and the `{projectId}` of the role claim
/// `urn:zitadel:iam:org:project:{projectId}:roles`.
pub const DEV_PROJECT_ID: &str = "263847598374985274";
/// The id of the ZITADEL organization of every user (the resource owner).
pub const DEV_ORG_ID: &str = "263847598374919738";
/// The primary domain of the organization: the value of role map entries and
/// the domain of usernames (`"<user>@dev.localhost"`).
pub const DEV_ORG_DOMAIN: &str = "dev.localhost";
/// The default Entra tenant id (`tid`) of [`DevClient`]s.
pub const DEV_TENANT_ID: &str = "7d2b8e1a-3f4c-4e5d-9a6b-1c2d3e4f5a6b";

use state::{DISCOVERY_PATH, JWKS_PATH, Shared};

/// Which of the issuer's metadata documents are served
/// ([`DevIssuer::serve_metadata`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataDocuments {
    /// `/.well-known/openid-configuration` and
    /// `/.well-known/oauth-authorization-server` (the default).
    Both,
    /// `/.well-known/openid-configuration` only (OpenID Connect Discovery).
    OpenIdConfigurationOnly,
    /// `/.well-known/oauth-authorization-server` only (RFC 8414).
    OAuthAuthorizationServerOnly,
}

/// How long [`DevIssuer::stop`] waits for open connections before aborting.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A local OpenID Connect issuer serving discovery and JWKS on a loopback
/// address. See the [module documentation](self) for an example.
///
/// The server runs on a spawned tokio task; it stops on [`stop`](Self::stop)
/// or when the `DevIssuer` is dropped.
pub struct DevIssuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<ServerTask>>,
}

/// The running HTTP server: its shutdown trigger and its task.
struct ServerTask {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer")
            .field("issuer", &self.shared.issuer())
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Starts an issuer on `127.0.0.1` with an OS-assigned port.
    ///
    /// # Errors
    /// Fails if key generation fails or the port cannot be bound.
    pub async fn start() -> io::Result<DevIssuer> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts an issuer on `addr`, which must be a loopback address
    /// (port 0 picks a free port).
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] if `addr` is not loopback; otherwise
    /// fails if key generation fails or the address cannot be bound.
    pub async fn start_on(addr: SocketAddr) -> io::Result<DevIssuer> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the dev issuer only listens on loopback addresses, not {addr}"),
            ));
        }
        let keys = [
            DevKey::generate(DevAlgorithm::RS256)?,
            DevKey::generate(DevAlgorithm::ES256)?,
            DevKey::generate(DevAlgorithm::EdDSA)?,
        ];
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(format!("http://{addr}"), keys));
        let server = spawn_server(listener, Arc::clone(&shared));
        tracing::debug!(issuer = shared.issuer(), "dev issuer started");
        Ok(DevIssuer {
            shared,
            addr,
            server: Mutex::new(Some(server)),
        })
    }

    /// The issuer URL, `http://127.0.0.1:PORT` (no trailing slash); the `iss`
    /// of minted tokens.
    pub fn issuer(&self) -> &str {
        self.shared.issuer()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JWKS URL: issuer + `/oauth/v2/keys`.
    pub fn jwks_uri(&self) -> String {
        self.shared.url(JWKS_PATH)
    }

    /// The discovery URL: issuer + `/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        self.shared.url(DISCOVERY_PATH)
    }

    /// A [`TokenBuilder`] with this issuer's defaults.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.shared))
    }

    /// The current signing key for `alg`: the newest key from
    /// [`rotate`](Self::rotate) or start, or after [`retire`](Self::retire) the
    /// most recent remaining key of that algorithm.
    ///
    /// Once every key of `alg` is retired, this still returns the last one,
    /// which is no longer published, and [`TokenBuilder::sign`] with `alg`
    /// fails until the next [`rotate`](Self::rotate).
    pub fn current_key(&self, alg: DevAlgorithm) -> Arc<DevKey> {
        self.shared.current_key(alg)
    }

    /// Every key the JWKS currently publishes, oldest first.
    pub fn published_keys(&self) -> Vec<Arc<DevKey>> {
        self.shared.published_keys()
    }

    /// Generates a new key for `alg`, publishes it and makes it the current
    /// signing key for `alg`. Older keys stay published until
    /// [`retire`](Self::retire)d. Returns the new kid.
    ///
    /// # Errors
    /// Fails if key generation fails.
    pub fn rotate(&self, alg: DevAlgorithm) -> io::Result<String> {
        let key = DevKey::generate(alg)?;
        let kid = key.kid().to_owned();
        self.shared.publish(key);
        Ok(kid)
    }

    /// Stops publishing the key `kid`; returns whether it was published. If it
    /// was the current key for its algorithm, the most recent remaining key of
    /// that algorithm becomes current; with none left, [`TokenBuilder::sign`]
    /// with that algorithm fails (see [`current_key`](Self::current_key)).
    pub fn retire(&self, kid: &str) -> bool {
        self.shared.retire(kid)
    }

    /// How many JWKS requests the server has answered, including `503`s
    /// while [unavailable](Self::set_available).
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// How many discovery requests the server has answered, at either metadata
    /// location (`404`s of one [not served](Self::serve_metadata) included),
    /// including `503`s while [unavailable](Self::set_available).
    pub fn discovery_requests(&self) -> usize {
        self.shared.discovery_requests.load(Ordering::SeqCst)
    }

    /// Which metadata documents are served (the other answers `404`): both
    /// by default. For tests of discovery by RFC 8414 or OpenID Connect alone.
    pub fn serve_metadata(&self, documents: MetadataDocuments) {
        self.shared.set_metadata_documents(documents);
    }

    /// With `Some`, JWKS responses carry `Cache-Control: public, max-age=N`
    /// (whole seconds); with `None` (the default) no `Cache-Control` header.
    pub fn set_jwks_max_age(&self, max_age: Option<Duration>) {
        self.shared.set_jwks_max_age(max_age);
    }

    /// With `false`, every endpoint (discovery, JWKS, token, introspection,
    /// revocation, `/auth/v1/users/me`, `/oidc/v1/end_session`, FusionAuth's
    /// `/api/login` and `/app/*`)
    /// answers `503 Service Unavailable` (an outage with the port still open;
    /// CORS preflights are still answered); `true` restores them.
    pub fn set_available(&self, available: bool) {
        self.shared.set_available(available);
    }

    /// Stops the server and closes the port: stops accepting, lets open
    /// connections finish (aborting them after 5 seconds) and waits for the
    /// server task. Calling it again does nothing. Tokens can still be minted
    /// afterwards.
    pub async fn stop(&self) {
        let Some(ServerTask { shutdown, task }) = self.take_server() else {
            return;
        };
        // An error means the server task already ended.
        let _ = shutdown.send(());
        let abort = task.abort_handle();
        if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
            abort.abort();
        }
        tracing::debug!(issuer = self.issuer(), "dev issuer stopped");
    }

    fn take_server(&self) -> Option<ServerTask> {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        if let Some(ServerTask { shutdown, task }) = self.take_server() {
            let _ = shutdown.send(());
            task.abort();
        }
    }
}

/// Spawns `axum::serve` on `listener` with graceful shutdown.
fn spawn_server(listener: TcpListener, shared: Arc<Shared>) -> ServerTask {
    let (shutdown, signal) = oneshot::channel::<()>();
    let app = server::router(shared);
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            // A dropped sender also means "shut down".
            let _ = signal.await;
        });
        if let Err(error) = serve.await {
            tracing::warn!(%error, "dev issuer server failed");
        }
    });
    ServerTask { shutdown, task }
}
