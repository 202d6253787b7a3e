//! Building the hollow cluster's binaries from Debian's `kubernetes` source package.
//!
//! The recipe (Debian bookworm): install `golang-go etcd-server rsync jq openssl
//! golang-github-modern-go-reflect2-dev`; fetch the
//! source package with a private `deb-src` list that uses the machine's own Debian mirror;
//! unpack the orig tarball, which vendors every Go dependency; patch the hollow kubelet to bind
//! its server to 127.0.0.1 and keep its files under `$TMPDIR` (see `PATCHES`); replace the
//! vendored reflect2 1.0.1, which crashes under Go ≥ 1.18, with Debian's 1.0.2; run
//! `make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubemark"`
//! with `CGO_ENABLED=0`; copy the four binaries to the cache. About ten minutes on two cores,
//! once: later calls find the cached binaries and return at once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::{HollowPaths, BIN_ENV, KUBERNETES_BINARIES, KUBERNETES_VERSION};
use crate::error::{Error, Result};

/// Debian packages the build and the cluster need.
pub const APT_PACKAGES: [&str; 6] = [
    "golang-go",
    "etcd-server",
    "rsync",
    "jq",
    "openssl",
    "golang-github-modern-go-reflect2-dev",
];
/// Where `golang-github-modern-go-reflect2-dev` puts reflect2 1.0.2's source.
const DEBIAN_REFLECT2: &str = "/usr/share/gocode/src/github.com/modern-go/reflect2";
/// Commands those packages provide, checked on `PATH`.
const REQUIRED_COMMANDS: [&str; 5] = ["go", "etcd", "rsync", "jq", "openssl"];
/// Files that must exist besides the commands.
const REQUIRED_FILES: [&str; 1] = [DEBIAN_REFLECT2];

/// Identifies what the cached binaries were built from: the version and our patches. Change
/// it whenever [`PATCHES`] change, so that caches are rebuilt.
pub const BUILD_ID: &str = "1.20.2+seatrial.4";
/// File in the binary directory recording the [`BUILD_ID`] the binaries were built as.
const BUILD_STAMP_FILE: &str = ".seatrial-build";

/// What [`ensure_binaries`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildOutcome {
    /// The binaries were already there (cached or prebuilt).
    Present,
    /// They were built now, taking this many seconds.
    Built {
        /// Wall-clock seconds of the whole build, downloads included.
        seconds: f64,
    },
}

/// Makes sure the four Kubernetes binaries exist in `paths.bin_dir`, building them if needed.
///
/// Errors: [`Error::EnvironmentMissing`] when `SEATRIAL_HOLLOW_BIN` lacks a binary, or the
/// build needs packages and this is not root; [`Error::Hollow`] naming the failed step and its
/// log file when a download or the build fails.
pub fn ensure_binaries(paths: &HollowPaths) -> Result<BuildOutcome> {
    ensure_commands()?;
    let missing = missing_binaries(&paths.bin_dir);
    let stamp = paths.bin_dir.join(BUILD_STAMP_FILE);
    let current =
        paths.prebuilt || fs::read_to_string(&stamp).is_ok_and(|text| text.trim() == BUILD_ID);
    if missing.is_empty() && current {
        return Ok(BuildOutcome::Present);
    }
    if paths.prebuilt {
        return Err(Error::EnvironmentMissing {
            what: format!("{BIN_ENV}={} lacks {}", paths.bin_dir.display(), missing.join(", ")),
            hint: format!("put the Kubernetes {KUBERNETES_VERSION} binaries there, or unset {BIN_ENV} to build them"),
        });
    }
    let started = Instant::now();
    fs::create_dir_all(&paths.build_dir).map_err(|error| io_error(&paths.build_dir, error))?;
    let source_dir = fetch_source(&paths.build_dir)?;
    compile(&paths.build_dir, &source_dir)?;
    fs::create_dir_all(&paths.bin_dir).map_err(|error| io_error(&paths.bin_dir, error))?;
    let output = source_dir.join("_output/local/bin/linux/amd64");
    for binary in KUBERNETES_BINARIES {
        let (from, to) = (output.join(binary), paths.bin_dir.join(binary));
        fs::copy(&from, &to).map_err(|error| io_error(&from, error))?;
    }
    fs::write(&stamp, format!("{BUILD_ID}\n")).map_err(|error| io_error(&stamp, error))?;
    Ok(BuildOutcome::Built {
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The Kubernetes binaries absent from `dir`.
pub fn missing_binaries(dir: &Path) -> Vec<&'static str> {
    KUBERNETES_BINARIES
        .into_iter()
        .filter(|binary| !dir.join(binary).is_file())
        .collect()
}

/// Whether `command` is an executable file on `PATH`.
pub fn on_path(command: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

/// Installs the Debian packages when a required command is missing (root only).
fn ensure_commands() -> Result<()> {
    let mut missing: Vec<&str> = REQUIRED_COMMANDS
        .into_iter()
        .filter(|command| on_path(command).is_none())
        .collect();
    missing.extend(
        REQUIRED_FILES
            .into_iter()
            .filter(|file| !Path::new(file).exists()),
    );
    let missing: Vec<String> = missing.into_iter().map(str::to_owned).collect();
    crate::packages::ensure_debian_packages(&APT_PACKAGES, &missing)
}

/// The first Debian mirror URI the machine's apt sources use for bookworm.
pub fn debian_mirror() -> Option<String> {
    let mut texts: Vec<String> = fs::read_to_string("/etc/apt/sources.list")
        .into_iter()
        .collect();
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        files.sort();
        texts.extend(
            files
                .iter()
                .filter_map(|path| fs::read_to_string(path).ok()),
        );
    }
    texts.iter().find_map(|text| mirror_in(text))
}

/// Finds a bookworm `main` mirror URI in one sources file (one-line or deb822 format).
pub fn mirror_in(text: &str) -> Option<String> {
    // One-line format: `deb [options] URI bookworm main …`.
    for line in text.lines() {
        let words: Vec<&str> = line
            .split_whitespace()
            .filter(|word| !word.starts_with('['))
            .collect();
        if words.len() >= 3 && words[0] == "deb" && words[2] == "bookworm" {
            return Some(words[1].to_owned());
        }
    }
    // deb822 format: stanzas of `Key: value` separated by blank lines.
    for stanza in text.split("\n\n") {
        let field = |key: &str| {
            stanza.lines().find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .map(str::trim)
            })
        };
        let suites = field("Suites").unwrap_or("");
        if suites.split_whitespace().any(|suite| suite == "bookworm") {
            if let Some(uri) = field("URIs").and_then(|uris| uris.split_whitespace().next()) {
                return Some(uri.to_owned());
            }
        }
    }
    None
}

