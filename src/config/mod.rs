//! Configuration from a file or the environment (feature `config`): an [`AuthConfig`] read from
//! TOML, JSON or `PREFIX_*` environment variables builds the [`AuthLayer`], its verifier and
//! named policies.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_authz::config::AuthConfig;
//! use tower_authz::require;
//!
//! let config = AuthConfig::from_toml_str(r#"
//!     [[issuers]]
//!     issuer = "https://my-instance.zitadel.cloud"
//!     audience = "my-project-id"
//!     roles_claim = "urn:zitadel:iam:org:project:roles"
//!
//!     [policies]
//!     admin = { role = "admin" }
//!     reader = { any_scope = ["tasks.read", "tasks.write"] }
//! "#)?;
//! let app: Router = Router::new()
//!     .route("/admin", get(|| async { "hello, admin" }).route_layer(require(config.policy("admin")?)))
//!     .route("/tasks", get(|| async { "[]" }).route_layer(require(config.policy("reader")?)))
//!     .layer(config.build_layer()?);
//! # Ok::<(), tower_authz::ConfigError>(())
//! ```
//!
//! Loading checks the shape (unknown fields are refused, as misspelt ones would otherwise be
//! ignored); [`AuthConfig::build_layer`] checks the rest, reads the secrets and key files, and
//! sends nothing over the network (the keys are fetched when the first token arrives, as with
//! the verifiers' constructors). Every error is a [`ConfigError`] whose
//! [`field`](ConfigError::field) is the path of the field at fault, such as
//! `issuers[1].introspection.client_secret.env`, with kind
//! [`InvalidConfig`](crate::ConfigErrorKind::InvalidConfig), or the kind the verifier's
//! constructor gave (an `http://` issuer on another host is
//! [`InsecureUrl`](crate::ConfigErrorKind::InsecureUrl) at `issuers[0].issuer`).
//!
//! `AuthConfig` also deserializes inside your own configuration (`auth: AuthConfig` in a struct
//! read by `figment` or `config`); relative file paths are then taken from the working folder.
//!
//! # The format
//!
//! Top level:
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `issuers` | required, at least one | the accepted issuers (below); several build a [`MultiIssuer`] |
//! | `token_sources` | `["bearer"]` | where the token is, in order: `"bearer"`, `{ cookie = "name" }` |
//! | `optional` | `false` | let requests without a token through ([`AuthLayer::optional`]) |
//! | `realm` | none | `realm="..."` in the challenges ([`AuthLayer::with_realm`], on the default responder: after `with_response(..)`, call `with_realm` again) |
//! | `policies` | none | rules by name, for [`AuthConfig::policy`] (below) |
//! | `dpop` | off | DPoP-bound tokens (RFC 9449), below |
//!
//! Each `[[issuers]]` entry (durations in whole seconds):
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `issuer` | required | the exact `iss`; `https://` (or `http://` to a loopback host) |
//! | `audience` | required, unless introspection with `provider_checks_audience` | the `aud` tokens must carry: `"api"` or `["api", "api://api"]` (any of them) |
//! | `jwks_uri` | discovery of `issuer` | the JWKS URL ([`JwksVerifier::new`](crate::JwksVerifier::new)) |
//! | `tenants` | none | Entra multi-tenant `issuer` with `{tenantid}` (needs `jwks_uri`): `"any"` or `["<tenant id>", ...]` |
//! | `hmac_secret` | none | fixed HS256 key instead of a JWKS ([`JwtVerifier`](crate::JwtVerifier)): a secret (below) |
//! | `introspection` | none | check tokens by RFC 7662 introspection instead (below) |
//! | `allow_insecure_http` | `false` | accept `http://` to other hosts ([`ProviderUrl::allow_insecure_http`](crate::ProviderUrl::allow_insecure_http)) |
//! | `roles_claim` | `"roles"` | where the roles are, as [`RoleSource::from_name`](crate::RoleSource::from_name) reads it; a list is merged |
//! | `algorithms` | every one the keys allow | e.g. `["RS256", "ES256"]` |
//! | `typ` | not checked | the required `typ` header, e.g. `"at+jwt"` |
//! | `leeway_seconds` | 60 (JWT), 0 (introspection) | clock skew on `exp` and `nbf` |
//! | `timeout_seconds` | 5 | each request to the provider |
//! | `max_token_bytes` | 8192 | larger tokens are refused unread |
//! | `max_document_bytes` | 262144 | the largest discovery, JWKS or introspection answer |
//! | `cache` | `{ max_ttl_seconds = 60, capacity = 10000 }` | verified tokens (JWT) or active answers (introspection); `{ enabled = false }` turns it off |
//! | `refresh_interval_seconds` | 600 | JWKS: refresh when the answer has no `max-age` |
//! | `min_refetch_interval_seconds` | 30 | JWKS: least time between two fetches |
//! | `retry_interval_seconds` | 5 | least time between attempts while the provider fails |
//! | `max_stale_seconds` | 86400 | JWKS: how long past their lifetime keys are used while refreshes fail |
//!
//! `[issuers.introspection]` ([`IntrospectionVerifier`](crate::IntrospectionVerifier), feature
//! `introspection`):
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `endpoint` | discovery of `issuer` | the introspection endpoint |
//! | `client_auth` | `"private_key_jwt"` with `key_file`, else `"client_secret_basic"` | or `"client_secret_post"` |
//! | `client_id` | required with a client secret | the API's client id |
//! | `client_secret` | required with a client secret | a secret (below) |
//! | `key_file` | required with `private_key_jwt` | a ZITADEL application key file (JSON) |
//! | `provider_checks_audience` | `false` | the provider answers `active: false` for other audiences (ZITADEL): no `audience` needed |
//! | `negative_cache` | `{ max_ttl_seconds = 5, capacity = 10000 }` | refusals |
//! | `max_concurrent_calls` | 32 | introspection calls in flight at once |
//! | `shared_cache` | none | answers shared by the replicas through Redis (below) |
//!
//! `[issuers.introspection.shared_cache]` (a `RedisCache` given to
//! `IntrospectionVerifier::with_shared_cache`, feature `redis`: without it, this section is an
//! error; durations in milliseconds):
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `url` | required | `"rediss://cache.internal:6380"`, or `redis://` to a loopback host; a URL with a password is a secret (below): `{ env = "REDIS_URL" }` |
//! | `secret` | required | a secret (below) of at least 32 bytes, the same on every replica: the HMAC key of the cache's keys |
//! | `ca_file` | the system's roots | PEM roots a `rediss://` server's certificate must chain to (a private CA), in place of the system's |
//! | `client_cert_file`, `client_key_file` | none | PEM client certificate and its key, for a server that asks for one (mutual TLS) |
//! | `allow_plaintext` | `false` | accept plain `redis://` to a host that is not a loopback address (`RedisCacheBuilder::allow_plaintext_redis`) |
//! | `prefix` | `"tower-authz:introspection:"` | the keys' prefix |
//! | `timeout_milliseconds` | 100 | each Redis command, and opening the connection |
//! | `lock_ttl_milliseconds`, `wait_for_holder_milliseconds`, `poll_interval_milliseconds`, `pause_after_failure_milliseconds` | 2000, 1000, 10, 1000 | the `SharedCacheTiming` |
//!
//! With several issuers, at most one may introspect: it gets the tokens of its `iss` and every
//! token of no configured issuer (opaque ones), as
//! [`MultiIssuer::with_fallback`].
//!
//! `[dpop]` ([`AuthLayer::with_dpop`] with a [`DpopPolicy`](crate::DpopPolicy); see
//! [`dpop`](crate::dpop) for the checks and the answers):
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `mode` | none: required in the section | `"required"` (only DPoP-bound tokens with a proof) or `"allowed"` (also bearer tokens that are not DPoP-bound) |
//! | `algorithms` | `["ES256", "ES384", "RS256", "PS256", "EdDSA"]` | the proof algorithms, asymmetric only (`HS*` is refused) |
//! | `max_age_seconds` | 300 | how old a proof's `iat` may be |
//! | `leeway_seconds` | 60 | clock skew on `iat`, both ways |
//! | `max_proof_bytes` | 4096 | the largest `DPoP` header |
//! | `replay_capacity` | 100000 | proofs (`jti` per key) remembered against replay |
//! | `public_url` | the request's scheme and `Host` | the URL the proofs' `htu` name, behind a proxy: `"https://api.example.com"` |
//! | `nonce_secret` | none: no server nonces | a secret (below) of at least 32 bytes, the same on every replica: proofs must carry a server nonce ([`DpopNonces`](crate::DpopNonces)) |
//!
//! **Secrets** (`client_secret`, `hmac_secret`, `nonce_secret`, the shared cache's `secret`)
//! are never written in the configuration: they are `{ env = "VARIABLE" }` (read from the
//! environment) or `{ file = "/run/secrets/api" }` (read from a file, without its trailing line
//! break; Docker and Kubernetes secrets are files), read when the layer is built. A secret given
//! inline is refused, so that a configuration file can be committed. Relative paths (`file`,
//! `key_file`, `ca_file`, `client_cert_file`, `client_key_file`) are taken from the configuration file's folder
//! when it was loaded with [`AuthConfig::from_file`]. Neither a secret nor its value ever shows
//! in `Debug` output or in an error.
//!
//! **Policies** (`[policies]`, a name to a rule, for [`require`](crate::require)):
//! `"authenticated"`, `{ role = "admin" }`, `{ any_role = [...] }`, `{ scope = "read" }`,
//! `{ any_scope = [...] }`, `{ scope_or_role = { scopes = [...], roles = [...] } }`,
//! `{ acr_one_of = [...] }`, `{ authenticated_within_seconds = 300 }`, and the combinations
//! `{ all = [rule, ...] }`, `{ any = [rule, ...] }`, `{ not = rule }`.
//!
//! # From the environment
//!
//! [`AuthConfig::from_env`] reads one issuer from variables named `{PREFIX}_{FIELD}`, the field
//! upper-cased; lists are comma-separated:
//!
//! | variable (prefix `TOWER_AUTHZ`) | field |
//! |---|---|
//! | `TOWER_AUTHZ_ISSUER`, `_AUDIENCE`, `_JWKS_URI`, `_ROLES_CLAIM`, `_ALGORITHMS`, `_TYP`, `_ALLOW_INSECURE_HTTP`, `_LEEWAY_SECONDS`, `_TIMEOUT_SECONDS`, `_MAX_TOKEN_BYTES`, `_MAX_DOCUMENT_BYTES`, `_REFRESH_INTERVAL_SECONDS`, `_MIN_REFETCH_INTERVAL_SECONDS`, `_RETRY_INTERVAL_SECONDS`, `_MAX_STALE_SECONDS`, `_TENANTS` | `issuers[0].*` |
//! | `_HMAC_SECRET` (the secret itself), `_HMAC_SECRET_FILE` | `issuers[0].hmac_secret` |
//! | `_INTROSPECTION_ENDPOINT`, `_INTROSPECTION_CLIENT_AUTH`, `_INTROSPECTION_CLIENT_ID`, `_INTROSPECTION_KEY_FILE`, `_INTROSPECTION_PROVIDER_CHECKS_AUDIENCE`, `_INTROSPECTION_MAX_CONCURRENT_CALLS` | `issuers[0].introspection.*` (any of them turns introspection on) |
//! | `_INTROSPECTION_CLIENT_SECRET` (the secret itself), `_INTROSPECTION_CLIENT_SECRET_FILE` | `issuers[0].introspection.client_secret` |
//! | `_INTROSPECTION_SHARED_CACHE_URL` (read as a secret: it may carry a password), `_INTROSPECTION_SHARED_CACHE_CA_FILE`, `_INTROSPECTION_SHARED_CACHE_CLIENT_CERT_FILE`, `_INTROSPECTION_SHARED_CACHE_CLIENT_KEY_FILE`, `_INTROSPECTION_SHARED_CACHE_ALLOW_PLAINTEXT`, `_INTROSPECTION_SHARED_CACHE_PREFIX`, `_INTROSPECTION_SHARED_CACHE_TIMEOUT_MILLISECONDS`, `_INTROSPECTION_SHARED_CACHE_LOCK_TTL_MILLISECONDS`, `_INTROSPECTION_SHARED_CACHE_WAIT_FOR_HOLDER_MILLISECONDS`, `_INTROSPECTION_SHARED_CACHE_POLL_INTERVAL_MILLISECONDS`, `_INTROSPECTION_SHARED_CACHE_PAUSE_AFTER_FAILURE_MILLISECONDS` | `issuers[0].introspection.shared_cache.*` |
//! | `_INTROSPECTION_SHARED_CACHE_SECRET` (the secret itself), `_INTROSPECTION_SHARED_CACHE_SECRET_FILE` | `issuers[0].introspection.shared_cache.secret` |
//! | `_TOKEN_SOURCES` (`bearer,cookie:app.at`), `_OPTIONAL`, `_REALM` | the top-level fields |
//! | `_DPOP_MODE`, `_DPOP_ALGORITHMS`, `_DPOP_MAX_AGE_SECONDS`, `_DPOP_LEEWAY_SECONDS`, `_DPOP_MAX_PROOF_BYTES`, `_DPOP_REPLAY_CAPACITY`, `_DPOP_PUBLIC_URL` | `dpop.*` (any of them turns DPoP on; `_DPOP_MODE` is then required) |
//! | `_DPOP_NONCE_SECRET` (the secret itself), `_DPOP_NONCE_SECRET_FILE` | `dpop.nonce_secret` |
//! | `_POLICIES` | `policies`, as JSON: `{"admin":{"role":"admin"}}` |
//!
//! A secret given as a variable stays in the environment: the configuration holds its name and
//! reads it when the layer is built. Any other variable with the prefix is refused (a misspelt
//! name would otherwise be ignored), and errors name the variable.
//!
//! # How this compares
//!
//! Spring Boot's `spring.security.oauth2.resourceserver.jwt.{issuer-uri, jwk-set-uri,
//! audiences}` and ASP.NET Core's `Authentication:Schemes:Bearer:{Authority, ValidAudiences}`
//! bind the same settings from files and the environment; both accept secrets inline (ASP.NET
//! keeps them out of the repository with user secrets, Spring with `${VARIABLE}`
//! placeholders). Here the reference to the variable or file is the only form.

