//! One issuer of the configuration: its fields, and the verifier they build (keys from a JWKS
//! or by discovery, an HMAC secret, or introspection).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::field::{Field, at, invalid};
use super::introspection::IntrospectionConfig;
use super::secret::{EnvLookup, SecretRef};
use crate::claims::RoleSource;
use crate::error::ConfigError;
use crate::provider::url::ProviderUrl;
use crate::verifier::{Algorithm, JwksVerifier, JwtVerifier, Tenants, Verifier};

/// The settings every JWT verifier shares (`validation_setters!` and the verified-token cache),
/// applied to `$verifier`.
macro_rules! apply_jwt_settings {
    ($config:expr, $field:expr, $verifier:expr) => {{
        let (config, field) = (&$config, $field);
        let verifier = $verifier;
        let mut verifier = match config.cache.map(|c| c.settings(DEFAULT_CACHE_TTL)) {
            None => verifier,
            Some(None) => verifier.without_verified_cache(),
            Some(Some((ttl, capacity))) => verifier.with_verified_cache(ttl, capacity),
        };
        if let Some(roles) = config.role_source(field)? {
            verifier = verifier.with_role_source(roles);
        }
        if let Some(algorithms) = config.algorithms(field)? {
            verifier = verifier.with_algorithms(algorithms);
        }
        if let Some(typ) = &config.typ {
            if typ.is_empty() {
                return Err(invalid(&field.join("typ"), "is empty"));
            }
            verifier = verifier.with_typ(typ.as_str());
        }
        if let Some(seconds) = config.leeway_seconds {
            verifier = verifier.with_leeway(Duration::from_secs(seconds));
        }
        if let Some(bytes) = config.max_token_bytes {
            verifier = verifier.with_max_token_len(bytes);
        }
        verifier
    }};
}

/// One issuer: `[[issuers]]` in TOML. See the module documentation for every field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuerConfig {
    /// The exact `iss` of accepted tokens (with `tenants`: a template with `{tenantid}`).
    pub(crate) issuer: String,
    /// The audience tokens must carry: one, or a list (any of them).
    #[serde(default)]
    pub(crate) audience: Option<OneOrMany>,
    /// The JWKS URL; default: found by OIDC discovery of the issuer.
    #[serde(default)]
    pub(crate) jwks_uri: Option<String>,
    /// Entra multi-tenant: `"any"` or a list of tenant ids (needs `jwks_uri`).
    #[serde(default)]
    pub(crate) tenants: Option<TenantsConfig>,
    /// Fixed HS256/384/512 key instead of a JWKS (FusionAuth's default signing key).
    #[serde(default)]
    pub(crate) hmac_secret: Option<SecretRef>,
    /// Token introspection (RFC 7662) instead of local JWT checks.
    #[serde(default)]
    pub(crate) introspection: Option<IntrospectionConfig>,
    /// Whether plain `http://` to a non-loopback host is accepted. Default: `false`.
    #[serde(default)]
    pub(crate) allow_insecure_http: bool,
    /// Where the roles are (see `RoleSource::from_name`); several are merged. Default: `roles`.
    #[serde(default)]
    pub(crate) roles_claim: Option<OneOrMany>,
    /// The accepted signature algorithms. Default: every one the key types allow.
    #[serde(default)]
    pub(crate) algorithms: Option<Vec<String>>,
    /// The required `typ` header (e.g. `at+jwt`). Default: not checked.
    #[serde(default)]
    pub(crate) typ: Option<String>,
    /// Clock skew on `exp`/`nbf`. Default: 60 (JWT), 0 (introspection).
    #[serde(default)]
    pub(crate) leeway_seconds: Option<u64>,
    /// Timeout of each request to the provider. Default: 5.
    #[serde(default)]
    pub(crate) timeout_seconds: Option<u64>,
    /// The largest token accepted. Default: 8192.
    #[serde(default)]
    pub(crate) max_token_bytes: Option<usize>,
    /// The largest discovery, JWKS or introspection document read. Default: 262144.
    #[serde(default)]
    pub(crate) max_document_bytes: Option<usize>,
    /// The verified-token cache (JWT) or the active-answer cache (introspection).
    #[serde(default)]
    pub(crate) cache: Option<CacheConfig>,
    /// JWKS: refresh when the answer has no `max-age`. Default: 600.
    #[serde(default)]
    pub(crate) refresh_interval_seconds: Option<u64>,
    /// JWKS: least time between two fetches. Default: 30.
    #[serde(default)]
    pub(crate) min_refetch_interval_seconds: Option<u64>,
    /// Least time between attempts while the provider fails. Default: 5.
    #[serde(default)]
    pub(crate) retry_interval_seconds: Option<u64>,
    /// JWKS: how long past their lifetime keys are used while refreshes fail. Default: 86400.
    #[serde(default)]
    pub(crate) max_stale_seconds: Option<u64>,
}

