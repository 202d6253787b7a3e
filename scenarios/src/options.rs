//! What a scenario run needs to know: the hub, the user, and how to reach them.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// A password that never prints: `Debug` and `Display` show `***`.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    /// The password itself, for typing it into a form.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A user to log in as and their password.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The user name typed into the login form.
    pub user: String,
    /// Their password.
    pub password: Password,
}

/// The users the `roles` scenario logs in as: one the platform makes an admin, one it must
/// not (on the platform, the trial users of Keycloak's `admin` and `analyst` groups).
#[derive(Clone, Debug)]
pub struct RoleUsers {
    /// May open `/hub/admin` and see the user list.
    pub admin: Credentials,
    /// Must be refused `/hub/admin` (JupyterHub's 403 page).
    pub analyst: Credentials,
}

/// How the browser reaches the platform when its domain is not in DNS.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// Maps the base URL's host (and its subdomains) to this address with Chromium's
    /// `--host-resolver-rules`; no `/etc/hosts` edit.
    pub address: Option<IpAddr>,
    /// Base64 SHA-256 hashes of certificate public keys (SPKI) whose errors Chromium ignores
    /// (`--ignore-certificate-errors-spki-list`): the platform's own certificate and no other.
    pub trusted_spki: Vec<String>,
}

/// The notebook cell `spawn_and_run_notebook` runs and what its output must read.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Python source typed into the first cell.
    pub source: String,
    /// The expected text of the output area (trimmed).
    pub expected: String,
}

impl Default for Cell {
    fn default() -> Cell {
        Cell {
            source: "1 + 5".into(),
            expected: "6".into(),
        }
    }
}

/// Per-step time limits, in seconds.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// A page or element that needs no server-side work (login form, token page).
    pub page_seconds: u64,
    /// The user's server starting and JupyterLab loading.
    pub spawn_seconds: u64,
    /// The kernel starting and the cell's output appearing.
    pub kernel_seconds: u64,
    /// The server stopping.
    pub stop_seconds: u64,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            page_seconds: 30,
            spawn_seconds: 180,
            kernel_seconds: 120,
            stop_seconds: 60,
        }
    }
}

/// Everything a scenario run needs.
#[derive(Clone, Debug)]
pub struct ScenarioOptions {
    /// The hub's base URL, e.g. `https://seatrial.test/` (the hub is at `<base>/hub/`).
    pub base_url: String,
    /// The user to log in as.
    pub user: String,
    /// Their password.
    pub password: Password,
    /// The profile to choose on the spawn form when the hub offers profiles (the KubeSpawner
    /// `profile` radio inputs); `None` takes the form's default.
    pub profile: Option<String>,
    /// The cell to run.
    pub cell: Cell,
    /// Step time limits.
    pub timeouts: Timeouts,
    /// How the browser reaches the hub.
    pub network: Network,
    /// An HTTP client for the API checks (`hub_api_token`), configured by the caller with the
    /// same address mapping and trust as the browser.
    pub http: reqwest::Client,
    /// Failure artifacts go to `<artifacts_dir>/<scenario>/`.
    pub artifacts_dir: PathBuf,
    /// The admin and the analyst of the `roles` scenario; without them it fails at its
    /// first step, saying so.
    pub roles: Option<RoleUsers>,
}

impl ScenarioOptions {
    /// The base URL without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// `<base>/<path>` for a path starting with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }
}
