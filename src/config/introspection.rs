//! `[issuers.introspection]`: token introspection (RFC 7662), with how this API authenticates
//! to the provider.

use std::path::PathBuf;
#[cfg(feature = "introspection")]
use std::sync::Arc;
#[cfg(feature = "introspection")]
use std::time::Duration;

use serde::Deserialize;

#[cfg(feature = "introspection")]
use super::field::at;
use super::field::{Field, invalid};
use super::issuer::{Context, IssuerConfig};
use super::secret::SecretRef;
use super::shared_cache::SharedCacheConfig;
use crate::error::ConfigError;
#[cfg(feature = "introspection")]
use crate::verifier::Verifier;

/// An introspecting issuer's settings. See the module documentation for every field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "introspection"), allow(dead_code))]
pub(crate) struct IntrospectionConfig {
    /// The introspection endpoint; default: found by OIDC discovery of the issuer.
    #[serde(default)]
    endpoint: Option<String>,
    /// How this API authenticates. Default: `private_key_jwt` with `key_file`, else
    /// `client_secret_basic`.
    #[serde(default)]
    client_auth: Option<ClientAuthMethod>,
    /// The API's client id (not with `private_key_jwt`: the key file names it).
    #[serde(default)]
    client_id: Option<String>,
    /// The client secret, for `client_secret_basic` and `client_secret_post`.
    #[serde(default)]
    client_secret: Option<SecretRef>,
    /// A ZITADEL application key file, for `private_key_jwt`.
    #[serde(default)]
    key_file: Option<PathBuf>,
    /// Whether the provider checks the audience (ZITADEL does); then `audience` may be left out.
    /// Default: `false`.
    #[serde(default)]
    provider_checks_audience: bool,
    /// The cache of refusals: `{ max_ttl_seconds = 5, capacity = 10000 }`.
    #[serde(default)]
    negative_cache: Option<super::issuer::CacheConfig>,
    /// Calls to the provider in flight at once. Default: 32.
    #[serde(default)]
    max_concurrent_calls: Option<usize>,
    /// Answers shared with the other replicas through Redis (feature `redis`). Default: none.
    #[serde(default)]
    shared_cache: Option<SharedCacheConfig>,
}

