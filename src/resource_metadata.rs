//! RFC 9728 protected-resource metadata: tells clients (MCP clients among them) which
//! authorization server issues tokens for this API.
//!
//! Serve the document with [`ProtectedResourceMetadata::layer`] outside the
//! [`AuthLayer`](crate::AuthLayer), and let the layer's 401 challenges point at it:
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower_authz::{AuthLayer, JwtVerifier, ProtectedResourceMetadata};
//!
//! let metadata = ProtectedResourceMetadata::new("https://api.example.com")
//!     .unwrap()
//!     .with_authorization_server("https://id.example.com")
//!     .with_scopes(["tasks:read", "tasks:write"]);
//! # let verifier = JwtVerifier::new("https://id.example.com", "https://api.example.com")
//! #     .with_hmac_secret([7u8; 32]).unwrap();
//! let app: Router = Router::new()
//!     .route("/tasks", get(|| async { "[]" }))
//!     .layer(AuthLayer::new(verifier).with_protected_resource(&metadata))
//!     .layer(metadata.layer());
//! // GET /.well-known/oauth-protected-resource answers the JSON document, without a token;
//! // a 401 says `WWW-Authenticate: Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`.
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use reqwest::Url;
use serde::Serialize;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{ConfigError, ConfigErrorKind};

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The metadata document of a protected resource (RFC 9728 §2).
#[derive(Debug, Clone, Serialize)]
pub struct ProtectedResourceMetadata {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip)]
    well_known_path: String,
    #[serde(skip)]
    metadata_url: String,
}

impl ProtectedResourceMetadata {
    /// The metadata of `resource`, the resource identifier: an `https` (or, for development,
    /// `http`) URL without query or fragment. Bearer tokens are announced in the `header`.
    pub fn new(resource: impl Into<String>) -> Result<Self, ConfigError> {
        let resource = resource.into();
        let url = crate::provider::fetch::parse_url(&resource, "resource identifier")?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                ConfigErrorKind::InvalidUrl,
                "the resource identifier must have no query or fragment (RFC 9728 §1.2)",
            ));
        }
        let path = url.path().trim_end_matches('/');
        let well_known_path = format!("{WELL_KNOWN}{path}");
        let metadata_url = format!("{}{well_known_path}", origin(&url));
        Ok(Self {
            resource,
            authorization_servers: Vec::new(),
            jwks_uri: None,
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: None,
            well_known_path,
            metadata_url,
        })
    }

    /// Adds an authorization server (its issuer identifier) that issues tokens for the resource.
    pub fn with_authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes the resource understands.
    pub fn with_scopes(mut self, scopes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The resource's own JWKS (for signed responses), if it has one.
    pub fn with_jwks_uri(mut self, jwks_uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(jwks_uri.into());
        self
    }

    /// How tokens may be sent: `header`, `body`, `query`. Default: `["header"]`.
    pub fn with_bearer_methods(
        mut self,
        methods: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name of the resource.
    pub fn with_resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The path the document is served at: `/.well-known/oauth-protected-resource` followed by
    /// the resource identifier's path, if any (RFC 9728 §3.1).
    pub fn well_known_path(&self) -> &str {
        &self.well_known_path
    }

    /// The document's URL, for `resource_metadata="..."` in challenges.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A layer that answers `GET` (and `HEAD`) on [`well_known_path`](Self::well_known_path)
    /// with the document, without authentication, and passes every other request on. Put it
    /// outside the `AuthLayer`.
    pub fn layer(&self) -> ProtectedResourceLayer {
        ProtectedResourceLayer {
            path: Arc::from(self.well_known_path.as_str()),
            json: Arc::from(self.to_json()),
        }
    }
}

fn origin(url: &Url) -> String {
    let mut origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        origin.push_str(&format!(":{port}"));
    }
    origin
}

/// Serves a [`ProtectedResourceMetadata`] document. Built by [`ProtectedResourceMetadata::layer`].
#[derive(Clone)]
pub struct ProtectedResourceLayer {
    path: Arc<str>,
    json: Arc<str>,
}

impl fmt::Debug for ProtectedResourceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResourceLayer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for ProtectedResourceLayer {
    type Service = ServeProtectedResource<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServeProtectedResource {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`ProtectedResourceLayer`].
#[derive(Clone)]
pub struct ServeProtectedResource<S> {
    inner: S,
    layer: ProtectedResourceLayer,
}

impl<S: fmt::Debug> fmt::Debug for ServeProtectedResource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeProtectedResource")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ServeProtectedResource<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: From<String> + Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let ours = request.uri().path() == &*self.layer.path
            && matches!(*request.method(), Method::GET | Method::HEAD);
        if !ours {
            return Box::pin(self.inner.call(request));
        }
        let body = if request.method() == Method::HEAD {
            ResBody::default()
        } else {
            ResBody::from(self.layer.json.to_string())
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        Box::pin(std::future::ready(Ok(response)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls() {
        let root = ProtectedResourceMetadata::new("https://api.example.com").expect("url");
        assert_eq!(
            root.well_known_path(),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            root.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        let nested = ProtectedResourceMetadata::new("http://127.0.0.1:8090/v1/").expect("url");
        assert_eq!(
            nested.well_known_path(),
            "/.well-known/oauth-protected-resource/v1"
        );
        assert_eq!(
            nested.metadata_url(),
            "http://127.0.0.1:8090/.well-known/oauth-protected-resource/v1"
        );
        assert!(ProtectedResourceMetadata::new("https://a.example/?x=1").is_err());
        assert!(ProtectedResourceMetadata::new("https://a.example/#f").is_err());
    }

    #[test]
    fn document() {
        let json: serde_json::Value = serde_json::from_str(
            &ProtectedResourceMetadata::new("https://api.example.com")
                .expect("url")
                .with_authorization_server("https://id.example.com")
                .with_scopes(["read"])
                .to_json(),
        )
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "resource": "https://api.example.com",
                "authorization_servers": ["https://id.example.com"],
                "scopes_supported": ["read"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
}