/// The algorithms `names` give (the list at `field`), an unknown name refused at its index.
pub(crate) fn parse_algorithms(
    names: &[&str],
    field: &Field,
) -> Result<Vec<Algorithm>, ConfigError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            name.parse().map_err(|_| {
                invalid(
                    &field.index(i),
                    format!("unknown or unsupported signature algorithm `{name}`"),
                )
            })
        })
        .collect()
}

/// One string, or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The strings, none empty, at least one.
    pub(crate) fn values(&self, field: &Field) -> Result<Vec<&str>, ConfigError> {
        let values: Vec<&str> = match self {
            Self::One(one) => vec![one],
            Self::Many(many) => many.iter().map(String::as_str).collect(),
        };
        if values.is_empty() {
            return Err(invalid(field, "is an empty list"));
        }
        if let Some(i) = values.iter().position(|v| v.is_empty()) {
            return Err(match self {
                Self::One(_) => invalid(field, "is empty"),
                Self::Many(_) => invalid(&field.index(i), "is empty"),
            });
        }
        Ok(values)
    }
}

/// `tenants = "any"` or `tenants = ["<tenant id>", ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum TenantsConfig {
    Keyword(String),
    Only(Vec<String>),
}

/// A cache's settings: `cache = { max_ttl_seconds = 60, capacity = 10000 }`, or
/// `cache = { enabled = false }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheConfig {
    /// Default: `true`.
    #[serde(default = "yes")]
    pub(crate) enabled: bool,
    /// Default: 60 (the verified-token and active-answer caches), 5 (refusals).
    #[serde(default)]
    pub(crate) max_ttl_seconds: Option<u64>,
    /// Default: 10000.
    #[serde(default)]
    pub(crate) capacity: Option<u64>,
}

fn yes() -> bool {
    true
}

/// The cache defaults of the verifiers.
pub(crate) const DEFAULT_CACHE_TTL: u64 = 60;
pub(crate) const DEFAULT_CACHE_CAPACITY: u64 = 10_000;

impl CacheConfig {
    /// `(max_ttl, capacity)`, or `None` when disabled.
    pub(crate) fn settings(&self, default_ttl: u64) -> Option<(Duration, u64)> {
        self.enabled.then(|| {
            (
                Duration::from_secs(self.max_ttl_seconds.unwrap_or(default_ttl)),
                self.capacity.unwrap_or(DEFAULT_CACHE_CAPACITY),
            )
        })
    }
}

/// Everything building a verifier needs besides the issuer's fields.
pub(crate) struct Context<'a> {
    /// The configuration file's folder, for relative paths.
    pub(crate) base: Option<&'a Path>,
    pub(crate) env: EnvLookup<'a>,
}

/// The verifier an issuer builds, and whether it is the one for opaque tokens.
pub(crate) enum Built {
    Jwt(Arc<dyn Verifier>),
    Introspection(Arc<dyn Verifier>),
}