/// Fields by name, and whether each is set.
type Fields<'a> = &'a [(&'a str, bool)];

/// RFC 7591 `token_endpoint_auth_method` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl IntrospectionConfig {
    /// Checks the client authentication fields; the method they give.
    fn method(&self, field: &Field) -> Result<ClientAuthMethod, ConfigError> {
        let method = self.client_auth.unwrap_or(if self.key_file.is_some() {
            ClientAuthMethod::PrivateKeyJwt
        } else {
            ClientAuthMethod::ClientSecretBasic
        });
        let (needed, refused): (Fields<'_>, Fields<'_>) = match method {
            ClientAuthMethod::PrivateKeyJwt => (
                &[("key_file", self.key_file.is_some())],
                &[
                    ("client_secret", self.client_secret.is_some()),
                    ("client_id", self.client_id.is_some()),
                ],
            ),
            _ => (
                &[
                    ("client_id", self.client_id.is_some()),
                    ("client_secret", self.client_secret.is_some()),
                ],
                &[("key_file", self.key_file.is_some())],
            ),
        };
        let name = match method {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
        };
        if let Some((missing, _)) = needed.iter().find(|(_, set)| !set) {
            return Err(invalid(
                &field.join(missing),
                format!("is required with {name}"),
            ));
        }
        if let Some((extra, _)) = refused.iter().find(|(_, set)| *set) {
            return Err(invalid(
                &field.join(extra),
                format!("cannot be set with {name}"),
            ));
        }
        if self.client_id.as_deref() == Some("") {
            return Err(invalid(&field.join("client_id"), "is empty"));
        }
        Ok(method)
    }

    /// The introspection verifier of `issuer`; `field` is the issuer's place.
    #[cfg(not(feature = "introspection"))]
    pub(crate) fn build(
        &self,
        _issuer: &IssuerConfig,
        field: &Field,
        _context: &Context<'_>,
    ) -> Result<std::sync::Arc<dyn crate::Verifier>, ConfigError> {
        let field = field.join("introspection");
        self.method(&field)?;
        Err(invalid(
            &field,
            "needs the crate feature `introspection` of tower-authz",
        ))
    }

    /// The introspection verifier of `issuer`; `field` is the issuer's place.
    #[cfg(feature = "introspection")]
    pub(crate) fn build(
        &self,
        issuer: &IssuerConfig,
        field: &Field,
        context: &Context<'_>,
    ) -> Result<Arc<dyn Verifier>, ConfigError> {
        use crate::credentials::{ApplicationKey, ClientAuth};
        use crate::verifier::{AudienceCheck, IntrospectionVerifier};

        let own = field.join("introspection");
        let method = self.method(&own)?;
        let audience = match (&issuer.audience, self.provider_checks_audience) {
            (Some(_), true) => {
                return Err(invalid(
                    &own.join("provider_checks_audience"),
                    "cannot be true with an `audience` (the audience would be checked here)",
                ));
            }
            (Some(audience), false) => {
                AudienceCheck::any_of(audience.values(&field.join("audience"))?)
            }
            (None, true) => AudienceCheck::left_to_provider(),
            (None, false) => {
                return Err(invalid(
                    &field.join("audience"),
                    "is required: the audience this API's tokens carry, or \
                     `introspection.provider_checks_audience = true` for a provider that checks \
                     it (ZITADEL)",
                ));
            }
        };
        let auth = match method {
            ClientAuthMethod::PrivateKeyJwt => {
                let path = own.join("key_file");
                let file = self.key_file.as_deref().unwrap_or(std::path::Path::new(""));
                let key = ApplicationKey::from_file(super::secret::resolve(context.base, file))
                    .map_err(at(&path))?;
                ClientAuth::private_key_jwt(key)
            }
            method => {
                let field = own.join("client_secret");
                let secret = match &self.client_secret {
                    Some(secret) => secret.read(&field, context.base, context.env)?,
                    None => return Err(invalid(&field, "is required")),
                };
                let id = self.client_id.clone().unwrap_or_default();
                if method == ClientAuthMethod::ClientSecretPost {
                    ClientAuth::post(id, secret.expose())
                } else {
                    ClientAuth::basic(id, secret.expose())
                }
            }
        };
        let verifier = match &self.endpoint {
            Some(endpoint) => IntrospectionVerifier::new(
                &issuer.issuer,
                issuer.provider_url(endpoint),
                auth,
                audience,
            )
            .map_err(at(&own.join("endpoint")))?,
            None => {
                IntrospectionVerifier::discover(issuer.provider_url(&issuer.issuer), auth, audience)
                    .map_err(at(&field.join("issuer")))?
            }
        };
        let mut verifier = verifier;
        if let Some(roles) = issuer.role_source(field)? {
            verifier = verifier.with_role_source(roles);
        }
        if let Some(seconds) = issuer.leeway_seconds {
            verifier = verifier.with_leeway(Duration::from_secs(seconds));
        }
        if let Some(seconds) = issuer.timeout_seconds {
            verifier = verifier
                .with_timeout(Duration::from_secs(seconds))
                .map_err(at(&field.join("timeout_seconds")))?;
        }
        if let Some(bytes) = issuer.max_token_bytes {
            verifier = verifier.with_max_token_len(bytes);
        }
        if let Some(bytes) = issuer.max_document_bytes {
            verifier = verifier.with_max_document_size(bytes);
        }
        if let Some(seconds) = issuer.retry_interval_seconds {
            verifier = verifier.with_retry_interval(Duration::from_secs(seconds));
        }
        verifier = match issuer
            .cache
            .map(|c| c.settings(super::issuer::DEFAULT_CACHE_TTL))
        {
            None => verifier,
            Some(None) => verifier.without_cache(),
            Some(Some((ttl, capacity))) => verifier.with_cache(ttl, capacity),
        };
        if let Some(settings) = self.negative_cache {
            let field = own.join("negative_cache");
            match settings.settings(5) {
                Some((ttl, capacity)) => verifier = verifier.with_negative_cache(ttl, capacity),
                None => {
                    return Err(invalid(
                        &field.join("enabled"),
                        "cannot be false: refusals are always cached briefly (set a short \
                         max_ttl_seconds instead)",
                    ));
                }
            }
        }
        if let Some(calls) = self.max_concurrent_calls {
            verifier = verifier
                .with_max_concurrent_calls(calls)
                .map_err(at(&own.join("max_concurrent_calls")))?;
        }
        if let Some(shared) = &self.shared_cache {
            let field = own.join("shared_cache");
            if issuer.cache.is_some_and(|cache| !cache.enabled) {
                return Err(invalid(
                    &field,
                    "needs the cache of active answers (`cache = { enabled = false }` turns it \
                     off)",
                ));
            }
            verifier = shared.apply(verifier, &field, context)?;
        }
        Ok(Arc::new(verifier))
    }
}
