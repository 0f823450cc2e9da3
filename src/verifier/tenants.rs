//! [`Tenants`]: which Entra tenants a multi-tenant issuer template accepts.

use std::fmt;
use std::sync::Arc;

/// The tenants a `{tenantid}` issuer template accepts; see
/// [`JwksVerifier::multi_tenant`](crate::JwksVerifier::multi_tenant).
///
/// A multi-tenant Entra application receives tokens from every tenant whose users or daemons
/// were granted access to it, and anyone can create a tenant and grant themselves that. So the
/// choice is stated, never defaulted: [`only`](Self::only) the tenants of your customers, or
/// [`any_tenant`](Self::any_tenant) when the API authorizes each tenant itself (by `tid`).
///
/// ```
/// use tower_authz::Tenants;
///
/// let customers = Tenants::only(["72f988bf-86f1-41af-91ab-2d7cd011db47"]);
/// let everyone = Tenants::any_tenant();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Tenants(Option<Arc<[String]>>);

impl Tenants {
    /// Only tokens whose `tid` is one of `tenants`.
    pub fn only(tenants: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(Some(tenants.into_iter().map(Into::into).collect()))
    }

    /// Tokens of every tenant whose `iss` matches the template: any organisation that added your
    /// application to its tenant (which anyone can do) gets in. Use it only if your API checks
    /// the token's `tid` itself.
    pub fn any_tenant() -> Self {
        Self(None)
    }

    /// Whether tokens of tenant `tid` are accepted.
    pub(crate) fn accepts(&self, tid: &str) -> bool {
        self.0
            .as_ref()
            .is_none_or(|tenants| tenants.iter().any(|t| t == tid))
    }
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(tenants) => f.debug_tuple("Only").field(tenants).finish(),
            None => f.write_str("AnyTenant"),
        }
    }
}
