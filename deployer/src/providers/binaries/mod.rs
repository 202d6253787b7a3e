//! The cluster binaries: built from the Go module proxy at the pinned versions, cached by
//! recipe, or taken prebuilt from `SEATRIAL_CLUSTER_BIN`.
//!
//! - [`go`] builds one recipe (a build module, `go mod tidy`, `go build -overlay`).
//! - [`recipes`] says what each pinned tool builds: Kubernetes, etcd, containerd, runc, the
//!   CNI plugins, crictl, CoreDNS.
//!
//! Each recipe is cached in `~/.cache/seatrial/cluster/<name>-<version>-<fingerprint>/bin`
//! (`XDG_CACHE_HOME` honoured), where a stamp file records the fingerprint of the recipe that
//! built it: a second `ensure` finds it and returns at once; a changed version, program,
//! flag or patch builds anew.

pub mod go;
pub mod recipes;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::providers::hollow::xdg_dir;

pub use go::Recipe;

/// Environment variable naming one directory of prebuilt cluster binaries (every binary of
/// the recipes asked for: `kube-apiserver`, …, `etcd`, `containerd`, `runc`, `bridge`, …).
pub const BIN_ENV: &str = "SEATRIAL_CLUSTER_BIN";
/// The stamp file in a recipe's cache directory: the fingerprint it was built from.
const STAMP_FILE: &str = ".seatrial-build";

/// Where each binary is, by file name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterBinaries {
    paths: BTreeMap<String, PathBuf>,
    /// The versions built or found, by recipe name (`kubernetes` → `v1.99.1`).
    pub versions: BTreeMap<String, String>,
}

impl ClusterBinaries {
    /// The Kubernetes release built (`v1.99.1`), empty when the `kubernetes` recipe was not
    /// among those ensured.
    pub fn kubernetes_version(&self) -> String {
        self.versions.get("kubernetes").cloned().unwrap_or_default()
    }

    /// The path of `binary`. Panics when no ensured recipe produces it: asking for a binary
    /// the caller did not ensure is a bug, not an input error.
    pub fn path(&self, binary: &str) -> PathBuf {
        self.paths
            .get(binary)
            .cloned()
            .unwrap_or_else(|| panic!("no ensured recipe builds `{binary}`"))
    }

    /// Every binary of the ensured recipes, by file name order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.paths.values().map(PathBuf::as_path)
    }

    /// The directories that hold the binaries (for a `PATH`, or CNI's `bin_dir` list).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .paths
            .values()
            .filter_map(|path| path.parent().map(Path::to_owned))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

/// One step of [`ensure`], for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    /// A recipe is being built (minutes for Kubernetes); its log file.
    Building {
        /// The recipe's pin name.
        name: String,
        /// Its version.
        version: String,
        /// Where its output goes.
        log: PathBuf,
    },
    /// A recipe was built, in this many seconds.
    Built {
        /// The recipe's pin name.
        name: String,
        /// Wall-clock seconds of its build, downloads included.
        seconds: f64,
    },
}

/// The cache root: `$XDG_CACHE_HOME/seatrial/cluster` (default `~/.cache/seatrial/cluster`).
pub fn cache_root() -> PathBuf {
    xdg_dir("XDG_CACHE_HOME", ".cache")
        .join("seatrial")
        .join("cluster")
}

/// The cache directory of `recipe`: `<root>/<name>-<version>-<first 12 hex of the
/// fingerprint's sha256>`.
pub fn cache_dir(root: &Path, recipe: &Recipe) -> PathBuf {
    let digest = ring::digest::digest(&ring::digest::SHA256, recipe.fingerprint().as_bytes());
    let hex: String = digest.as_ref()[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    root.join(format!("{}-{}-{hex}", recipe.name, recipe.version))
}

/// Makes sure the binaries of the recipes named in `names` exist, building what is missing.
///
/// Versions come from `[tools.<name>]` of `pins_file`. With [`BIN_ENV`] set, every binary
/// must be in that directory and nothing is built. `on_event` hears each build start and end.
///
/// Errors: [`Error::EnvironmentMissing`] when `go` is missing or [`BIN_ENV`] lacks a binary;
/// [`Error::Invalid`] for a pin without `go_module`/`tag`; [`Error::Build`] naming the step,
/// the module and the log file when a build fails.
pub fn ensure(
    pins_file: &Path,
    names: &[&str],
    on_event: &mut dyn FnMut(BuildEvent),
) -> Result<ClusterBinaries> {
    let recipes = names
        .iter()
        .map(|name| recipes::recipe(pins_file, name))
        .collect::<Result<Vec<_>>>()?;
    let mut found = ClusterBinaries::default();
    if let Some(dir) = std::env::var_os(BIN_ENV).filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        let missing: Vec<&str> = recipes
            .iter()
            .flat_map(Recipe::binaries)
            .filter(|binary| !dir.join(binary).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::EnvironmentMissing {
                what: format!("{BIN_ENV}={} lacks {}", dir.display(), missing.join(", ")),
                hint: format!("put the binaries there, or unset {BIN_ENV} to build them from the Go module proxy"),
            });
        }
        for recipe in &recipes {
            add(&mut found, recipe, &dir);
        }
        return Ok(found);
    }
    let root = cache_root();
    for recipe in &recipes {
        let dir = cache_dir(&root, recipe);
        let bin = dir.join("bin");
        let current = fs::read_to_string(dir.join(STAMP_FILE))
            .is_ok_and(|stamp| stamp == recipe.fingerprint())
            && recipe.binaries().all(|binary| bin.join(binary).is_file());
        if !current {
            go::ensure_go()?;
            let packages = recipes::build_packages(recipe.name);
            let missing: Vec<String> = packages
                .iter()
                .filter(|package| !debian_package_installed(package))
                .map(|package| format!("Debian package {package}"))
                .collect();
            host::packages::ensure_debian_packages(packages, &missing)?;
            let log = dir.join("build.log");
            on_event(BuildEvent::Building {
                name: recipe.name.to_owned(),
                version: recipe.version.clone(),
                log: log.clone(),
            });
            let started = Instant::now();
            let _ = fs::remove_file(dir.join(STAMP_FILE));
            go::build(recipe, &dir.join("module"), &bin, &log)?;
            let stamp = dir.join(STAMP_FILE);
            fs::write(&stamp, recipe.fingerprint()).map_err(|error| Error::Build {
                message: format!("{}: {error}", stamp.display()),
            })?;
            on_event(BuildEvent::Built {
                name: recipe.name.to_owned(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        add(&mut found, recipe, &bin);
    }
    Ok(found)
}

fn add(found: &mut ClusterBinaries, recipe: &Recipe, dir: &Path) {
    for binary in recipe.binaries() {
        found.paths.insert(binary.to_owned(), dir.join(binary));
    }
    found
        .versions
        .insert(recipe.name.to_owned(), recipe.version.clone());
}

/// Whether dpkg lists `package` as installed.
fn debian_package_installed(package: &str) -> bool {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|output| {
            String::from_utf8_lossy(&output.stdout).contains("install ok installed")
        })
}
