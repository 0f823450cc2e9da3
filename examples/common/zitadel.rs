//! What the ZITADEL examples share: the guide's `--domain` rule, and the verifier for the
//! API's key file, on a real instance or on a development issuer set up like one.

use tower_authz::{ApplicationKey, AudienceCheck, ClientAuth, IntrospectionVerifier, RoleSource};
use tower_authz_dev::DevIssuer;

/// `https://` for a bare host (`my-domain.zitadel.cloud`), the URL as given otherwise.
pub(crate) fn issuer_url(domain: &str) -> String {
    let domain = domain.trim_end_matches('/');
    if domain.starts_with("http://") || domain.starts_with("https://") {
        domain.to_owned()
    } else {
        format!("https://{domain}")
    }
}

/// The API's verifier: introspection with its key file (`private_key_jwt`), ZITADEL's roles.
/// With no `domain`, a development issuer is started, the key file written to a temporary
/// directory named after `example`, and the user `tasks-admin` granted the role `admin`; the
/// issuer is returned so that it lives as long as the server.
pub(crate) async fn verifier(
    example: &str,
    domain: Option<&str>,
    key: Option<&str>,
) -> Result<(IntrospectionVerifier, Option<DevIssuer>, String), Box<dyn std::error::Error>> {
    let (issuer, key_path, dev) = match domain {
        Some(domain) => {
            let key = key.ok_or("--key is required with --domain")?;
            (issuer_url(domain), key.to_owned(), None)
        }
        None => {
            let dev = DevIssuer::start().await?;
            let dir =
                std::env::temp_dir().join(format!("tower-authz-{example}-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("api-key.json");
            dev.write_api_key_file(&path)?;
            dev.set_user_roles("tasks-admin", ["admin"]);
            (
                dev.issuer().to_owned(),
                path.display().to_string(),
                Some(dev),
            )
        }
    };
    let key = ApplicationKey::from_file(&key_path)?;
    // ZITADEL checks the audience itself: introspecting as the project's API application, it
    // answers `{"active":false}` for a token whose `aud` has neither this application's client
    // id nor its project id (and the development issuer does the same).
    let verifier = IntrospectionVerifier::discover(
        &issuer,
        ClientAuth::private_key_jwt(key),
        AudienceCheck::left_to_provider(),
    )?
    .with_role_source(RoleSource::zitadel());
    Ok((verifier, dev, key_path))
}
