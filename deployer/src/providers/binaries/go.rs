//! Building Go programs from the Go module proxy, the way `go install module@version` would,
//! with what `go install` cannot do: replace directives and patched files.
//!
//! For one [`Recipe`] the build makes a *build module* (`go.mod` requiring the upstream module
//! at the pinned version, plus a `tools.go` importing the programs), resolves it with
//! `go mod tidy`, and runs one `go build -trimpath -o <dir>/` for all programs. Two things the
//! upstream `go.mod` needs when it is used as a dependency rather than as the main module:
//!
//! - **Sibling modules.** Kubernetes requires its staging modules (`k8s.io/api`, …) at
//!   `v0.0.0` and replaces them with `./staging/...`; etcd replaces its own api and client
//!   modules with `../api`. Replace directives of a dependency are ignored (Go modules
//!   reference, "replace directive"), so the build module replaces every module that the
//!   upstream file points at a local path with that module at [`Recipe::sibling_version`].
//! - **Patches.** A handful of one-line changes (the hollow kubelet's bind address) are made to
//!   a vendored copy (`go mod vendor`, then `go build -mod=vendor`): the module cache is
//!   read-only, and `go build -overlay` refuses to replace files beneath it.
//!
//! Every command's output goes to one log file; a failure names the step and quotes its tail.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::error::{Error, Result};
use host::packages::run_logged;

/// One program of a recipe: a package inside the module and the binary it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The package path relative to the module root (`cmd/kube-apiserver`; `""` for the root).
    pub package: &'static str,
    /// The binary's file name (`kube-apiserver`).
    pub binary: &'static str,
}

/// A one-line source change, made to the vendored copy of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// The module whose file it patches (the recipe's own module, or a dependency of it).
    pub module: &'static str,
    /// The file, relative to that module's root.
    pub file: &'static str,
    /// The exact upstream text (must occur once).
    pub from: &'static str,
    /// What replaces it.
    pub to: &'static str,
}

/// What the module proxy says about one version (`$GOPROXY/<module>/@v/<version>.info`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VersionInfo {
    /// The canonical version.
    #[serde(rename = "Version")]
    pub version: String,
    /// When it was published (RFC 3339).
    #[serde(rename = "Time", default)]
    pub time: String,
    /// Where it came from: `Origin.Hash` is the commit, when the proxy knows it.
    #[serde(rename = "Origin", default)]
    pub origin: Option<Origin>,
}

/// The VCS origin of a module version.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Origin {
    /// The commit hash.
    #[serde(rename = "Hash", default)]
    pub hash: String,
}

/// How to build one upstream module's programs.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The pin's name in `[tools.*]` (`kubernetes`, `etcd`, …).
    pub name: &'static str,
    /// The Go module path (`k8s.io/kubernetes`), from the pin.
    pub module: String,
    /// The pinned version (`v1.99.1`).
    pub version: String,
    /// The programs built.
    pub programs: Vec<Program>,
    /// Whether cgo is on (`CGO_ENABLED=1`; runc needs it for nsenter).
    pub cgo: bool,
    /// Build tags.
    pub tags: Vec<&'static str>,
    /// `-X` assignments for the linker, given the version's proxy info (version stamps).
    pub version_stamps: fn(&VersionInfo) -> Vec<(String, String)>,
    /// The version to require a sibling module at, given the pinned version (Kubernetes:
    /// `v1.99.1` → `v0.99.1`; etcd: the same version).
    pub sibling_version: fn(&str) -> String,
    /// Source changes.
    pub patches: Vec<Patch>,
}

impl Recipe {
    /// The binaries this recipe produces.
    pub fn binaries(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.programs.iter().map(|program| program.binary)
    }

