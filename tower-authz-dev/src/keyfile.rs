//! Key files in ZITADEL's JSON format: an API application key
//! (`"type": "application"`) and a service account key (`"type": "serviceaccount"`).

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::Path;

use serde_json::{Value, json};

use super::key::DevKey;

/// `{"type":"application","keyId","key","appId","clientId"}`.
pub(super) fn application(key: &DevKey, app_id: &str, client_id: &str) -> io::Result<Value> {
    Ok(json!({
        "type": "application",
        "keyId": key.kid(),
        "key": pkcs1_pem(key)?,
        "appId": app_id,
        "clientId": client_id,
    }))
}

/// `{"type":"serviceaccount","keyId","key","userId"}`.
pub(super) fn service_account(key: &DevKey, user_id: &str) -> io::Result<Value> {
    Ok(json!({
        "type": "serviceaccount",
        "keyId": key.kid(),
        "key": pkcs1_pem(key)?,
        "userId": user_id,
    }))
}

fn pkcs1_pem(key: &DevKey) -> io::Result<String> {
    key.rsa_private_key_pkcs1_pem()
        .ok_or_else(|| io::Error::other("a ZITADEL key file needs an RSA key"))
}

/// Writes `contents` as pretty JSON to `path`, readable by the owner only
/// (mode 0600 on Unix), replacing an existing file.
pub(super) fn write(path: &Path, contents: &Value) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // The mode applies only to a new file: tighten an existing one too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(&serde_json::to_vec_pretty(contents)?)?;
    file.sync_all()
}
