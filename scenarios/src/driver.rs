//! The chromedriver process: found, started on a free loopback port, and stopped with every
//! Chromium it launched.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Debian's Chromium (package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The environment variables that point elsewhere (another Chromium build, say).
pub const CHROMIUM_ENV: &str = "SEATRIAL_CHROMIUM";
/// See [`CHROMIUM_ENV`].
pub const CHROMEDRIVER_ENV: &str = "SEATRIAL_CHROMEDRIVER";

/// How long chromedriver may take to answer `/status`, in seconds.
const START_SECONDS: u64 = 20;

/// The two executables a browser session needs.
#[derive(Clone, Debug)]
pub struct BrowserBinaries {
    /// Chromium itself.
    pub chromium: PathBuf,
    /// ChromeDriver, which must match Chromium's version (Debian ships them together).
    pub chromedriver: PathBuf,
}

impl BrowserBinaries {
    /// Finds both: `$SEATRIAL_CHROMIUM`/`$SEATRIAL_CHROMEDRIVER`, else Debian's paths.
    /// Errors: [`Error::BrowserMissing`] naming the Debian package to install.
    pub fn locate() -> Result<BrowserBinaries> {
        let chromium = locate(CHROMIUM_ENV, CHROMIUM, "chromium", "chromium")?;
        let chromedriver = locate(
            CHROMEDRIVER_ENV,
            CHROMEDRIVER,
            "chromedriver",
            "chromium-driver",
        )?;
        Ok(BrowserBinaries {
            chromium,
            chromedriver,
        })
    }
}

fn locate(
    env: &str,
    default: &str,
    binary: &'static str,
    package: &'static str,
) -> Result<PathBuf> {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(Error::BrowserMissing {
            binary,
            path,
            package,
        })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A running chromedriver. Dropping it kills chromedriver and every process whose command
/// line names `user_data_dir` (the Chromium it started, with its renderers and helpers), so
/// no browser outlives its session on any path: pass, failure, panic or cancellation.
pub struct Driver {
    child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    user_data_dir: PathBuf,
    log: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits (at most 20 s) until its
    /// `/status` says it is ready. Its log goes to `log`. Errors: [`Error::Browser`] with the
    /// log's tail.
    pub async fn start(
        binaries: &BrowserBinaries,
        user_data_dir: &Path,
        log: &Path,
    ) -> Result<Driver> {
        let port = host::ports::free_port(&mut Vec::new())
            .map_err(|error| Error::Browser(format!("no free loopback port: {error}")))?;
        let log_file = std::fs::File::create(log).map_err(|source| Error::Io {
            path: log.to_owned(),
            source,
        })?;
        let child = tokio::process::Command::new(&binaries.chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|source| Error::Io {
                path: log.to_owned(),
                source,
            })?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                Error::Browser(format!(
                    "failed to run {}: {error}",
                    binaries.chromedriver.display()
                ))
            })?;
        let mut driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            user_data_dir: user_data_dir.to_owned(),
            log: log.to_owned(),
        };
        driver.await_ready().await?;
        Ok(driver)
    }

    async fn await_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(START_SECONDS);
        let status_url = format!("{}/status", self.url);
        let client = crate::http::plain_client().map_err(Error::Browser)?;
        let mut delay = Duration::from_millis(50);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Browser(format!(
                    "chromedriver exited with {status}; its log ({}):\n{}",
                    self.log.display(),
                    self.log_tail()
                )));
            }
            let ready = match client.get(&status_url).send().await {
                Ok(response) => response.bytes().await.is_ok_and(|body| {
                    serde_json::from_slice::<serde_json::Value>(&body)
                        .is_ok_and(|body| body["value"]["ready"] == true)
                }),
                Err(_) => false,
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Browser(format!(
                    "chromedriver at {status_url} was not ready after {START_SECONDS} s; its log ({}):\n{}",
                    self.log.display(),
                    self.log_tail()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// The last lines of chromedriver's log, for error messages.
    pub fn log_tail(&self) -> String {
        host::logs::tail(&self.log, 20)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        host::process::kill_processes_naming(&self.user_data_dir);
    }
}