    /// Everything that decides the output, as text: hashed into the cache key, so a changed
    /// version, program list, flag or patch builds anew.
    pub fn fingerprint(&self) -> String {
        let mut text = format!(
            "{}@{} cgo={} tags={}\n",
            self.module,
            self.version,
            self.cgo,
            self.tags.join(",")
        );
        for program in &self.programs {
            let _ = writeln!(text, "program {} -> {}", program.package, program.binary);
        }
        for patch in &self.patches {
            let _ = writeln!(
                text,
                "patch {} {}: {:?} -> {:?}",
                patch.module, patch.file, patch.from, patch.to
            );
        }
        let _ = writeln!(text, "siblings {}", (self.sibling_version)(&self.version));
        text
    }
}

/// The Go toolchain settings every build uses: modules on, the proxy of the environment, and
/// `GOTOOLCHAIN=auto` so that a module whose `go` line is newer than the installed Go makes
/// the go command fetch that toolchain from the module proxy (golang.org/toolchain).
fn go(dir: &Path) -> Command {
    let mut command = Command::new("go");
    command
        .current_dir(dir)
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "on")
        .env("GOTOOLCHAIN", "auto");
    command
}

/// Checks that `go` runs. Errors: [`Error::EnvironmentMissing`] naming what to install.
pub fn ensure_go() -> Result<String> {
    let output = Command::new("go").args(["env", "GOVERSION"]).output();
    match output {
        Ok(output) if output.status.success() => {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        }
        _ => Err(Error::EnvironmentMissing {
            what: "the Go toolchain (`go`) is not installed; the cluster binaries are built from the Go module proxy".into(),
            hint: "install Go 1.26 or later (https://go.dev/doc/install), or point SEATRIAL_CLUSTER_BIN at prebuilt binaries".into(),
        }),
    }
}

/// What `go mod download -json module@version` reports.
#[derive(Debug, Deserialize)]
struct Downloaded {
    #[serde(rename = "Dir", default)]
    dir: PathBuf,
    #[serde(rename = "GoMod", default)]
    go_mod: PathBuf,
    #[serde(rename = "Info", default)]
    info: PathBuf,
    #[serde(rename = "Error", default)]
    error: Option<String>,
}

/// Downloads `module@version` into the module cache; returns its source directory, its
/// `go.mod` and its proxy info.
///
/// Errors: [`Error::Build`] naming the module, the version and the proxy's answer (an unknown
/// version says so here, before anything is built).
fn download(
    work: &Path,
    module: &str,
    version: &str,
    log: &Path,
) -> Result<(PathBuf, String, VersionInfo)> {
    let output = go(work)
        .args(["mod", "download", "-json", &format!("{module}@{version}")])
        .output()
        .map_err(|error| build_error(format!("failed to run `go mod download`: {error}")))?;
    let _ = append(log, &output.stdout);
    let _ = append(log, &output.stderr);
    let parsed: std::result::Result<Downloaded, _> = serde_json::from_slice(&output.stdout);
    let proxy = std::env::var("GOPROXY").unwrap_or_else(|_| "https://proxy.golang.org".into());
    match parsed {
        Ok(Downloaded {
            error: Some(error), ..
        }) => Err(build_error(format!(
            "the Go module proxy ({proxy}) has no {module}@{version}: {error}"
        ))),
        Ok(found) if output.status.success() => {
            let go_mod = fs::read_to_string(&found.go_mod)
                .map_err(|error| build_error(format!("{}: {error}", found.go_mod.display())))?;
            let info = fs::read_to_string(&found.info)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            Ok((found.dir, go_mod, info))
        }
        _ => Err(build_error(format!(
            "`go mod download {module}@{version}` failed ({}); log: {}\n{}",
            output.status,
            log.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
    }
}

/// The directives named `keyword` (`replace`, `exclude`) of a `go.mod`, without the
/// keyword, in file order. Both the block and the one-line forms are read; comments dropped.
fn directives<'a>(go_mod: &'a str, keyword: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut in_block = false;
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
            } else if !line.is_empty() {
                found.push(line);
            }
        } else if let Some(rest) = line.strip_prefix(keyword) {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
            } else if !rest.is_empty() {
                found.push(rest);
            }
        }
    }
    found
}