impl IssuerConfig {
    /// This issuer's verifier; `field` is where the issuer is in the configuration.
    pub(crate) fn build(&self, field: &Field, context: &Context<'_>) -> Result<Built, ConfigError> {
        if self.issuer.is_empty() {
            return Err(invalid(&field.join("issuer"), "is empty"));
        }
        match (&self.introspection, &self.hmac_secret) {
            (Some(introspection), _) => {
                self.refuse_jwt_only_fields(field)?;
                introspection
                    .build(self, field, context)
                    .map(Built::Introspection)
            }
            (None, Some(secret)) => self.build_hmac(field, secret, context).map(Built::Jwt),
            (None, None) => self.build_jwks(field).map(Built::Jwt),
        }
    }

    /// The issuer URL, with the `http://` opt-out if configured.
    pub(crate) fn provider_url(&self, url: &str) -> ProviderUrl {
        if self.allow_insecure_http {
            ProviderUrl::allow_insecure_http(url)
        } else {
            ProviderUrl::from(url)
        }
    }

    /// The audiences, required for a JWT.
    fn audiences(&self, field: &Field) -> Result<Vec<&str>, ConfigError> {
        let field = field.join("audience");
        match &self.audience {
            Some(audience) => audience.values(&field),
            None => Err(invalid(
                &field,
                "is required: the audience (`aud`) this API's tokens carry",
            )),
        }
    }

    /// The role source, if configured.
    pub(crate) fn role_source(&self, field: &Field) -> Result<Option<RoleSource>, ConfigError> {
        let Some(claims) = &self.roles_claim else {
            return Ok(None);
        };
        let mut sources: Vec<RoleSource> = claims
            .values(&field.join("roles_claim"))?
            .into_iter()
            .map(RoleSource::from_name)
            .collect();
        Ok(Some(if sources.len() == 1 {
            sources.remove(0)
        } else {
            RoleSource::merge(sources)
        }))
    }

