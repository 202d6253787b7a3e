//! A real JupyterHub on loopback, for proving the scenarios: JupyterHub and JupyterLab from
//! PyPI in a venv, configurable-http-proxy from npm, the simple local-process spawner and
//! the dummy authenticator with one password. Versions are pinned by the files in
//! `scenarios/local-hub/` (requirements, pip constraints, npm lockfile), which are embedded
//! here so the install does not depend on the working directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const REQUIREMENTS: &str = include_str!("../local-hub/requirements.txt");
const CONSTRAINTS: &str = include_str!("../local-hub/constraints.txt");
const PACKAGE_JSON: &str = include_str!("../local-hub/package.json");
const PACKAGE_LOCK: &str = include_str!("../local-hub/package-lock.json");
const HUB_CONFIG: &str = include_str!("../local-hub/jupyterhub_config.py");

/// How long the hub may take to answer `/hub/api` after start, in seconds.
const START_SECONDS: u64 = 90;
/// How long it may take to stop after SIGTERM before the group is killed, in seconds.
const STOP_SECONDS: u64 = 15;

/// Where the venv and node_modules live: `$SEATRIAL_LOCAL_HUB_DIR`, else
/// `~/.cache/seatrial/local-hub`.
pub fn default_install_dir() -> PathBuf {
    match std::env::var_os("SEATRIAL_LOCAL_HUB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => host::dirs::cache_dir().join("local-hub"),
    }
}

/// An installed local hub: the venv's `jupyterhub` and the proxy's executable.
#[derive(Clone, Debug)]
pub struct LocalHubInstall {
    /// The install directory.
    pub dir: PathBuf,
    /// `<dir>/venv/bin`.
    pub venv_bin: PathBuf,
    /// `<dir>/npm/node_modules/.bin/configurable-http-proxy`.
    pub proxy: PathBuf,
}

impl LocalHubInstall {
    /// Installs (or finds already installed) the pinned JupyterHub, JupyterLab and
    /// configurable-http-proxy under `dir`, with `python3 -m venv`, `pip` and `npm ci`. An
    /// exclusive lock on `<dir>/.lock` serialises concurrent callers; a stamp holding the
    /// pinned files' text makes a repeat call free. Errors: [`Error::LocalHub`] naming the
    /// command and quoting its log.
    pub fn ensure(dir: &Path) -> Result<LocalHubInstall> {
        let install = LocalHubInstall {
            dir: dir.to_owned(),
            venv_bin: dir.join("venv/bin"),
            proxy: dir.join("npm/node_modules/.bin/configurable-http-proxy"),
        };
        let npm_dir = dir.join("npm");
        let mut venv = Command::new("python3");
        venv.args(["-m", "venv"]).arg(dir.join("venv"));
        let mut pip = Command::new(install.venv_bin.join("pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(dir.join("requirements.txt"))
            .arg("-c")
            .arg(dir.join("constraints.txt"));
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&npm_dir);
        host::packages::ensure_installed(
            dir,
            &[
                ("requirements.txt", REQUIREMENTS),
                ("constraints.txt", CONSTRAINTS),
                ("npm/package.json", PACKAGE_JSON),
                ("npm/package-lock.json", PACKAGE_LOCK),
            ],
            &[install.venv_bin.join("jupyterhub"), install.proxy.clone()],
            vec![
                (venv, "python3 -m venv"),
                (pip, "pip install jupyterhub jupyterlab"),
                (npm, "npm ci (configurable-http-proxy)"),
            ],
        )
        .map_err(|error| {
            Error::LocalHub(format!(
                "{}\n  hint: it needs python3 with venv, and npm",
                host::error_chain(&error)
            ))
        })?;
        Ok(install)
    }
}

/// The user the local hub makes an admin by default.
pub const LOCAL_ADMIN: &str = "trial-admin";

/// A running local JupyterHub. Dropping it stops the hub, its proxy and every user server
/// (SIGTERM to the process group, SIGKILL after 15 s) and removes its state directory.
pub struct LocalHub {
    child: Child,
    state: tempfile::TempDir,
    /// `http://127.0.0.1:<port>/`.
    pub base_url: String,
}

impl LocalHub {
    /// Starts the hub on free loopback ports with `password` for every user and
    /// [`LOCAL_ADMIN`] as its admin, and waits (at most 90 s) until `/hub/api` answers 200.
    /// Errors: [`Error::LocalHub`] with the hub's log tail.
    pub fn start(install: &LocalHubInstall, password: &str) -> Result<LocalHub> {
        LocalHub::start_with_admins(install, password, &[LOCAL_ADMIN])
    }