mod dpop;
mod env;
mod field;
mod introspection;
mod issuer;
mod load;
mod policy;
mod secret;
mod shared_cache;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use self::dpop::DpopConfig;
use self::field::{Field, invalid};
use self::issuer::{Built, Context, IssuerConfig};
use self::policy::PolicyConfig;
use self::secret::{EnvLookup, process_env};
use crate::auth::AuthLayer;
use crate::error::ConfigError;
use crate::policy::Rule;
use crate::token::TokenSource;
use crate::verifier::{MultiIssuer, Verifier};

/// The settings of an [`AuthLayer`]: issuers, audiences, keys or introspection, client
/// authentication, roles, token sources and policies by name. See the [module
/// documentation](self) for the format and every field's default.
///
/// `Debug` shows where secrets are read from, never a secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The accepted issuers.
    #[serde(default)]
    issuers: Vec<IssuerConfig>,
    /// Where the token is, in order. Default: the bearer header.
    #[serde(default)]
    token_sources: Option<Vec<TokenSourceConfig>>,
    /// Whether requests without a token pass. Default: `false`.
    #[serde(default)]
    optional: bool,
    /// The challenges' realm. Default: none.
    #[serde(default)]
    realm: Option<String>,
    /// Rules by name.
    #[serde(default)]
    policies: BTreeMap<String, PolicyConfig>,
    /// DPoP-bound tokens (RFC 9449). Default: off.
    #[serde(default)]
    dpop: Option<DpopConfig>,
    /// The folder relative paths are taken from: the configuration file's.
    #[serde(skip)]
    base: Option<PathBuf>,
    /// The prefix of the variables this configuration was read from, to name them in errors.
    #[serde(skip)]
    env_prefix: Option<String>,
}

