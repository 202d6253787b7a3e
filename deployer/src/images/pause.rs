//! The pause image: the sandbox container every pod starts first. Built from
//! `build/pause/linux/pause.c` of the pinned Kubernetes release (the source the upstream
//! `registry.k8s.io/pause` image is built from), compiled with `gcc -static`, as a one-layer
//! image whose entrypoint is `/pause`.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::oci::{tar_of, write_archive, File, Layer, RunConfig};
use super::{cache_root, BuiltImage};
use crate::error::{Error, Result};
use crate::providers::binaries::go::module_source;

/// The pause image's reference for a Kubernetes version (`localhost/seatrial/pause:v1.99.1`).
pub fn reference(kubernetes_version: &str) -> String {
    format!("localhost/seatrial/pause:{kubernetes_version}")
}

/// Builds (or finds cached) the pause image of `kubernetes_version` (`v1.99.1`).
///
/// Errors: [`Error::Build`] when the source cannot be fetched, gcc fails (with its output)
/// or the archive cannot be written; [`Error::EnvironmentMissing`] without gcc (installed
/// from Debian when root).
pub fn ensure(kubernetes_version: &str) -> Result<BuiltImage> {
    let dir = cache_root().join(format!("pause-{kubernetes_version}"));
    let archive = dir.join("image.tar");
    let reference = reference(kubernetes_version);
    if archive.is_file() {
        return Ok(BuiltImage {
            reference,
            archive,
            built: false,
        });
    }
    let fail = |message: String| Error::Build { message };
    fs::create_dir_all(&dir).map_err(|error| fail(format!("{}: {error}", dir.display())))?;
    let missing: Vec<String> = ["gcc", "/usr/lib/x86_64-linux-gnu/libc.a"]
        .iter()
        .filter(|what| host::path::on_path(what).is_none() && !Path::new(what).exists())
        .map(|what| what.to_string())
        .collect();
    host::packages::ensure_debian_packages(&["gcc", "libc6-dev"], &missing)?;
    let source = module_source(
        &dir.join("module"),
        "k8s.io/kubernetes",
        kubernetes_version,
        &dir.join("build.log"),
    )?
    .join("build/pause/linux/pause.c");
    let binary = dir.join("pause");
    let output = Command::new("gcc")
        .args(["-Os", "-Wall", "-Werror", "-static"])
        .arg(format!("-DVERSION={kubernetes_version}"))
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .map_err(|error| fail(format!("failed to run gcc: {error}")))?;
    if !output.status.success() {
        return Err(fail(format!(
            "gcc -static {} failed: {}",
            source.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let contents =
        fs::read(&binary).map_err(|error| fail(format!("{}: {error}", binary.display())))?;
    let tar = tar_of(&[File {
        path: "pause".into(),
        contents,
        mode: 0o755,
    }])
    .map_err(|error| fail(format!("the pause layer: {error}")))?;
    let layer = Layer::from_tar(&tar).map_err(|error| fail(format!("the pause layer: {error}")))?;
    let partial = dir.join("image.tar.partial");
    write_archive(
        &partial,
        &reference,
        &[layer],
        &RunConfig {
            entrypoint: vec!["/pause".into()],
            user: "65535:65535".into(),
            ..RunConfig::default()
        },
    )
    .map_err(|error| fail(format!("{}: {error}", partial.display())))?;
    fs::rename(&partial, &archive)
        .map_err(|error| fail(format!("{}: {error}", archive.display())))?;
    Ok(BuiltImage {
        reference,
        archive,
        built: true,
    })
}