/// Whether a replace target is a local directory (`./staging/...`, `../api`).
fn is_local(target: &str) -> bool {
    target.starts_with("./") || target.starts_with("../")
}

/// The modules an upstream `go.mod` replaces with a local directory (`=> ./staging/...`,
/// `=> ../api`), in file order.
pub fn local_replacements(go_mod: &str) -> Vec<String> {
    directives(go_mod, "replace")
        .into_iter()
        .filter_map(|directive| directive.split_once("=>"))
        .filter(|(_, to)| is_local(to.trim()))
        .filter_map(|(from, _)| from.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The replace directives of an upstream `go.mod` that point at another module version
/// (forks: Traefik's `github.com/gorilla/mux => github.com/containous/mux v0.0.0-…`), as
/// written, in file order. Like the local ones they are ignored in a dependency, so the build
/// module repeats them, or the program would build against the unforked module.
pub fn module_replacements(go_mod: &str) -> Vec<String> {
    directives(go_mod, "replace")
        .into_iter()
        .filter(|directive| {
            directive
                .split_once("=>")
                .is_some_and(|(_, to)| !is_local(to.trim()))
        })
        .map(str::to_owned)
        .collect()
}

/// The `go` directive of a `go.mod` (`1.26.0`), if any.
fn go_directive(go_mod: &str) -> Option<&str> {
    go_mod
        .lines()
        .find_map(|line| line.trim().strip_prefix("go ").map(str::trim))
}

/// The text of the build module's `go.mod`.
pub fn build_module(recipe: &Recipe, upstream_go_mod: &str) -> String {
    let mut text = format!(
        "// Generated by seatrial: builds {}@{} from the Go module proxy.\nmodule seatrial.build/{}\n\ngo {}\n\nrequire {} {}\n",
        recipe.module,
        recipe.version,
        recipe.name,
        go_directive(upstream_go_mod).unwrap_or("1.26"),
        recipe.module,
        recipe.version
    );
    let siblings = local_replacements(upstream_go_mod);
    let forks = module_replacements(upstream_go_mod);
    if !siblings.is_empty() || !forks.is_empty() {
        let version = (recipe.sibling_version)(&recipe.version);
        text.push_str("\nreplace (\n");
        for module in siblings {
            let _ = writeln!(text, "\t{module} => {module} {version}");
        }
        for fork in forks {
            let _ = writeln!(text, "\t{fork}");
        }
        text.push_str(")\n");
    }
    let excludes = directives(upstream_go_mod, "exclude");
    if !excludes.is_empty() {
        text.push_str("\nexclude (\n");
        for exclude in excludes {
            let _ = writeln!(text, "\t{exclude}");
        }
        text.push_str(")\n");
    }
    text
}

/// `tools.go`: imports every program's package so that `go mod tidy` keeps what they need.
fn tools_go(recipe: &Recipe) -> String {
    let mut text = String::from("//go:build seatrial_tools\n\npackage tools\n\nimport (\n");
    for program in &recipe.programs {
        let _ = writeln!(text, "\t_ \"{}\"", package_path(recipe, program));
    }
    text.push_str(")\n");
    text
}

fn package_path(recipe: &Recipe, program: &Program) -> String {
    if program.package.is_empty() {
        recipe.module.clone()
    } else {
        format!("{}/{}", recipe.module, program.package)
    }
}

/// The source directory of `module@version` in the module cache, downloading it if needed
/// (for sources that are not Go: the pause container's C file). `log` gets the output.
///
/// Errors: [`Error::Build`] naming the module, the version and the proxy's answer.
pub fn module_source(work_dir: &Path, module: &str, version: &str, log: &Path) -> Result<PathBuf> {
    fs::create_dir_all(work_dir)
        .map_err(|error| build_error(format!("{}: {error}", work_dir.display())))?;
    download(work_dir, module, version, log).map(|(dir, _, _)| dir)
}

/// Builds `recipe`'s programs into `bin_dir`, working in `work_dir`; output goes to `log`.
///
/// Errors: [`Error::Build`] naming the step (download, tidy, vendor, a patch whose text is
/// not found, build), the log file and its last lines.
pub fn build(recipe: &Recipe, work_dir: &Path, bin_dir: &Path, log: &Path) -> Result<()> {
    for dir in [work_dir, bin_dir] {
        fs::create_dir_all(dir)
            .map_err(|error| build_error(format!("{}: {error}", dir.display())))?;
    }
    let _ = fs::remove_file(log);
    let (_, upstream_go_mod, info) = download(work_dir, &recipe.module, &recipe.version, log)?;
    write(
        &work_dir.join("go.mod"),
        &build_module(recipe, &upstream_go_mod),
    )?;
    let _ = fs::remove_file(work_dir.join("go.sum"));
    write(&work_dir.join("tools.go"), &tools_go(recipe))?;
    // `-e`: tools.go imports main packages, which tidy reports but resolves all the same.
    run_logged(go(work_dir).args(["mod", "tidy", "-e"]), log, "go mod tidy").map_err(step_error)?;

    // Patches need the sources outside the read-only module cache (`-overlay` refuses to
    // replace files there): vendor what the programs import, then patch the vendored copies.
    if !recipe.patches.is_empty() {
        run_logged(
            go(work_dir).args(["mod", "vendor", "-e"]),
            log,
            "go mod vendor",
        )
        .map_err(step_error)?;
        for patch in &recipe.patches {
            let file = work_dir.join("vendor").join(patch.module).join(patch.file);
            let text = fs::read_to_string(&file)
                .map_err(|error| build_error(format!("{}: {error}", file.display())))?;
            if text.matches(patch.from).count() != 1 {
                return Err(build_error(format!(
                    "{} of {} does not contain exactly once the text seatrial patches: {}",
                    patch.file, patch.module, patch.from
                )));
            }
            write(&file, &text.replacen(patch.from, patch.to, 1))?;
        }
    }
    let ldflags = std::iter::once("-s -w".to_owned())
        .chain(
            (recipe.version_stamps)(&info)
                .into_iter()
                .map(|(symbol, value)| format!("-X '{symbol}={value}'")),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = go(work_dir);
    command
        .env("CGO_ENABLED", if recipe.cgo { "1" } else { "0" })
        .arg("build")
        .env(
            "GOFLAGS",
            if recipe.patches.is_empty() {
                "-mod=mod"
            } else {
                "-mod=vendor"
            },
        )
        .arg("-trimpath")
        .arg(format!("-ldflags={ldflags}"))
        .arg(format!("-tags={}", recipe.tags.join(",")))
        .arg("-o")
        .arg(format!("{}/", work_dir.join("out").display()));
    for program in &recipe.programs {
        command.arg(package_path(recipe, program));
    }
    run_logged(&mut command, log, &format!("go build {}", recipe.module)).map_err(step_error)?;
    // The vendored sources (hundreds of MiB for Kubernetes) are not needed once built.
    let _ = fs::remove_dir_all(work_dir.join("vendor"));
    // `go build -o dir/` names each binary after its package's last element; rename to ours.
    for program in &recipe.programs {
        let built = work_dir
            .join("out")
            .join(default_binary_name(&package_path(recipe, program)));
        let target = bin_dir.join(program.binary);
        fs::rename(&built, &target)
            .or_else(|_| fs::copy(&built, &target).map(drop))
            .map_err(|error| {
                build_error(format!(
                    "{} → {}: {error}",
                    built.display(),
                    target.display()
                ))
            })?;
    }
    Ok(())
}

/// The name `go build` gives a package's binary: the last path element, or the one before it
/// when the last is a major-version suffix (`go.etcd.io/etcd/server/v3` → `server`).
pub fn default_binary_name(package: &str) -> &str {
    let mut parts = package.rsplit('/');
    let last = parts.next().unwrap_or(package);
    let is_major =
        last.len() > 1 && last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit());
    if is_major {
        parts.next().unwrap_or(last)
    } else {
        last
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|error| build_error(format!("{}: {error}", path.display())))
}

fn append(log: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?
        .write_all(bytes)
}

fn build_error(message: String) -> Error {
    Error::Build { message }
}

/// A logged build step that failed: its message, log and tail.
fn step_error(error: host::packages::Error) -> Error {
    build_error(host::error_chain(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_replacements_are_read_from_blocks_and_single_lines() {
        let go_mod = "module k8s.io/kubernetes\n\ngo 1.26.0\n\nrequire k8s.io/api v0.0.0\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tgithub.com/x/y => github.com/x/z v1.0.0 // a fork, kept\n)\n\nreplace go.etcd.io/etcd/api/v3 => ../api\n";
        assert_eq!(
            local_replacements(go_mod),
            ["k8s.io/api", "go.etcd.io/etcd/api/v3"]
        );
        assert_eq!(go_directive(go_mod), Some("1.26.0"));
    }

    #[test]
    fn the_build_module_pins_siblings_at_their_version() {
        let recipe = Recipe {
            name: "kubernetes",
            module: "k8s.io/kubernetes".into(),
            version: "v1.99.1".into(),
            programs: vec![Program {
                package: "cmd/kubelet",
                binary: "kubelet",
            }],
            cgo: false,
            tags: vec![],
            version_stamps: |_| Vec::new(),
            sibling_version: |version| version.replacen("v1.", "v0.", 1),
            patches: vec![],
        };
        let text = build_module(
            &recipe,
            "go 1.26.0\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n)\n",
        );
        assert!(
            text.contains("module seatrial.build/kubernetes\n"),
            "{text}"
        );
        assert!(text.contains("go 1.26.0\n"), "{text}");
        assert!(
            text.contains("require k8s.io/kubernetes v1.99.1\n"),
            "{text}"
        );
        assert!(
            text.contains("\tk8s.io/api => k8s.io/api v0.99.1\n"),
            "{text}"
        );
        assert!(tools_go(&recipe).contains("_ \"k8s.io/kubernetes/cmd/kubelet\""));

        // Forks and exclusions of the upstream file are repeated; its local paths are not.
        let text = build_module(
            &recipe,
            "go 1.26.0\nreplace (\n\tgithub.com/gorilla/mux => github.com/containous/mux v0.0.0-2025 // fork\n)\nreplace k8s.io/api => ./staging/src/k8s.io/api\nexclude github.com/x/sdk v3.0.83+incompatible\n",
        );
        assert!(
            text.contains("\tgithub.com/gorilla/mux => github.com/containous/mux v0.0.0-2025\n"),
            "{text}"
        );
        assert!(
            text.contains("\tk8s.io/api => k8s.io/api v0.99.1\n"),
            "{text}"
        );
        assert!(!text.contains("./staging"), "{text}");
        assert!(
            text.contains("exclude (\n\tgithub.com/x/sdk v3.0.83+incompatible\n)"),
            "{text}"
        );
    }

    #[test]
    fn binary_names_follow_go_build() {
        assert_eq!(
            default_binary_name("k8s.io/kubernetes/cmd/kubelet"),
            "kubelet"
        );
        assert_eq!(default_binary_name("go.etcd.io/etcd/server/v3"), "server");
        assert_eq!(default_binary_name("github.com/coredns/coredns"), "coredns");
        assert_eq!(
            default_binary_name("github.com/containerd/containerd/v2/cmd/ctr"),
            "ctr"
        );
    }
}
