//! Building an image from its recipe ([`super::recipe`]): `mmdebstrap` makes a root file
//! system of the pinned Debian suite with the recipe's Debian packages, its customize hooks
//! install the pinned PyPI packages into a venv at `/opt/venv` and the npm packages with
//! `npm install --global`, and create the recipe's user; the result is one layer of an OCI
//! image-layout archive ([`super::oci`]), cached by the recipe's fingerprint.
//!
//! What does not come from Debian, PyPI or npm is fetched on the host first and copied in by
//! a hook: Go programs (`tools`) are built from the Go module proxy by
//! [`crate::providers::binaries`] and copied to `/usr/local/bin`; Maven distributions are
//! fetched with Maven's own client (`mvn dependency:copy`, strict checksums, from Maven
//! Central or `$SEATRIAL_MAVEN_REPOSITORY`) and unpacked into `/opt/<key>`.
//!
//! pip and npm inside the root reach their registries through this machine's network, which
//! may need the machine's CA bundle: it is copied into the root for the build and removed
//! before the root is packed, so the image does not keep it. The hooks run with an empty
//! environment (`env -i`), so nothing of the host's environment reaches the image.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::oci::{write_archive, Layer, RunConfig};
use super::recipe::{ImageRecipe, USER_ID};
use super::{cache_root, BuiltImage};
use crate::error::{Error, Result};

/// The CA bundle's path inside the root while it is built.
const BUILD_CA: &str = "/tmp/seatrial-build-ca.crt";
/// The maven-dependency-plugin `dependency:copy` runs as (pinned, so the fetch is the same
/// everywhere; 3.8 runs on Maven 3.6.3 and later).
const DEPENDENCY_PLUGIN: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1";
/// The variable naming a Maven repository to fetch distributions from instead of Central.
pub const MAVEN_REPOSITORY_ENV: &str = "SEATRIAL_MAVEN_REPOSITORY";
/// The PATH of the build hooks and of the image.
const PATH: &str = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `recipe` is cached: `<cache>/<name>-<fingerprint>/` holding `image.tar` and
/// `build.log`.
pub fn cache_dir(recipe: &ImageRecipe) -> PathBuf {
    cache_root().join(format!("{}-{}", recipe.name, recipe.fingerprint()))
}

/// What a recipe takes from outside Debian, PyPI and npm, fetched on the host.
#[derive(Debug, Default)]
struct Inputs {
    /// Built Go programs, copied to `/usr/local/bin`.
    programs: Vec<PathBuf>,
    /// Maven distributions: the package key (`/opt/<key>`) and the fetched `tar.gz`.
    archives: Vec<(String, PathBuf)>,
}

/// Builds `recipe` (or finds it cached: then it returns at once); `pins_file` is the pin set
/// it was read from (for its `tools`' build recipes). Needs root (mmdebstrap's root mode,
/// and chroot in the hooks).
///
/// Errors: [`Error::EnvironmentMissing`] when not root or mmdebstrap (or, for a Maven
/// package, Maven) cannot be installed; [`Error::Build`] naming the step that failed and
/// quoting the tail of `build.log`, or an archive that cannot be written.
pub fn ensure(recipe: &ImageRecipe, pins_file: &Path) -> Result<BuiltImage> {
    let dir = cache_dir(recipe);
    let archive = dir.join("image.tar");
    let reference = recipe.reference();
    if archive.is_file() {
        return Ok(BuiltImage {
            reference,
            archive,
            built: false,
        });
    }
    if !rustix::process::getuid().is_root() {
        return Err(Error::EnvironmentMissing {
            what: format!(
                "building the image {} needs root (mmdebstrap and chroot)",
                recipe.name
            ),
            hint: "run as root, or on kind use the upstream images".into(),
        });
    }
    host::packages::ensure_program("mmdebstrap", "mmdebstrap")?;
    let fail = |message: String| Error::Build { message };
    fs::create_dir_all(&dir).map_err(|error| fail(format!("{}: {error}", dir.display())))?;
    let log = dir.join("build.log");
    let rootfs = dir.join("rootfs.tar");
    let started = Instant::now();
    let inputs = fetch_inputs(recipe, pins_file, &dir, &log)?;
    let mut command = Command::new("mmdebstrap");
    command
        .arg("--variant=apt")
        .arg("--quiet")
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        // Without man pages their directories are missing too, and update-alternatives in
        // OpenJDK's postinst fails creating the `java.1.gz` link there: keep the directory.
        .arg("--setup-hook=mkdir -p \"$1/usr/share/man/man1\"");
    if !recipe.apt.is_empty() {
        command.arg(format!("--include={}", recipe.apt.join(",")));
    }
    for hook in hooks(recipe, &ca_bundle(), &inputs) {
        command.arg(format!("--customize-hook={hook}"));
    }
    command
        .arg(&recipe.debian)
        .arg(&rootfs)
        .arg(&recipe.mirror)
        .env("TMPDIR", std::env::temp_dir());
    let log_file =
        fs::File::create(&log).map_err(|error| fail(format!("{}: {error}", log.display())))?;
    let status = command
        .stdin(Stdio::null())
        .stdout(
            log_file
                .try_clone()
                .map_err(|error| fail(format!("{}: {error}", log.display())))?,
        )
        .stderr(log_file)
        .status()
        .map_err(|error| fail(format!("failed to run mmdebstrap: {error}")))?;
    if !status.success() {
        let _ = fs::remove_file(&rootfs);
        return Err(fail(format!(
            "building the image {} failed: mmdebstrap {} {} exited with {status}; the end of {}:\n{}",
            recipe.name,
            recipe.debian,
            recipe.mirror,
            log.display(),
            host::logs::tail(&log, 25)
        )));
    }
    tracing::info!(image = %recipe.name, seconds = started.elapsed().as_secs_f64(), "root file system built");
    let tar = fs::read(&rootfs).map_err(|error| fail(format!("{}: {error}", rootfs.display())))?;
    let layer = Layer::from_tar(&tar)
        .map_err(|error| fail(format!("the layer of {}: {error}", recipe.name)))?;
    drop(tar);
    let partial = dir.join("image.tar.partial");
    write_archive(&partial, &reference, &[layer], &run_config(recipe))
        .map_err(|error| fail(format!("{}: {error}", partial.display())))?;
    fs::rename(&partial, &archive)
        .map_err(|error| fail(format!("{}: {error}", archive.display())))?;
    let _ = fs::remove_file(&rootfs);
    let _ = fs::remove_dir_all(dir.join("maven"));
    Ok(BuiltImage {
        reference,
        archive,
        built: true,
    })
}

