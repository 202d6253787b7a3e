//! The `helm` program: which one, and the commands seatrial runs with it.
//!
//! Helm 3 (`[tools.helm]`, `helm.sh/helm/v3`) and Helm 4 (`[tools.helm4]`, `helm.sh/helm/v4`)
//! are pinned Go modules, built by [`crate::providers::binaries`] and cached. A `helm` on the
//! user's `PATH` is taken instead only when `helm version --template '{{.Version}}'` prints
//! exactly the pinned tag.
//!
//! Every command runs with `HELM_CACHE_HOME`, `HELM_CONFIG_HOME` and `HELM_DATA_HOME` under
//! one seatrial directory, so the user's repositories, plugins and registry logins neither
//! leak in nor get changed (Helm docs, "helm": environment variables).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::providers::binaries::{self, BuildEvent};

/// Which major release of Helm renders a chart stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum HelmMajor {
    /// Helm 3 (`[tools.helm]`).
    #[default]
    Helm3,
    /// Helm 4 (`[tools.helm4]`).
    Helm4,
}

impl HelmMajor {
    /// Both, in release order.
    pub const ALL: [HelmMajor; 2] = [HelmMajor::Helm3, HelmMajor::Helm4];

    /// The pin (and build recipe) name under `[tools.*]`: `helm` or `helm4`.
    pub fn pin(self) -> &'static str {
        match self {
            HelmMajor::Helm3 => "helm",
            HelmMajor::Helm4 => "helm4",
        }
    }

    /// `3` or `4`, as written in `stage.yaml` and the config.
    pub fn number(self) -> u8 {
        match self {
            HelmMajor::Helm3 => 3,
            HelmMajor::Helm4 => 4,
        }
    }
}

impl std::fmt::Display for HelmMajor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Helm {}", self.number())
    }
}

impl<'de> Deserialize<'de> for HelmMajor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            3 => Ok(HelmMajor::Helm3),
            4 => Ok(HelmMajor::Helm4),
            other => Err(serde::de::Error::custom(format!(
                "`helm` must be 3 or 4 (the pinned Helm releases), not {other}"
            ))),
        }
    }
}

/// One `helm` program at a known version.
#[derive(Debug, Clone)]
pub struct Helm {
    /// The binary.
    pub path: PathBuf,
    /// Its version (`v3.99.1`, say), as `helm version` reports it.
    pub version: String,
    /// Which major it is.
    pub major: HelmMajor,
    home: PathBuf,
}

/// The directory Helm's cache, config and data homes live under:
/// `$XDG_CACHE_HOME/seatrial/helm` (default `~/.cache/seatrial/helm`).
pub fn helm_home() -> PathBuf {
    binaries::cache_root()
        .parent()
        .map_or_else(|| PathBuf::from("/tmp/seatrial-helm"), Path::to_owned)
        .join("helm")
}

impl Helm {
    /// The pinned Helm of `major`: the user's `helm` when its version is the pin's tag,
    /// otherwise the one built from the Go module proxy (built now if missing; `on_event`
    /// hears the build).
    ///
    /// Errors: [`Error::Invalid`] for a missing pin; [`Error::EnvironmentMissing`] /
    /// [`Error::Build`] from the build.
    pub fn ensure(
        pins_file: &Path,
        major: HelmMajor,
        on_event: &mut dyn FnMut(BuildEvent),
    ) -> Result<Helm> {
        let pinned = crate::pins::load_tool_tag(pins_file, major.pin())?;
        if let Some(path) = host::path::on_path("helm") {
            if version_of(&path).as_deref() == Some(pinned.as_str()) {
                return Ok(Helm::at(path, pinned, major));
            }
        }
        let built = binaries::ensure(pins_file, &[major.pin()], on_event)?;
        let path = built.path(major.pin());
        let version = version_of(&path).ok_or_else(|| Error::Build {
            message: format!("{} does not answer `helm version`", path.display()),
        })?;
        if version != pinned {
            return Err(Error::Build {
                message: format!(
                    "{} reports {version}, but tools.{} pins {pinned}",
                    path.display(),
                    major.pin()
                ),
            });
        }
        Ok(Helm::at(path, version, major))
    }

