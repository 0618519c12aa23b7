//! A real browser signs in through the server example's hosted page: headless Chromium (Debian's
//! `chromium`), driven over WebDriver by `fantoccini` through `chromedriver`. A wrong password
//! shows the error; the password, then the TOTP step, end in the redirect with a code and the
//! state. Screenshots of the login page and the TOTP step go to `target/browser/`.
//!
//! `.ci/run` installs `chromium` and `chromium-driver` when they are missing; without them this
//! test says once that it was skipped and passes.

mod server_support;

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use idcore::MemoryStore;
use idcore::tokens::pkce::CodeChallenge;
use server_support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// chromedriver, killed when the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn connect() -> Option<(Driver, Client)> {
    if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
        println!(
            "server_browser skipped: no {CHROMIUM} / {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = free_port();
    let driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=900,800"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    for _ in 0..100 {
        if let Ok(client) = ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            return Some((driver, client));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on port {port}");
}

/// The application's callback: a page that says it was reached.
async fn callback_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/cb",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>Callback</title><p>callback reached</p>")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn screenshot_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_with_password_and_totp_through_the_hosted_page() {
    let Some((_driver, browser)) = connect().await else {
        return;
    };
    let callback = callback_server().await;
    let server = start(MemoryStore::new(), &callback).await;
    let challenge = CodeChallenge::s256(VERIFIER).unwrap();
    let authorize = format!(
        "{}/t/{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+email&code_challenge={}&code_challenge_method=S256&state=xyz-42&nonce=n-7",
        server.base,
        server.org,
        server.client_id,
        enc(&callback),
        challenge.as_str()
    );
    let result = async {
        browser.goto(&authorize).await?;
        assert_eq!(browser.title().await?, "Sign in");
        let dir = screenshot_dir();
        let login_png = browser.screenshot().await?;
        assert_eq!(&login_png[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::write(dir.join("login.png"), &login_png).unwrap();

        // A wrong password: the page again, with the error.
        browser
            .find(Locator::Id("login"))
            .await?
            .send_keys(EMAIL)
            .await?;
        browser
            .find(Locator::Id("password"))
            .await?
            .send_keys("not the password")
            .await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let error = browser.wait().for_element(Locator::Css(".error")).await?;
        assert_eq!(
            error.text().await?,
            "The e-mail, username or password is not right."
        );
        // The login is kept; the password is not.
        let login = browser.find(Locator::Id("login")).await?;
        assert_eq!(login.prop("value").await?.as_deref(), Some(EMAIL));

        browser
            .find(Locator::Id("password"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        browser.wait().for_element(Locator::Id("code")).await?;
        assert_eq!(browser.title().await?, "Two-step verification");
        let totp_png = browser.screenshot().await?;
        std::fs::write(dir.join("totp.png"), &totp_png).unwrap();

        let code = server.totp.generate_current().to_string();
        browser
            .find(Locator::Id("code"))
            .await?
            .send_keys(&code)
            .await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        for _ in 0..50 {
            if browser.current_url().await?.as_str().starts_with(&callback) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let landed = browser.current_url().await?;
        assert!(landed.as_str().starts_with(&callback), "{landed}");
        let query: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
        assert_eq!(query["state"], "xyz-42");
        assert_eq!(query["iss"], format!("{}/t/{}", server.base, server.org));
        assert_eq!(query["code"].len(), 43);
        assert_eq!(browser.title().await?, "Callback");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the browser session");
}
