//! One headless Chromium session, driven over WebDriver with fantoccini.

use std::path::Path;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

use crate::driver::{BrowserBinaries, Driver};
use crate::error::{Error, Result};
use crate::options::Network;

/// The browser window, in CSS pixels: screenshots of failures are this size.
pub const WINDOW: (u32, u32) = (1280, 900);

/// Chromium's switches: headless, no sandbox (tests run as root), and no background
/// connections (this machine's closed network refuses them, and they are noise in the
/// console log).
const SWITCHES: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",
];

/// A browser session: chromedriver, Chromium with a fresh profile, and a fantoccini client.
///
/// Call [`Browser::close`] on the way out; if the session is dropped instead (panic,
/// cancellation) the [`Driver`]'s drop still kills Chromium and chromedriver, and the
/// profile directory is removed.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a new Chromium session. `host` is the base URL's host name,
    /// mapped to `network.address` when one is given. Errors: [`Error::Browser`] with
    /// chromedriver's log tail.
    pub async fn launch(
        binaries: &BrowserBinaries,
        host: &str,
        network: &Network,
        log_dir: &Path,
    ) -> Result<Browser> {
        let profile = tempfile::Builder::new()
            .prefix("seatrial-chromium-")
            .tempdir()
            .map_err(|error| {
                Error::Browser(format!("failed to create a profile directory: {error}"))
            })?;
        std::fs::create_dir_all(log_dir).map_err(|source| Error::Io {
            path: log_dir.to_owned(),
            source,
        })?;
        let driver =
            Driver::start(binaries, profile.path(), &log_dir.join("chromedriver.log")).await?;
        let capabilities = capabilities(binaries, profile.path(), host, network);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .map_err(|error| {
                Error::Browser(format!(
                    "chromedriver refused the session: {error}; its log:\n{}",
                    driver.log_tail()
                ))
            })?;
        Ok(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Ends the WebDriver session (Chromium exits) and stops chromedriver.
    pub async fn close(self) {
        let Browser {
            client,
            driver,
            _profile,
        } = self;
        let _ = client.close().await;
        drop(driver);
    }

    /// The browser console since the last call (chromedriver's log endpoint, fed by the
    /// `goog:loggingPrefs` capability), one line per entry: `<timestamp ms> <LEVEL> <message>`.
    pub async fn console_log(&self) -> std::result::Result<String, String> {
        let value = self
            .client
            .issue_cmd(console_log_command())
            .await
            .map_err(|error| error.to_string())?;
        Ok(format_console(&value))
    }
}

/// The W3C capabilities: Debian's Chromium, its switches, console logging, and the host
/// mapping and certificate exceptions for the platform only.
pub fn capabilities(
    binaries: &BrowserBinaries,
    profile: &Path,
    host: &str,
    network: &Network,
) -> Capabilities {
    let mut args: Vec<String> = SWITCHES.iter().map(|switch| (*switch).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
    if let Some(address) = network.address {
        let address = match address {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        args.push(format!(
            "--host-resolver-rules=MAP {host} {address}, MAP *.{host} {address}"
        ));
    }
    if !network.trusted_spki.is_empty() {
        args.push(format!(
            "--ignore-certificate-errors-spki-list={}",
            network.trusted_spki.join(",")
        ));
    }
    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": binaries.chromium, "args": args}),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    capabilities.insert("pageLoadStrategy".into(), json!("normal"));
    capabilities
}

/// A chromedriver command outside W3C WebDriver: `POST /session/{id}/<path>` with a JSON
/// body.
#[derive(Debug)]
pub struct ChromedriverCommand {
    path: &'static str,
    body: Value,
}

/// chromedriver's `POST /session/{id}/se/log` with `{"type": "browser"}`: the console.
fn console_log_command() -> ChromedriverCommand {
    ChromedriverCommand {
        path: "se/log",
        body: json!({"type": "browser"}),
    }
}

/// Clears every cookie of the browser: the Chrome DevTools Protocol's
/// `Network.clearBrowserCookies`, sent through chromedriver's
/// `POST /session/{id}/goog/cdp/execute`.
pub fn clear_browser_cookies() -> ChromedriverCommand {
    ChromedriverCommand {
        path: "goog/cdp/execute",
        body: json!({"cmd": "Network.clearBrowserCookies", "params": {}}),
    }
}

impl fantoccini::wd::WebDriverCompatibleCommand for ChromedriverCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> std::result::Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

fn format_console(value: &Value) -> String {
    let mut text = String::new();
    for entry in value.as_array().into_iter().flatten() {
        text.push_str(&format!(
            "{} {} {}\n",
            entry["timestamp"].as_i64().unwrap_or_default(),
            entry["level"].as_str().unwrap_or("?"),
            entry["message"].as_str().unwrap_or_default()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_map_only_the_platform_host_and_trust_only_its_key() {
        let binaries = BrowserBinaries {
            chromium: "/usr/bin/chromium".into(),
            chromedriver: "/usr/bin/chromedriver".into(),
        };
        let network = Network {
            address: Some("172.18.0.2".parse().unwrap()),
            trusted_spki: vec!["abc=".into()],
        };
        let capabilities = capabilities(&binaries, Path::new("/tmp/p"), "seatrial.test", &network);
        let args: Vec<&str> = capabilities["goog:chromeOptions"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap())
            .collect();
        assert!(args.contains(
            &"--host-resolver-rules=MAP seatrial.test 172.18.0.2, MAP *.seatrial.test 172.18.0.2"
        ));
        assert!(args.contains(&"--ignore-certificate-errors-spki-list=abc="));
        assert!(args.contains(&"--user-data-dir=/tmp/p"));
        assert!(
            !args
                .iter()
                .any(|arg| arg.starts_with("--ignore-certificate-errors=")),
            "no blanket certificate bypass"
        );
        assert_eq!(capabilities.get("acceptInsecureCerts"), None);
    }

    #[test]
    fn console_entries_become_lines() {
        let value = json!([{"level": "SEVERE", "message": "boom", "timestamp": 5}]);
        assert_eq!(format_console(&value), "5 SEVERE boom\n");
    }
}