fn fetch_source(build_dir: &Path) -> Result<PathBuf> {
    let source_dir = build_dir.join(format!("kubernetes-{KUBERNETES_VERSION}"));
    if source_dir.join("Makefile").is_file() {
        return Ok(source_dir);
    }
    let mirror = debian_mirror().ok_or_else(|| Error::EnvironmentMissing {
        what: "no Debian bookworm mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d"
            .to_owned(),
        hint: format!(
            "build the Kubernetes {KUBERNETES_VERSION} binaries elsewhere and set {BIN_ENV}"
        ),
    })?;
    tracing::info!(%mirror, "downloading Debian's kubernetes source package");
    // A private list and state, so the machine's own package lists are left as they were.
    let apt_dir = build_dir.join("apt");
    for dir in [
        apt_dir.join("lists/partial"),
        apt_dir.join("cache/archives/partial"),
    ] {
        fs::create_dir_all(&dir).map_err(|error| io_error(&dir, error))?;
    }
    let list = apt_dir.join("sources.list");
    fs::write(&list, format!("deb-src {mirror} bookworm main\n"))
        .map_err(|error| io_error(&list, error))?;
    let options = [
        format!("-oDir::Etc::SourceList={}", list.display()),
        "-oDir::Etc::SourceParts=/dev/null".to_owned(),
        format!("-oDir::State::Lists={}", apt_dir.join("lists").display()),
        format!("-oDir::Cache={}", apt_dir.join("cache").display()),
    ];
    let log = build_dir.join("download.log");
    run(
        Command::new("apt-get").args(&options).arg("update"),
        &log,
        "apt-get update (deb-src)",
    )?;
    run(
        Command::new("apt-get")
            .args(&options)
            .args(["source", "--download-only", "kubernetes"])
            .current_dir(build_dir),
        &log,
        "apt-get source --download-only kubernetes",
    )?;
    let tarball = fs::read_dir(build_dir)
        .map_err(|error| io_error(build_dir, error))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.to_string_lossy().ends_with(".orig.tar.gz"))
        .ok_or_else(|| Error::Hollow {
            message: format!(
                "apt-get source left no *.orig.tar.gz in {}; see {}",
                build_dir.display(),
                log.display()
            ),
        })?;
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(&tarball)
            .current_dir(build_dir),
        &log,
        "unpack the source tarball",
    )?;
    if !source_dir.join("Makefile").is_file() {
        return Err(Error::Hollow {
            message: format!(
                "the source tarball did not unpack to {}",
                source_dir.display()
            ),
        });
    }
    Ok(source_dir)
}