/// Builds the recipe's Go programs and fetches its Maven distributions into `<dir>/maven/`.
///
/// Errors: those of [`crate::providers::binaries::ensure`]; [`Error::EnvironmentMissing`]
/// when `mvn` is missing and Debian's `maven` cannot be installed; [`Error::Build`] when
/// `mvn` fails (a version Central does not have, a checksum mismatch), naming the
/// coordinate, the repository and the log's tail.
fn fetch_inputs(recipe: &ImageRecipe, pins_file: &Path, dir: &Path, log: &Path) -> Result<Inputs> {
    let mut inputs = Inputs::default();
    if !recipe.tools.is_empty() {
        let names: Vec<&str> = recipe.tools.iter().map(|tool| tool.key.as_str()).collect();
        // Only the tools were ensured, so every binary found is one of theirs.
        let built = crate::providers::binaries::ensure(pins_file, &names, &mut |_| {})?;
        inputs.programs = built.paths().map(Path::to_owned).collect();
    }
    let maven: Vec<_> = recipe.maven().collect();
    if maven.is_empty() {
        return Ok(inputs);
    }
    // Maven (with the Java runtime it depends on) from Debian when it is missing.
    host::packages::ensure_program("mvn", "maven")?;
    let out = dir.join("maven");
    let repository = std::env::var(MAVEN_REPOSITORY_ENV)
        .ok()
        .filter(|url| !url.is_empty());
    for package in maven {
        let mut command = Command::new("mvn");
        command
            .args(["--batch-mode", "--quiet", "--strict-checksums"])
            .arg(format!("{DEPENDENCY_PLUGIN}:copy"))
            .arg(format!("-Dartifact={}", package.requirement()))
            .arg(format!("-DoutputDirectory={}", out.display()))
            .arg("-Dmdep.overWriteReleases=true");
        if let Some(url) = &repository {
            command.arg(format!("-DremoteRepositories=seatrial::default::{url}"));
        }
        let what = format!(
            "fetching {} from {} with mvn",
            package.requirement(),
            repository.as_deref().unwrap_or("Maven Central")
        );
        host::packages::run_logged(&mut command, log, &what).map_err(|error| Error::Build {
            message: format!(
                "the image {} (`packages.{}`): {}",
                recipe.name,
                package.key,
                host::error_chain(&error)
            ),
        })?;
        let artifact = package.name.split(':').nth(1).unwrap_or(&package.name);
        let file = out.join(format!("{artifact}-{}.tar.gz", package.version));
        if !file.is_file() {
            return Err(Error::Build {
                message: format!(
                    "mvn reported success but left no {} (log: {})",
                    file.display(),
                    log.display()
                ),
            });
        }
        inputs.archives.push((package.key.clone(), file));
    }
    Ok(inputs)
}

/// The CA bundle pip and npm get during the build: `$SSL_CERT_FILE`, else Debian's
/// `/etc/ssl/certs/ca-certificates.crt`.
fn ca_bundle() -> PathBuf {
    std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))
}