    fn algorithms(&self, field: &Field) -> Result<Option<Vec<Algorithm>>, ConfigError> {
        let Some(names) = &self.algorithms else {
            return Ok(None);
        };
        let field = field.join("algorithms");
        if names.is_empty() {
            return Err(invalid(&field, "is an empty list: no token would pass"));
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        parse_algorithms(&names, &field).map(Some)
    }

    fn build_jwks(&self, field: &Field) -> Result<Arc<dyn Verifier>, ConfigError> {
        let audiences = self.audiences(field)?;
        let (first, more) = (audiences[0], &audiences[1..]);
        let verifier = match (&self.jwks_uri, &self.tenants) {
            (None, Some(_)) => {
                return Err(invalid(
                    &field.join("jwks_uri"),
                    "is required with `tenants` (a multi-tenant issuer is not discovered)",
                ));
            }
            (Some(jwks_uri), Some(tenants)) => JwksVerifier::multi_tenant(
                &self.issuer,
                self.provider_url(jwks_uri),
                first,
                tenants.build(&field.join("tenants"))?,
            )
            .map_err(at(&field.join("issuer")))?,
            (Some(jwks_uri), None) => {
                JwksVerifier::new(&self.issuer, self.provider_url(jwks_uri), first).map_err(
                    |error| {
                        // The URL's fault, or the issuer's (a `{tenantid}` template).
                        let name = if error.kind() == crate::ConfigErrorKind::InvalidValue {
                            "issuer"
                        } else {
                            "jwks_uri"
                        };
                        at(&field.join(name))(error)
                    },
                )?
            }
            (None, None) => JwksVerifier::discover(self.provider_url(&self.issuer), first)
                .map_err(at(&field.join("issuer")))?,
        };
        let mut verifier = more.iter().fold(verifier, |verifier, audience| {
            verifier.with_audience(*audience)
        });
        if let Some(seconds) = self.timeout_seconds {
            verifier = verifier
                .with_timeout(Duration::from_secs(seconds))
                .map_err(at(&field.join("timeout_seconds")))?;
        }
        if let Some(seconds) = self.refresh_interval_seconds {
            verifier = verifier.with_refresh_interval(Duration::from_secs(seconds));
        }
        if let Some(seconds) = self.min_refetch_interval_seconds {
            verifier = verifier.with_min_refetch_interval(Duration::from_secs(seconds));
        }
        if let Some(seconds) = self.retry_interval_seconds {
            verifier = verifier.with_retry_interval(Duration::from_secs(seconds));
        }
        if let Some(seconds) = self.max_stale_seconds {
            verifier = verifier.with_max_stale(Duration::from_secs(seconds));
        }
        if let Some(bytes) = self.max_document_bytes {
            verifier = verifier.with_max_document_size(bytes);
        }
        let verifier = apply_jwt_settings!(self, field, verifier);
        Ok(Arc::new(verifier))
    }

    fn build_hmac(
        &self,
        field: &Field,
        secret: &SecretRef,
        context: &Context<'_>,
    ) -> Result<Arc<dyn Verifier>, ConfigError> {
        self.refuse_fields(
            field,
            "with `hmac_secret` (fixed keys, nothing is fetched)",
            &[
                ("jwks_uri", self.jwks_uri.is_some()),
                ("tenants", self.tenants.is_some()),
                ("timeout_seconds", self.timeout_seconds.is_some()),
                ("max_document_bytes", self.max_document_bytes.is_some()),
                ("allow_insecure_http", self.allow_insecure_http),
                (
                    "refresh_interval_seconds",
                    self.refresh_interval_seconds.is_some(),
                ),
                (
                    "min_refetch_interval_seconds",
                    self.min_refetch_interval_seconds.is_some(),
                ),
                (
                    "retry_interval_seconds",
                    self.retry_interval_seconds.is_some(),
                ),
                ("max_stale_seconds", self.max_stale_seconds.is_some()),
            ],
        )?;
        let audiences = self.audiences(field)?;
        let secret_field = field.join("hmac_secret");
        let secret = secret.read(&secret_field, context.base, context.env)?;
        let verifier = audiences[1..].iter().fold(
            JwtVerifier::new(&self.issuer, audiences[0])
                .with_hmac_secret(secret.expose())
                .map_err(at(&secret_field))?,
            |verifier, audience| verifier.with_audience(*audience),
        );
        let verifier = apply_jwt_settings!(self, field, verifier);
        Ok(Arc::new(verifier))
    }

    /// Refuses the JWT settings on an introspecting issuer.
    fn refuse_jwt_only_fields(&self, field: &Field) -> Result<(), ConfigError> {
        self.refuse_fields(
            field,
            "with `introspection` (it applies to JWTs checked here)",
            &[
                ("jwks_uri", self.jwks_uri.is_some()),
                ("tenants", self.tenants.is_some()),
                ("hmac_secret", self.hmac_secret.is_some()),
                ("algorithms", self.algorithms.is_some()),
                ("typ", self.typ.is_some()),
                (
                    "refresh_interval_seconds",
                    self.refresh_interval_seconds.is_some(),
                ),
                (
                    "min_refetch_interval_seconds",
                    self.min_refetch_interval_seconds.is_some(),
                ),
                ("max_stale_seconds", self.max_stale_seconds.is_some()),
            ],
        )
    }

    fn refuse_fields(
        &self,
        field: &Field,
        why: &str,
        fields: &[(&str, bool)],
    ) -> Result<(), ConfigError> {
        match fields.iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(invalid(&field.join(name), format!("cannot be set {why}"))),
            None => Ok(()),
        }
    }
}

impl TenantsConfig {
    fn build(&self, field: &Field) -> Result<Tenants, ConfigError> {
        match self {
            Self::Keyword(any) if any == "any" => Ok(Tenants::any_tenant()),
            Self::Keyword(_) => Err(invalid(field, "is \"any\" or a list of tenant ids")),
            Self::Only(ids) if ids.is_empty() => Err(invalid(
                field,
                "is an empty list: no tenant would be accepted (use \"any\" for every tenant)",
            )),
            Self::Only(ids) => match ids.iter().position(String::is_empty) {
                Some(i) => Err(invalid(&field.index(i), "is empty")),
                None => Ok(Tenants::only(ids.iter().cloned())),
            },
        }
    }
}