/// Source patches applied before the build, as (file, original text, patched text): the
/// hollow kubelet hard-codes its server's bind address to every interface and its root
/// directory to `/tmp`, and every kubemark shares one fake-runtime socket in `/tmp`; we build
/// it to listen on loopback only and to keep its files and its own socket under `$TMPDIR`
/// (which `up` points into the state directory, so `down` removes them).
const PATCHES: [(&str, &str, &str); 5] = [
    (
        "pkg/kubemark/hollow_kubelet.go",
        "c.Address = \"0.0.0.0\" /* bind address */",
        "c.Address = \"127.0.0.1\" /* bind address: loopback (seatrial) */",
    ),
    (
        "pkg/kubemark/hollow_kubelet.go",
        "utils.MakeTempDirOrDie(\"hollow-kubelet.\", \"\")",
        "utils.MakeTempDirOrDie(\"hollow-kubelet.\", os.Getenv(\"TMPDIR\") /* seatrial */)",
    ),
    (
        "pkg/kubemark/hollow_kubelet.go",
        "import (\n\t\"fmt\"\n",
        "import (\n\t\"fmt\"\n\t\"os\" // seatrial\n",
    ),
    // Every kubemark serves its fake container runtime on one fixed socket,
    // /tmp/kubelet_remote.sock: a node started later takes it over from the others, whose
    // kubelets then see foreign containers and mark their pods unready. One socket a process.
    (
        "pkg/kubelet/cri/remote/fake/endpoint.go",
        "package fake\n\nconst (",
        "package fake\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nconst (",
    ),
    (
        "pkg/kubelet/cri/remote/fake/endpoint.go",
        "\treturn defaultUnixEndpoint, nil",
        "\treturn fmt.Sprintf(\"unix://%s/kubelet_remote_%d.sock\", os.TempDir(), os.Getpid()), nil // seatrial",
    ),
];

fn apply_patches(source_dir: &Path) -> Result<()> {
    for (file, original, patched) in PATCHES {
        let path = source_dir.join(file);
        let text = fs::read_to_string(&path).map_err(|error| io_error(&path, error))?;
        if text.contains(patched) {
            continue;
        }
        if !text.contains(original) {
            return Err(Error::Hollow {
                message: format!(
                    "{} does not contain the text seatrial patches: {original}",
                    path.display()
                ),
            });
        }
        fs::write(&path, text.replacen(original, patched, 1))
            .map_err(|error| io_error(&path, error))?;
    }
    Ok(())
}

/// Replaces the vendored reflect2 1.0.1, whose map iteration crashes kube-apiserver when built
/// with Go 1.18 or later (a nil pointer in `reflect.mapiterinit` on the first custom resource
/// write), with Debian's reflect2 1.0.2, which fixes it.
fn vendor_reflect2(source_dir: &Path) -> Result<()> {
    let vendored = source_dir.join("vendor/github.com/modern-go/reflect2");
    let is_source = |path: &Path| {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        (name.ends_with(".go") || name.ends_with(".s")) && !name.ends_with("_test.go")
    };
    let list = |dir: &Path| -> Result<Vec<PathBuf>> {
        Ok(fs::read_dir(dir)
            .map_err(|error| io_error(dir, error))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| is_source(path))
            .collect())
    };
    for old in list(&vendored)? {
        fs::remove_file(&old).map_err(|error| io_error(&old, error))?;
    }
    for new in list(Path::new(DEBIAN_REFLECT2))? {
        let to = vendored.join(new.file_name().expect("a listed file has a name"));
        fs::copy(&new, &to).map_err(|error| io_error(&new, error))?;
    }
    Ok(())
}

fn compile(build_dir: &Path, source_dir: &Path) -> Result<()> {
    apply_patches(source_dir)?;
    vendor_reflect2(source_dir)?;
    let home = build_dir.join("home");
    fs::create_dir_all(&home).map_err(|error| io_error(&home, error))?;
    let log = build_dir.join("build.log");
    tracing::info!(log = %log.display(), "building kube-apiserver, kube-controller-manager, kube-scheduler and kubemark (about 10 minutes on 2 cores)");
    let what = KUBERNETES_BINARIES
        .map(|binary| format!("cmd/{binary}"))
        .join(" ");
    run(
        Command::new("make")
            .arg(format!("WHAT={what}"))
            .env("HOME", &home)
            .env("CGO_ENABLED", "0")
            .current_dir(source_dir),
        &log,
        "make WHAT=…",
    )
}

/// Runs a command with output appended to `log`; on failure names the step, the log and its tail.
fn run(command: &mut Command, log: &Path, step: &str) -> Result<()> {
    crate::packages::run_logged(command, log, step).map_err(|message| Error::Hollow { message })
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::Hollow {
        message: format!("{}: {error}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mirror_in_both_source_formats() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            mirror_in(deb822).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let one_line =
            "# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main contrib\n";
        assert_eq!(
            mirror_in(one_line).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_in("Types: deb\nURIs: http://x/debian-security\nSuites: bookworm-security\n"),
            None
        );
    }
}