    /// [`LocalHub::start`] with `admins` as the hub's admin users
    /// (`Authenticator.admin_users`).
    pub fn start_with_admins(
        install: &LocalHubInstall,
        password: &str,
        admins: &[&str],
    ) -> Result<LocalHub> {
        use std::os::unix::process::CommandExt;
        let state = tempfile::Builder::new()
            .prefix("seatrial-hub-")
            .tempdir()
            .map_err(|error| {
                Error::LocalHub(format!("failed to create a state directory: {error}"))
            })?;
        let config = state.path().join("jupyterhub_config.py");
        write_file(&config, HUB_CONFIG)?;
        let [port, api_port, proxy_api_port] = free_ports()?;
        let log_path = state.path().join("hub.log");
        let log = std::fs::File::create(&log_path).map_err(|source| io(&log_path, source))?;
        let path = format!(
            "{}:{}",
            install.venv_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let child = Command::new(install.venv_bin.join("jupyterhub"))
            .arg("-f")
            .arg(&config)
            .current_dir(state.path())
            .env("PATH", path)
            .env("SEATRIAL_HUB_DIR", state.path())
            .env("SEATRIAL_HUB_PORT", port.to_string())
            .env("SEATRIAL_HUB_API_PORT", api_port.to_string())
            .env("SEATRIAL_PROXY_API_PORT", proxy_api_port.to_string())
            .env("SEATRIAL_CHP", &install.proxy)
            .env("SEATRIAL_HUB_PASSWORD", password)
            .env("SEATRIAL_HUB_ADMINS", admins.join(","))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|source| io(&log_path, source))?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|error| Error::LocalHub(format!("failed to run jupyterhub: {error}")))?;
        let mut hub = LocalHub {
            child,
            state,
            base_url: format!("http://127.0.0.1:{port}/"),
        };
        hub.await_api()?;
        Ok(hub)
    }

    fn await_api(&mut self) -> Result<()> {
        let url = format!("{}hub/api", self.base_url);
        let deadline = Instant::now() + Duration::from_secs(START_SECONDS);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::LocalHub(format!(
                    "jupyterhub exited with {status}; its log:\n{}",
                    host::logs::tail(&self.log_path(), 30)
                )));
            }
            if http_status(&url) == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::LocalHub(format!(
                    "{url} did not answer 200 within {START_SECONDS} s; the hub's log:\n{}",
                    host::logs::tail(&self.log_path(), 30)
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The hub's log (hub, proxy and user servers).
    pub fn log_path(&self) -> PathBuf {
        self.state.path().join("hub.log")
    }

    /// One line per spawn: `<user> <profile>`, written by the hub's pre-spawn hook.
    pub fn profiles_log(&self) -> String {
        std::fs::read_to_string(self.state.path().join("profiles.log")).unwrap_or_default()
    }

    /// Stops the hub and everything it started (see the type's docs). Idempotent.
    pub fn stop(&mut self) {
        let group = host::process::Target::Group(self.child.id() as i32);
        let child = &mut self.child;
        host::process::terminate(group, Duration::from_secs(STOP_SECONDS), || {
            child.try_wait().is_ok_and(|status| status.is_none())
        });
        // The proxy and user servers share the group; whatever is left goes now.
        host::process::kill(group);
        let _ = self.child.wait();
    }
}

impl Drop for LocalHub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A blocking `GET` on loopback HTTP/1.0, for the start-up wait (no runtime needed).
fn http_status(url: &str) -> Option<u16> {
    use std::io::Read;
    let url = url::Url::parse(url).ok()?;
    let address = (url.host_str()?, url.port()?);
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {}\r\n\r\n",
        url.path(),
        url.host_str()?
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn free_ports() -> Result<[u16; 3]> {
    host::ports::free_ports()
        .map_err(|error| Error::LocalHub(format!("no free loopback port: {error}")))
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| io(path, source))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}
