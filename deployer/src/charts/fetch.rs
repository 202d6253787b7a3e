//! Fetching exactly the pinned chart tarball, checked against the pin's digest, cached by it.
//!
//! `helm pull` downloads it (an HTTP repository through its `index.yaml`, or an OCI registry:
//! Helm docs, "Use OCI-based registries"). What a pin's `digest` means follows `cargo xtask
//! pins lock`: for an HTTP repository the sha256 of the tarball (the index's `digest`), for
//! an OCI registry the manifest digest Helm reports (`Digest: sha256:…`). Nothing is rendered
//! from a tarball whose digest differs.
//!
//! Cache: `~/.cache/seatrial/charts/<digest hex>/` holds `<chart>-<version>.tgz` and
//! `tarball.sha256`, the sha256 of the file itself, checked on every use.

use std::path::{Path, PathBuf};

use crate::charts::helm::Helm;
use crate::error::{Error, Result};
use crate::pins::ChartPin;
use crate::pinset::model::ChartRepository;

/// A chart tarball on disk whose digest matched its pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedChart {
    /// The `.tgz`.
    pub tarball: PathBuf,
    /// The pin's digest it was checked against.
    pub digest: String,
    /// Whether it came from the cache (no request made).
    pub cached: bool,
}

/// The chart cache root: `$XDG_CACHE_HOME/seatrial/charts`.
pub fn cache_root() -> PathBuf {
    crate::providers::binaries::cache_root()
        .parent()
        .map_or_else(|| PathBuf::from("/tmp/seatrial-charts"), Path::to_owned)
        .join("charts")
}

/// `sha256:<hex>` of a file's bytes.
///
/// Errors: [`Error::Read`].
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(sha256_bytes(&bytes))
}

/// `sha256:<hex>` of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Where `pin` is pulled from, as a user would write it: `<chart> <version> from <repo>`.
pub fn source_of(pin: &ChartPin) -> String {
    format!("{} {} from {}", pin.chart, pin.version, pin.repository)
}

/// The pinned tarball of `pin`, from `cache` or pulled with `helm` into it.
///
/// Errors ([`Error::Chart`], naming the pin, its line and the repository): the pin has no
/// digest; Helm cannot pull that chart version (its message, e.g. the version is not in the
/// index); the digest found differs from the pinned one (both named). A mismatching tarball
/// is removed, never cached.
pub fn fetch(helm: &Helm, pin: &ChartPin, cache: &Path) -> Result<FetchedChart> {
    let fail = |message: String| Error::Chart {
        pin: format!("charts.{} ({})", pin.name, pin.location),
        message,
    };
    let Some(digest) = pin.digest.clone() else {
        return Err(fail(format!(
            "the pin has no digest, and a chart stage deploys only a tarball it can check; run `cargo xtask pins lock --only charts.{}` ({})",
            pin.name,
            source_of(pin)
        )));
    };
    let hex = digest.trim_start_matches("sha256:");
    let dir = cache.join(hex);
    let tarball = dir.join(format!("{}-{}.tgz", pin.chart, pin.version));
    let stamp = dir.join("tarball.sha256");
    if let (Ok(recorded), true) = (std::fs::read_to_string(&stamp), tarball.is_file()) {
        if sha256_file(&tarball)? == recorded.trim() {
            return Ok(FetchedChart {
                tarball,
                digest,
                cached: true,
            });
        }
    }
    let download = tempfile_dir(cache)?;
    let mut args: Vec<String> = vec!["pull".into()];
    match &pin.repository {
        ChartRepository::Http(url) => {
            args.extend([pin.chart.clone(), "--repo".into(), url.clone()]);
        }
        ChartRepository::Oci(name) => {
            args.push(format!("oci://{name}/{}", pin.chart));
            if name.api_base().starts_with("http://") {
                args.push("--plain-http".into());
            }
        }
    }
    args.extend([
        "--version".into(),
        pin.version.clone(),
        "--destination".into(),
        download.display().to_string(),
    ]);
    let pulled = helm
        .run(&format!("pull {}", source_of(pin)), &args)
        .map_err(|error| match error {
            Error::Helm { message, .. } => {
                fail(format!("helm failed to pull {}: {message}", source_of(pin)))
            }
            other => other,
        });
    let result = pulled.and_then(|output| {
        let file = download.join(format!("{}-{}.tgz", pin.chart, pin.version));
        if !file.is_file() {
            return Err(fail(format!(
                "helm pulled {} but wrote no {}",
                source_of(pin),
                file.display()
            )));
        }
        let tarball_sha = sha256_file(&file)?;
        let found = match &pin.repository {
            ChartRepository::Http(_) => tarball_sha.clone(),
            ChartRepository::Oci(_) => output.digest().ok_or_else(|| {
                fail(format!("helm reported no manifest digest for {}", source_of(pin)))
            })?,
        };
        if found != digest {
            return Err(fail(format!(
                "{} has digest {found}, but the pin's digest is {digest}; nothing was rendered or applied",
                source_of(pin)
            )));
        }
        create_dir(&dir)?;
        std::fs::rename(&file, &tarball).map_err(|source| Error::Read {
            path: tarball.clone(),
            source,
        })?;
        std::fs::write(&stamp, &tarball_sha).map_err(|source| Error::Read {
            path: stamp.clone(),
            source,
        })?;
        Ok(FetchedChart {
            tarball: tarball.clone(),
            digest: digest.clone(),
            cached: false,
        })
    });
    let _ = std::fs::remove_dir_all(&download);
    result
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Read {
        path: dir.to_owned(),
        source,
    })
}

/// A fresh download directory inside `cache` (so the final rename stays on one filesystem).
fn tempfile_dir(cache: &Path) -> Result<PathBuf> {
    create_dir(cache)?;
    let dir = cache.join(format!(
        ".pull-{}-{}",
        std::process::id(),
        host::random::hex_token(6).map_err(|source| Error::Read {
            path: cache.to_owned(),
            source,
        })?
    ));
    create_dir(&dir)?;
    Ok(dir)
}