/// mmdebstrap's customize hooks (`sh -c` with the root as `$1`) for `recipe`. Every value
/// in them was checked to be a plain name when the recipe was read; paths in `inputs` are
/// the cache's own.
fn hooks(recipe: &ImageRecipe, ca: &Path, inputs: &Inputs) -> Vec<String> {
    let run = |env: &str, command: &str| {
        format!("chroot \"$1\" env -i PATH={PATH} HOME=/root LANG=C.UTF-8 {env} {command}")
    };
    let mut hooks = vec![format!("cp '{}' \"$1{BUILD_CA}\"", ca.display())];
    let pypi: Vec<String> = recipe.pypi().map(|package| package.requirement()).collect();
    if !pypi.is_empty() {
        hooks.push(run("", "python3 -m venv /opt/venv"));
        hooks.push(run(
            &format!("PIP_CERT={BUILD_CA} PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1"),
            &format!("/opt/venv/bin/pip install --quiet {}", pypi.join(" ")),
        ));
    }
    let npm: Vec<String> = recipe.npm().map(|package| package.requirement()).collect();
    if !npm.is_empty() {
        hooks.push(run(
            &format!("NODE_EXTRA_CA_CERTS={BUILD_CA} npm_config_update_notifier=false"),
            &format!(
                "npm install --global --no-audit --no-fund --loglevel=error {}",
                npm.join(" ")
            ),
        ));
        hooks.push("rm -rf \"$1/root/.npm\"".to_owned());
    }
    for program in &inputs.programs {
        hooks.push(format!(
            "install -m 0755 '{}' \"$1/usr/local/bin/\"",
            program.display()
        ));
    }
    if let Some(user) = &recipe.user {
        hooks.push(run(
            "",
            &format!("useradd --create-home --uid {USER_ID} --user-group --shell /bin/bash {user}"),
        ));
    }
    // A distribution unpacks without its top directory (`keycloak-9.9.1/`) into /opt/<key>,
    // owned by the image's user: Keycloak writes its build and data there at start.
    let owner = if recipe.user.is_some() { USER_ID } else { 0 };
    for (key, archive) in &inputs.archives {
        hooks.push(format!(
            "mkdir -p \"$1/opt/{key}\" && tar -xzf '{}' -C \"$1/opt/{key}\" --strip-components=1 --no-same-owner && chown -R {owner}:{owner} \"$1/opt/{key}\"",
            archive.display()
        ));
    }
    for dir in &recipe.writable {
        hooks.push(format!(
            "mkdir -p \"$1{dir}\" && chown {owner}:{owner} \"$1{dir}\""
        ));
    }
    hooks.push(format!("rm -f \"$1{BUILD_CA}\""));
    hooks
}

/// The image configuration: PATH with the venv first, the recipe's user, home and command.
fn run_config(recipe: &ImageRecipe) -> RunConfig {
    let mut env = vec![format!("PATH={PATH}"), "LANG=C.UTF-8".to_owned()];
    let (user, working_dir) = match &recipe.user {
        Some(user) => {
            env.push(format!("HOME=/home/{user}"));
            env.push(format!("USER={user}"));
            (format!("{USER_ID}:{USER_ID}"), format!("/home/{user}"))
        }
        None => (String::new(), String::new()),
    };
    RunConfig {
        entrypoint: recipe.entrypoint.clone(),
        cmd: recipe.cmd.clone(),
        env,
        user,
        working_dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::recipe::parse;

    #[test]
    fn hooks_install_pinned_packages_and_leave_no_ca_bundle_behind() {
        let recipes = parse(
            Path::new("p.toml"),
            r#"
[images.hub]
repository = "quay.io/x/hub"
tag = "1.0.0"
[packages.a]
pypi = "jupyterhub"
version = "9.9.1"
[packages.b]
npm = "configurable-http-proxy"
version = "9.9.2"
[recipes.hub]
stands_for = "hub"
debian = "bookworm"
packages = ["a", "b"]
user = "jovyan"
cmd = ["jupyterhub"]
"#,
        )
        .unwrap();
        let hooks = hooks(&recipes[0], Path::new("/ca.crt"), &Inputs::default());
        assert_eq!(hooks[0], format!("cp '/ca.crt' \"$1{BUILD_CA}\""));
        assert!(hooks[2].contains("/opt/venv/bin/pip install --quiet jupyterhub==9.9.1"));
        assert!(
            hooks[2].starts_with("chroot \"$1\" env -i "),
            "{}",
            hooks[2]
        );
        assert!(hooks[3].contains("npm install --global"));
        assert!(hooks[3].ends_with(" configurable-http-proxy@9.9.2"));
        assert!(hooks
            .iter()
            .any(|hook| hook.contains("useradd") && hook.contains("jovyan")));
        assert_eq!(hooks.last().unwrap(), &format!("rm -f \"$1{BUILD_CA}\""));

        let run = run_config(&recipes[0]);
        assert_eq!(run.user, "1000:1000");
        assert_eq!(run.working_dir, "/home/jovyan");
        assert!(run.env.contains(&"HOME=/home/jovyan".to_owned()));
        assert_eq!(run.cmd, ["jupyterhub"]);
    }
}
