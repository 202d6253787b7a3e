//! A kept deployment's description (`target.json`), written by `integration --keep` so that
//! the stage-check trials can be run against it later and `cargo xtask teardown` can remove it.

use std::path::{Path, PathBuf};

use deployer::config::Config;
use serde::{Deserialize, Serialize};

/// Environment variable naming a `target.json`; the `stage_checks` test binary runs its trials
/// against that deployment (without it, the trials are listed as ignored).
pub const TARGET_ENV: &str = "SEATRIAL_TARGET";

/// A deployment left running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The deployment id.
    pub deployment: String,
    /// The run that deployed it.
    pub run_id: String,
    /// The kubeconfig to reach the cluster (credentials stay in that file, never here).
    pub kubeconfig: PathBuf,
    /// The context, when one was named.
    pub context: Option<String>,
    /// The platform directory deployed.
    pub platform_dir: PathBuf,
    /// Where the config came from.
    pub config_source: PathBuf,
    /// The config text, so the checks render exactly as they did.
    pub config_text: String,
    /// Whether containers run on that cluster (the `probes` template value).
    pub probes: bool,
    /// The provider it was deployed to, whose stage-setting defaults the config got
    /// ([`deployer::providers::lifecycle::apply_defaults`]); `hollow` in older files.
    #[serde(default)]
    pub provider: deployer::config::ProviderKind,
    /// The platform CA certificate the run made (`platform-ca.crt` beside this file), which
    /// the endpoint checks trust; absent in older files.
    #[serde(default)]
    pub platform_ca: Option<PathBuf>,
}

impl Target {
    /// Reads a `target.json`. Errors name the file.
    pub fn load(path: &Path) -> Result<Target, deployer::Error> {
        let text = std::fs::read_to_string(path).map_err(|source| deployer::Error::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|error| deployer::Error::Invalid {
            path: path.to_owned(),
            line: error.line(),
            message: error.to_string(),
        })
    }

    /// Writes it as pretty JSON.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            serde_json::to_string_pretty(self).expect("a target serializes"),
        )
    }

    /// The config it was deployed with, with its provider's defaults, so that the checks
    /// render exactly as they did. Errors: the config or the platform does not load.
    pub fn config(&self) -> Result<Config, deployer::Error> {
        let mut config = Config::parse(&self.config_source, &self.config_text)?;
        let platform = deployer::platform::Platform::load(&self.platform_dir)?;
        deployer::providers::lifecycle::apply_defaults(&mut config, self.provider, &platform);
        Ok(config)
    }
}
