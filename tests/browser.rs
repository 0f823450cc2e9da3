//! The FusionAuth hosted-backend login flow of `fusionauth_api`, in headless Chromium driven
//! through chromedriver (Debian's `chromium` and `chromium-driver`; `scripts/test` installs them).
//!
//! Log in through the hosted login, land on the profile page, call the API; let the access
//! token expire and see the refresh path succeed; log out and see the 401 path lead back to the
//! login. On failure a screenshot is written to `target/browser-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Example, closed_port};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Access tokens live this long in the test, with no leeway, so that they really expire.
const TOKEN_LIFETIME_SECS: u64 = 3;

struct Chromedriver(Child);

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{} not found: install Debian's `chromium` and `chromium-driver` \
                 (`bash scripts/test` does), or set {env}",
                candidates[0]
            )
        })
}

async fn start_browser() -> (Chromedriver, Client, PathBuf) {
    let chromedriver = find_program("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    let chromium = find_program(
        "CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let port = closed_port().await;
    let driver = Chromedriver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let profile = std::env::temp_dir().join(format!(
        "tower-authz-chromium-{}-{port}",
        std::process::id()
    ));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(error) if Instant::now() > deadline => {
                panic!("chromedriver did not start: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    (driver, client, profile)
}

/// Waits until `#status` reads `expected`, returning the page's claims text.
async fn wait_for_status(client: &Client, expected: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = text(client, "status").await.unwrap_or_default();
        if status == expected {
            return text(client, "claims").await;
        }
        if Instant::now() > deadline {
            return Err(format!("#status is {status:?}, expected {expected:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_url(client: &Client, part: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = client
            .current_url()
            .await
            .map_err(|e| e.to_string())?
            .to_string();
        if url.contains(part) {
            return Ok(url);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the page is {url}, expected one containing {part:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(client: &Client, id: &str) -> Result<String, String> {
    let element = client
        .find(Locator::Id(id))
        .await
        .map_err(|e| format!("#{id}: {e}"))?;
    element.text().await.map_err(|e| format!("#{id}: {e}"))
}

async fn click(client: &Client, id: &str) -> Result<(), String> {
    let element = client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id(id))
        .await
        .map_err(|e| format!("#{id}: {e}"))?;
    element
        .click()
        .await
        .map_err(|e| format!("click #{id}: {e}"))
}

async fn log_in(client: &Client, pages: &str) -> Result<(), String> {
    client
        .goto(&format!("{pages}/index.html"))
        .await
        .map_err(|e| e.to_string())?;
    click(client, "login").await?;
    wait_for_url(client, "/app/login/").await?;
    let (login_id, password) = tower_authz_dev::FUSIONAUTH_DEV_USER;
    for (id, value) in [("loginId", login_id), ("password", password)] {
        client
            .find(Locator::Id(id))
            .await
            .map_err(|e| format!("#{id}: {e}"))?
            .send_keys(value)
            .await
            .map_err(|e| e.to_string())?;
    }
    click(client, "submit").await?;
    wait_for_url(client, "/profile.html").await?;
    Ok(())
}

async fn flow(client: &Client, pages: &str) -> Result<(), String> {
    // 1. Log in through the hosted login and call the API from the profile page.
    log_in(client, pages).await?;
    click(client, "identity").await?;
    let claims = wait_for_status(client, "identity loaded").await?;
    let (login_id, _) = tower_authz_dev::FUSIONAUTH_DEV_USER;
    if !claims.contains(login_id) {
        return Err(format!("the claims shown lack the user's email: {claims}"));
    }
    // The access-token cookie, as the browser holds it: out of scripts' reach, and not sent on
    // cross-site POSTs (the API's Origin check covers same-site, cross-origin ones). Not
    // `Secure`: the development flow is plain http.
    let cookie = client
        .get_named_cookie("app.at")
        .await
        .map_err(|e| format!("app.at: {e}"))?;
    let same_site = cookie.same_site().map(|s| s.to_string());
    let attributes = (cookie.http_only(), same_site.as_deref(), cookie.secure());
    if attributes != (Some(true), Some("Lax"), Some(false)) {
        return Err(format!(
            "app.at has (HttpOnly, SameSite, Secure) = {attributes:?}"
        ));
    }

    // 2. The access token expires: the page's 401 path refreshes through app.rt and retries.
    tokio::time::sleep(Duration::from_secs(TOKEN_LIFETIME_SECS + 1)).await;
    click(client, "identity").await?;
    wait_for_status(client, "identity loaded after refresh").await?;

    // 3. Log out: the cookies are gone, the API answers 401, the refresh fails, and the page
    //    sends the user back to the hosted login.
    click(client, "logout").await?;
    wait_for_url(client, "/profile.html").await?;
    click(client, "identity").await?;
    wait_for_url(client, "/app/login/").await?;
    Ok(())
}

fn screenshot_path(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("browser-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{name}.png"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_backend_login_refresh_and_logout_in_chromium() {
    let lifetime = TOKEN_LIFETIME_SECS.to_string();
    let mut example = Example::start(
        "fusionauth_api",
        &[
            "--port",
            "0",
            "--page-port",
            "0",
            "--leeway",
            "0",
            "--dev-token-lifetime",
            &lifetime,
        ],
    );
    example.wait_for("fusionauth_api listening on ");
    let index = example.wait_for("login page: ");
    let pages = index.trim_end_matches("/index.html").to_owned();

    let (_driver, client, profile) = start_browser().await;
    let outcome = flow(&client, &pages).await;
    if let Err(error) = &outcome {
        let path = screenshot_path("fusionauth-flow");
        if let Ok(png) = client.screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        let _ = client.close().await;
        let _ = std::fs::remove_dir_all(&profile);
        panic!(
            "browser flow failed: {error} (screenshot: {})",
            path.display()
        );
    }
    let _ = client.close().await;
    let _ = std::fs::remove_dir_all(&profile);
}
