//! Where an upgrade trial's two deployments come from: a git revision of this repository (its
//! platform files and pin set, checked out with `git archive`), a pin set file (the working
//! tree's platform with that file's versions), or a platform directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use deployer::platform::Platform;
use serde::Serialize;

/// One side of an upgrade trial, as `--from` / `--to` name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlatformSource {
    /// A directory holding `platform.yaml`.
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// A pin set file (`.toml`): the default platform with its versions.
    Pins {
        /// The file.
        path: PathBuf,
    },
    /// A git revision of the repository: its `deployer/stages` and `pins/` as committed.
    Revision {
        /// The revision as given (`main`, `HEAD~3`, a tag).
        revision: String,
        /// The commit it names (40 hex digits).
        commit: String,
    },
}

/// The repository root: the directory above the crates (`deployer/`, `pins/`).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate is in the workspace")
        .to_owned()
}

impl PlatformSource {
    /// Reads `text`: an existing directory with `platform.yaml`, an existing `.toml` file, or
    /// else a git revision of `repository` (resolved with `git rev-parse`).
    ///
    /// Errors: bad input naming `text` when it is none of these.
    pub fn parse(text: &str, repository: &Path) -> Result<PlatformSource, deployer::Error> {
        let path = Path::new(text);
        if path.is_dir() && path.join("platform.yaml").is_file() {
            return Ok(PlatformSource::Directory {
                path: path.to_owned(),
            });
        }
        if path.is_file() && path.extension().is_some_and(|ext| ext == "toml") {
            return Ok(PlatformSource::Pins {
                path: path.to_owned(),
            });
        }
        let output = Command::new("git")
            .arg("-C")
            .arg(repository)
            .args(["rev-parse", "--verify", "--quiet"])
            .arg(format!("{text}^{{commit}}"))
            .output();
        match output {
            Ok(output) if output.status.success() => Ok(PlatformSource::Revision {
                revision: text.to_owned(),
                commit: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            }),
            _ => Err(deployer::Error::Invalid {
                path: path.to_owned(),
                line: 0,
                message: format!(
                    "`{text}` is neither a platform directory (with platform.yaml), a pin set file (.toml), nor a git revision of {}",
                    repository.display()
                ),
            }),
        }
    }

    /// Loads the platform it names; a revision is first written out under `work_dir` (its
    /// `deployer/stages` and `pins` trees, as `git archive` gives them).
    ///
    /// Errors: those of [`Platform::load`]; a revision that cannot be written out is an
    /// environment error naming the commit.
    pub fn load(&self, repository: &Path, work_dir: &Path) -> Result<Platform, deployer::Error> {
        match self {
            PlatformSource::Directory { path } => Platform::load(path),
            PlatformSource::Pins { path } => {
                Platform::load_with_pins(&deployer::platform::default_platform_dir(), Some(path))
            }
            PlatformSource::Revision { commit, .. } => {
                let dir = work_dir.join(format!("platform-{}", &commit[..12]));
                check_out(repository, commit, &dir)?;
                Platform::load(&dir.join("deployer").join("stages"))
            }
        }
    }

    /// A short description for reports: `git main (1a2b3c4d5e6f)`, `pins file …`, `platform …`.
    pub fn describe(&self) -> String {
        match self {
            PlatformSource::Directory { path } => format!("platform {}", path.display()),
            PlatformSource::Pins { path } => format!("pins file {}", path.display()),
            PlatformSource::Revision { revision, commit } => {
                format!("git {revision} ({})", &commit[..12])
            }
        }
    }
}

/// Writes `deployer/stages` and `pins` of `commit` into `dir` (emptied first).
fn check_out(repository: &Path, commit: &str, dir: &Path) -> Result<(), deployer::Error> {
    let failed = |message: String| deployer::Error::Build {
        message: format!(
            "failed to write out commit {commit} into {}: {message}",
            dir.display()
        ),
    };
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|error| failed(error.to_string()))?;
    let archive = dir.join("platform.tar");
    let status = Command::new("git")
        .arg("-C")
        .arg(repository)
        .args(["archive", "--format=tar", "-o"])
        .arg(&archive)
        .arg(commit)
        .args(["deployer/stages", "pins/pins.toml"])
        .status()
        .map_err(|error| failed(format!("git archive: {error}")))?;
    if !status.success() {
        return Err(failed(format!("git archive exited with {status}")));
    }
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(dir)
        .status()
        .map_err(|error| failed(format!("tar: {error}")))?;
    let _ = std::fs::remove_file(&archive);
    if !status.success() {
        return Err(failed(format!("tar exited with {status}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_nothing_is_refused_naming_it() {
        let error = PlatformSource::parse("no-such-revision-or-file", &repository_root())
            .expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("no-such-revision-or-file"), "{text}");
        assert!(text.contains("git revision"), "{text}");
    }

    #[test]
    fn a_pins_file_and_a_directory_are_read_as_such() {
        let root = repository_root();
        let pins = root.join("pins/pins.toml");
        assert_eq!(
            PlatformSource::parse(pins.to_str().unwrap(), &root).unwrap(),
            PlatformSource::Pins { path: pins }
        );
        let dir = root.join("deployer/stages");
        assert_eq!(
            PlatformSource::parse(dir.to_str().unwrap(), &root).unwrap(),
            PlatformSource::Directory { path: dir }
        );
    }
}