    /// A Helm binary at `path` known to be `version`.
    pub fn at(path: PathBuf, version: String, major: HelmMajor) -> Helm {
        Helm {
            path,
            version,
            major,
            home: helm_home(),
        }
    }

    /// A command running this Helm with seatrial's Helm homes.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.path);
        command
            .env("HELM_CACHE_HOME", self.home.join("cache"))
            .env("HELM_CONFIG_HOME", self.home.join("config"))
            .env("HELM_DATA_HOME", self.home.join("data"))
            .env_remove("HELM_KUBECONTEXT")
            .env_remove("HELM_NAMESPACE");
        command
    }

    /// Runs `args`; returns standard output.
    ///
    /// Errors: [`Error::Helm`] with the command line (`what`) and Helm's standard error.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, what: &str, args: &[S]) -> Result<HelmOutput> {
        let output = self
            .command()
            .args(args)
            .output()
            .map_err(|error| Error::Helm {
                what: what.to_owned(),
                helm: self.path.display().to_string(),
                message: error.to_string(),
            })?;
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if !output.status.success() {
            return Err(Error::Helm {
                what: what.to_owned(),
                helm: format!("{} {}", self.major, self.version),
                message: stderr,
            });
        }
        Ok(HelmOutput {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr,
        })
    }

    /// `helm package <dir> --destination <dest>`: the chart tarball it wrote.
    ///
    /// Errors: [`Error::Helm`].
    pub fn package(&self, chart_dir: &Path, destination: &Path) -> Result<PathBuf> {
        let output = self.run(
            &format!("package {}", chart_dir.display()),
            &[
                "package".as_ref(),
                chart_dir.as_os_str(),
                "--destination".as_ref(),
                destination.as_os_str(),
            ],
        )?;
        // "Successfully packaged chart and saved it to: <path>"
        output
            .stdout
            .lines()
            .find_map(|line| {
                line.split_once(": ")
                    .map(|(_, path)| PathBuf::from(path.trim()))
            })
            .ok_or_else(|| Error::Helm {
                what: format!("package {}", chart_dir.display()),
                helm: format!("{} {}", self.major, self.version),
                message: format!("no tarball path in its output: {}", output.stdout),
            })
    }

    /// `helm push <tarball> oci://<registry>/<path> [--plain-http]`: the manifest digest Helm
    /// reports (`Digest: sha256:…`).
    ///
    /// Errors: [`Error::Helm`].
    pub fn push(&self, tarball: &Path, remote: &str, plain_http: bool) -> Result<String> {
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["push".as_ref(), tarball.as_os_str(), remote.as_ref()];
        if plain_http {
            args.push("--plain-http".as_ref());
        }
        let output = self.run(&format!("push {}", tarball.display()), &args)?;
        output.digest().ok_or_else(|| Error::Helm {
            what: format!("push {}", tarball.display()),
            helm: format!("{} {}", self.major, self.version),
            message: "no `Digest:` line in its output".into(),
        })
    }
}

/// What a successful Helm command printed.
#[derive(Debug, Clone)]
pub struct HelmOutput {
    /// Standard output.
    pub stdout: String,
    /// Standard error (warnings).
    pub stderr: String,
}

impl HelmOutput {
    /// The `Digest: sha256:…` that `helm pull` and `helm push` print for OCI charts (on
    /// standard output or standard error, depending on the release).
    pub fn digest(&self) -> Option<String> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .find_map(|line| line.trim().strip_prefix("Digest: "))
            .map(|digest| digest.trim().to_owned())
    }
}

/// `helm version --template '{{.Version}}'` of the binary at `path`, if it answers.
pub fn version_of(path: &Path) -> Option<String> {
    let output = Command::new(path)
        .args(["version", "--template", "{{.Version}}"])
        .env("HELM_CACHE_HOME", helm_home().join("cache"))
        .env("HELM_CONFIG_HOME", helm_home().join("config"))
        .env("HELM_DATA_HOME", helm_home().join("data"))
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && version.starts_with('v')).then_some(version)
}