/// `"bearer"` or `{ cookie = "name" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum TokenSourceConfig {
    Bearer,
    Cookie(String),
}

impl AuthConfig {
    /// Reads a TOML document.
    ///
    /// ```
    /// use tower_authz::ConfigErrorKind;
    /// use tower_authz::config::AuthConfig;
    ///
    /// let error = AuthConfig::from_toml_str("[[issuers]]\nissuer = \"https://id.example.com\"\naudiance = \"api\"")
    ///     .unwrap_err();
    /// assert_eq!(error.kind(), ConfigErrorKind::InvalidConfig);
    /// assert_eq!(error.field(), Some("issuers[0].audiance"));
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        load::toml(text)
    }

    /// Reads a JSON document (the same fields as TOML).
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        load::json(text)
    }

    /// Reads a file: JSON if its name ends in `.json`, else TOML. Relative paths in it (secret
    /// files, key files) are taken from the file's folder.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::new(
                crate::ConfigErrorKind::Io,
                format!("cannot read the configuration file {}", path.display()),
            )
            .with_source(error)
        })?;
        let json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let mut config = if json {
            load::json(&text)
        } else {
            load::toml(&text)
        }
        .map_err(|error| load::in_file(error, path))?;
        config.base = path.parent().map(Path::to_owned);
        Ok(config)
    }

    /// Reads one issuer and the layer's settings from the variables `{prefix}_*` of the
    /// process's environment (see the [module documentation](self#from-the-environment)).
    ///
    /// `prefix` is given without its trailing `_`, e.g. `"TOWER_AUTHZ"`.
    pub fn from_env(prefix: &str) -> Result<Self, ConfigError> {
        env::from_vars(prefix, std::env::vars_os())
    }

    /// The `iss` of each configured issuer, in order (for RFC 9728 metadata, say).
    pub fn issuers(&self) -> impl ExactSizeIterator<Item = &str> {
        self.issuers.iter().map(|issuer| issuer.issuer.as_str())
    }

    /// The names of the configured policies, in order.
    pub fn policy_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.policies.keys().map(String::as_str)
    }

    /// The policy named `name` in `[policies]`, for [`require`](crate::require); an error names
    /// the missing policy (`policies.<name>`) or the field of a rule that cannot work.
    ///
    /// ```
    /// use tower_authz::config::AuthConfig;
    ///
    /// let config = AuthConfig::from_toml_str(r#"
    ///     [[issuers]]
    ///     issuer = "https://id.example.com"
    ///     audience = "api"
    ///     [policies]
    ///     editor = { all = [{ role = "editor" }, { not = { role = "suspended" } }] }
    /// "#)?;
    /// assert!(config.policy("editor").is_ok());
    /// assert_eq!(config.policy("admin").unwrap_err().field(), Some("policies.admin"));
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn policy(&self, name: &str) -> Result<Rule, ConfigError> {
        let field = Field::root().join("policies").join(name);
        match self.policies.get(name) {
            Some(rule) => rule.build(&field),
            None => Err(invalid(
                &field,
                format!("no policy named `{name}` is configured"),
            )),
        }
        .map_err(|error| self.name_variable(error))
    }

    /// `error` naming the environment variable at fault, for a configuration read by
    /// [`from_env`](Self::from_env).
    fn name_variable(&self, error: ConfigError) -> ConfigError {
        let variable = self
            .env_prefix
            .as_deref()
            .zip(error.field())
            .and_then(|(prefix, field)| env::variable_of(prefix, field));
        match variable {
            Some(variable) => error.with_field(variable),
            None => error,
        }
    }

    /// The verifier of the configured issuers, for a layer you assemble yourself. Reads the
    /// secrets and key files; sends nothing over the network.
    pub fn build_verifier(&self) -> Result<Arc<dyn Verifier>, ConfigError> {
        self.build_verifier_with(&process_env)
            .map_err(|error| self.name_variable(error))
    }

    /// The [`AuthLayer`]: [`build_verifier`](Self::build_verifier)'s verifier with the
    /// configured token sources, optional mode and realm. Every policy is built too, so that a
    /// rule that cannot work fails here, at startup.
    pub fn build_layer(&self) -> Result<AuthLayer, ConfigError> {
        self.build_layer_with(&process_env)
            .map_err(|error| self.name_variable(error))
    }

    /// The [`AuthLayer`] of `verifier` (from [`build_verifier`](Self::build_verifier), say) with
    /// the configured token sources, optional mode and realm, every policy built too: for a
    /// service that takes the verifier's [readiness check](crate::readiness) before it moves
    /// into the layer.
    ///
    /// ```
    /// use tower_authz::config::AuthConfig;
    /// use tower_authz::{ReadinessCheck, Verifier};
    ///
    /// let config = AuthConfig::from_toml_str(
    ///     "[[issuers]]\nissuer = \"https://id.example.com\"\naudience = \"api\"",
    /// )?;
    /// let verifier = config.build_verifier()?;
    /// let readiness = verifier.readiness().unwrap_or_else(ReadinessCheck::new);
    /// let layer = config.layer_for(verifier)?;
    /// # Ok::<(), tower_authz::ConfigError>(())
    /// ```
    pub fn layer_for(&self, verifier: Arc<dyn Verifier>) -> Result<AuthLayer, ConfigError> {
        self.check_policies()
            .and_then(|()| self.layer_of(verifier, &process_env))
            .map_err(|error| self.name_variable(error))
    }

    fn build_layer_with(&self, env: EnvLookup<'_>) -> Result<AuthLayer, ConfigError> {
        // Policies first: they read nothing, so their mistakes are named before a secret is read.
        self.check_policies()?;
        self.layer_of(self.build_verifier_with(env)?, env)
    }

    fn check_policies(&self) -> Result<(), ConfigError> {
        self.policies
            .keys()
            .try_for_each(|name| self.policy(name).map(drop))
    }

    /// The layer of `verifier` with the configured settings (the policies checked apart); reads
    /// the DPoP nonce secret.
    fn layer_of(
        &self,
        verifier: Arc<dyn Verifier>,
        env: EnvLookup<'_>,
    ) -> Result<AuthLayer, ConfigError> {
        let mut layer = AuthLayer::from_arc(verifier);
        if let Some(sources) = &self.token_sources {
            layer = layer.with_token_sources(self.token_sources(sources)?);
        }
        if self.optional {
            layer = layer.optional();
        }
        if let Some(realm) = &self.realm {
            if realm.is_empty() || realm.contains(['"', '\\']) || !realm.is_ascii() {
                return Err(invalid(
                    &Field::root().join("realm"),
                    "must be printable ASCII without `\"` or `\\`",
                ));
            }
            layer = layer.with_realm(realm.as_str());
        }
        if let Some(dpop) = &self.dpop {
            let policy = dpop.policy(&Field::root().join("dpop"), self.base.as_deref(), env)?;
            layer = layer.with_dpop(policy);
        }
        Ok(layer)
    }

    fn token_sources(
        &self,
        sources: &[TokenSourceConfig],
    ) -> Result<Vec<TokenSource>, ConfigError> {
        let field = Field::root().join("token_sources");
        if sources.is_empty() {
            return Err(invalid(&field, "is an empty list: no token would be found"));
        }
        sources
            .iter()
            .enumerate()
            .map(|(i, source)| match source {
                TokenSourceConfig::Bearer => Ok(TokenSource::bearer()),
                TokenSourceConfig::Cookie(name) if name.is_empty() => {
                    Err(invalid(&field.index(i).join("cookie"), "is empty"))
                }
                TokenSourceConfig::Cookie(name) => Ok(TokenSource::cookie(name.as_str())),
            })
            .collect()
    }

    fn build_verifier_with(&self, env: EnvLookup<'_>) -> Result<Arc<dyn Verifier>, ConfigError> {
        let field = Field::root().join("issuers");
        let context = Context {
            base: self.base.as_deref(),
            env,
        };
        let mut built = self
            .issuers
            .iter()
            .enumerate()
            .map(|(i, issuer)| Ok((i, issuer, issuer.build(&field.index(i), &context)?)))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        match built.len() {
            0 => Err(invalid(&field, "names no issuer: at least one is required")),
            1 => match built.remove(0).2 {
                Built::Jwt(verifier) | Built::Introspection(verifier) => Ok(verifier),
            },
            _ => self.multi_issuer(&field, built),
        }
    }

    fn multi_issuer(
        &self,
        field: &Field,
        built: Vec<(usize, &IssuerConfig, Built)>,
    ) -> Result<Arc<dyn Verifier>, ConfigError> {
        let mut multi = MultiIssuer::new();
        let mut fallback: Option<usize> = None;
        for (i, issuer, verifier) in built {
            let here = field.index(i);
            if let Some(first) = self.issuers[..i]
                .iter()
                .position(|other| other.issuer == issuer.issuer)
            {
                return Err(invalid(
                    &here.join("issuer"),
                    format!("is the issuer of issuers[{first}] too"),
                ));
            }
            if issuer.tenants.is_some() {
                return Err(invalid(
                    &here.join("tenants"),
                    "a multi-tenant issuer cannot be combined with other issuers",
                ));
            }
            multi = match verifier {
                Built::Jwt(verifier) => multi.with_issuer(issuer.issuer.as_str(), verifier),
                Built::Introspection(verifier) => {
                    if let Some(first) = fallback {
                        return Err(invalid(
                            &here.join("introspection"),
                            format!(
                                "issuers[{first}] introspects too: opaque tokens could not be \
                                 told apart"
                            ),
                        ));
                    }
                    fallback = Some(i);
                    // Its JWTs go to the fallback too: they are of no other issuer.
                    multi.with_fallback(verifier)
                }
            };
        }
        Ok(Arc::new(multi))
    }
}

#[cfg(test)]
mod tests;
