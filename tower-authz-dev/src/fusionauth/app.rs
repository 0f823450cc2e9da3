//! [`FusionAuthApp`]: a FusionAuth application with its users, as the
//! development issuer plays it.

use std::fmt;
use std::time::Duration;

use super::super::key::stable_guid;
use super::FUSIONAUTH_DEV_USER;

/// FusionAuth's default access token lifetime (`jwtConfiguration.timeToLiveInSeconds`).
const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// A FusionAuth application served by a [`DevIssuer`](crate::DevIssuer):
/// register it with [`DevIssuer::add_fusionauth_app`](crate::DevIssuer::add_fusionauth_app).
///
/// Its users log in through `POST /api/login` and the hosted backend
/// (`/app/login/{clientId}` ... `/app/logout/{clientId}`), and get
/// FusionAuth-shaped access tokens: `aud` and `applicationId` = the
/// application id, `sub` = the user's id, `roles`, `tid` =
/// [`FUSIONAUTH_TENANT_ID`](super::FUSIONAUTH_TENANT_ID), `sid`,
/// `authenticationType: "PASSWORD"`, `gty`, `email`, ... Tokens are signed
/// RS256 with the issuer's current RS256 key (published in the JWKS), or HS256
/// with [`hmac_secret`](Self::hmac_secret) (FusionAuth's default, never
/// published).
///
/// ```
/// use std::time::Duration;
/// use tower_authz_dev::{FUSIONAUTH_APP_ID, FusionAuthApp};
///
/// let app = FusionAuthApp::new(FUSIONAUTH_APP_ID)
///     .user("admin@example.com", "secret", ["admin", "user"])
///     .allowed_origin("http://127.0.0.1:3000")
///     .access_token_lifetime(Duration::from_secs(300));
/// ```
///
/// The [`Debug`] output never shows passwords or the HMAC secret.
#[derive(Clone)]
pub struct FusionAuthApp {
    pub(super) application_id: String,
    pub(super) users: Vec<FusionAuthUser>,
    pub(super) hmac_secret: Option<String>,
    pub(super) allowed_origins: Vec<String>,
    pub(super) access_token_lifetime: Duration,
}

impl fmt::Debug for FusionAuthApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FusionAuthApp")
            .field("application_id", &self.application_id)
            .field("users", &self.users)
            .field(
                "signing",
                &if self.hmac_secret.is_some() {
                    "HS256"
                } else {
                    "RS256"
                },
            )
            .field("allowed_origins", &self.allowed_origins)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .finish()
    }
}

impl FusionAuthApp {
    /// The application `application_id` (its OAuth client id), with the user
    /// [`FUSIONAUTH_DEV_USER`] (roles `["user"]`), RS256 tokens valid for an
    /// hour and no CORS origin.
    pub fn new(application_id: impl Into<String>) -> Self {
        let (login_id, password) = FUSIONAUTH_DEV_USER;
        FusionAuthApp {
            application_id: application_id.into(),
            users: Vec::new(),
            hmac_secret: None,
            allowed_origins: Vec::new(),
            access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
        }
        .user(login_id, password, ["user"])
    }

    /// Registers a user for the application with these roles, replacing a
    /// user with the same login id (compared case-insensitively, like
    /// FusionAuth's email login ids). Its id (`sub`) is a UUID derived from
    /// the login id, the same in every run; a login id with an `@` is also
    /// its email, and the part before the `@` its username.
    pub fn user(
        mut self,
        login_id: impl Into<String>,
        password: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let user = FusionAuthUser::new(
            login_id.into(),
            password.into(),
            roles.into_iter().map(Into::into).collect(),
        );
        match self.users.iter_mut().find(|u| u.is(&user.login_id)) {
            Some(existing) => *existing = user,
            None => self.users.push(user),
        }
        self
    }

    /// Signs this application's access and ID tokens HS256 with `secret`
    /// (FusionAuth's default signing key is an HMAC key). The header carries
    /// `kid` = [`FUSIONAUTH_HMAC_KEY_ID`](super::FUSIONAUTH_HMAC_KEY_ID), which
    /// the JWKS never lists. Verifiers need the secret as bytes (at least 32
    /// for HS256).
    pub fn hmac_secret(mut self, secret: impl Into<String>) -> Self {
        self.hmac_secret = Some(secret.into());
        self
    }

    /// Allows `origin` (e.g. `http://127.0.0.1:3000`, compared exactly; a
    /// trailing `/` is dropped) to call `/api/login` and the hosted backend
    /// with credentials (CORS). Repeatable. The first origin is also where
    /// `/app/logout/{clientId}` goes without a `post_logout_redirect_uri`.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        self.allowed_origins
            .push(origin.trim_end_matches('/').to_owned());
        self
    }

    /// How long access and ID tokens stay valid (default 1 hour); also the
    /// `Max-Age` of the `app.at`, `app.at_exp` and `app.idt` cookies.
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.access_token_lifetime = lifetime;
        self
    }

    /// The user whose login id is `login_id`.
    pub(super) fn find_user(&self, login_id: &str) -> Option<&FusionAuthUser> {
        self.users.iter().find(|user| user.is(login_id))
    }

    /// The user `login_id` if `password` is theirs.
    pub(super) fn authenticate(&self, login_id: &str, password: &str) -> Option<&FusionAuthUser> {
        // A development server: no need for a constant-time comparison.
        self.find_user(login_id)
            .filter(|user| user.password == password)
    }

    /// The access token lifetime in whole seconds.
    pub(super) fn lifetime_secs(&self) -> u64 {
        self.access_token_lifetime.as_secs()
    }
}

/// A user registered for a [`FusionAuthApp`].
#[derive(Clone)]
pub(super) struct FusionAuthUser {
    /// The user's id: `sub`.
    pub(super) id: String,
    pub(super) login_id: String,
    password: String,
    pub(super) email: Option<String>,
    pub(super) username: String,
    pub(super) roles: Vec<String>,
}

impl fmt::Debug for FusionAuthUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FusionAuthUser")
            .field("id", &self.id)
            .field("login_id", &self.login_id)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl FusionAuthUser {
    fn new(login_id: String, password: String, roles: Vec<String>) -> Self {
        let key = login_id.to_ascii_lowercase();
        let (email, username) = match login_id.split_once('@') {
            Some((local, _)) => (Some(login_id.clone()), local.to_owned()),
            None => (None, login_id.clone()),
        };
        FusionAuthUser {
            id: stable_guid(&format!("fusionauth-user:{key}")),
            login_id,
            password,
            email,
            username,
            roles,
        }
    }

    fn is(&self, login_id: &str) -> bool {
        self.login_id.eq_ignore_ascii_case(login_id)
    }
}
