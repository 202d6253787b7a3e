//! Writing an OCI image-layout archive (OCI Image Layout Specification v1.1: `oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`), the form `ctr images import` and
//! `kind load image-archive` read without a registry.
//!
//! One image per archive, for `linux/amd64`; layers are gzip-compressed tars
//! (`application/vnd.oci.image.layer.v1.tar+gzip`); the index names the image with the
//! `org.opencontainers.image.ref.name` annotation (the full reference, which containerd's
//! importer uses as the image name) and `io.containerd.image.name`.

use std::io::Write;
use std::path::Path;

use serde_json::json;

/// What the image runs (the `config` object of the OCI image configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, as `NAME=value`.
    pub env: Vec<String>,
    /// `User` (`uid[:gid]`), empty for root.
    pub user: String,
    /// `WorkingDir`, empty for `/`.
    pub working_dir: String,
}

/// One layer: an uncompressed tar and the gzip of it.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The gzip-compressed tar (the blob).
    pub compressed: Vec<u8>,
    /// sha256 of the uncompressed tar (the config's `diff_id`), as `sha256:<hex>`.
    pub diff_id: String,
}

impl Layer {
    /// A layer from an uncompressed tar archive.
    pub fn from_tar(tar: &[u8]) -> std::io::Result<Layer> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(tar)?;
        Ok(Layer {
            compressed: encoder.finish()?,
            diff_id: sha256_digest(tar),
        })
    }
}

/// A file for [`tar_of`]: its path inside the image, its bytes and its mode.
#[derive(Debug, Clone)]
pub struct File {
    /// The path without a leading `/` (`pause`, `etc/passwd`).
    pub path: String,
    /// The contents.
    pub contents: Vec<u8>,
    /// The permission bits (`0o755`).
    pub mode: u32,
}

/// An uncompressed tar holding `files` (owned by root, mtime 0, so the same files give the
/// same bytes and the same digest).
pub fn tar_of(files: &[File]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(file.contents.len() as u64);
        header.set_mode(file.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, &file.path, file.contents.as_slice())?;
    }
    builder.into_inner()
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Writes the image `reference` (`localhost/seatrial/pause:v1.99.1`) made of `layers` (base
/// first) as an OCI image-layout tar at `archive`; returns the manifest digest.
///
/// Errors: the file cannot be written.
pub fn write_archive(
    archive: &Path,
    reference: &str,
    layers: &[Layer],
    run: &RunConfig,
) -> std::io::Result<String> {
    let mut config_object = serde_json::Map::new();
    let mut put = |key: &str, value: serde_json::Value| {
        config_object.insert(key.to_owned(), value);
    };
    if !run.entrypoint.is_empty() {
        put("Entrypoint", json!(run.entrypoint));
    }
    if !run.cmd.is_empty() {
        put("Cmd", json!(run.cmd));
    }
    if !run.env.is_empty() {
        put("Env", json!(run.env));
    }
    if !run.user.is_empty() {
        put("User", json!(run.user));
    }
    if !run.working_dir.is_empty() {
        put("WorkingDir", json!(run.working_dir));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config_object,
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|layer| layer.diff_id.clone()).collect::<Vec<_>>(),
        },
        "history": [{"created_by": "seatrial images build"}],
    }))
    .expect("JSON serializes");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256_digest(&config),
            "size": config.len(),
        },
        "layers": layers.iter().map(|layer| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha256_digest(&layer.compressed),
            "size": layer.compressed.len(),
        })).collect::<Vec<_>>(),
    }))
    .expect("JSON serializes");
    let manifest_digest = sha256_digest(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "org.opencontainers.image.ref.name": reference,
                "io.containerd.image.name": reference,
            },
        }],
    }))
    .expect("JSON serializes");

    let file = std::fs::File::create(archive)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    let mut add = |path: String, bytes: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, bytes)
    };
    add("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json".into(), &index)?;
    let blob = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    add(blob(&manifest_digest), &manifest)?;
    add(blob(&sha256_digest(&config)), &config)?;
    for layer in layers {
        add(blob(&sha256_digest(&layer.compressed)), &layer.compressed)?;
    }
    builder.into_inner()?.flush()?;
    Ok(manifest_digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_holds_a_layout_an_index_naming_the_image_and_every_blob() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_of(&[File {
            path: "hello".into(),
            contents: b"hi\n".to_vec(),
            mode: 0o755,
        }])
        .unwrap();
        assert_eq!(
            tar,
            tar_of(&[File {
                path: "hello".into(),
                contents: b"hi\n".to_vec(),
                mode: 0o755
            }])
            .unwrap(),
            "tars are reproducible"
        );
        let layer = Layer::from_tar(&tar).unwrap();
        let archive = dir.path().join("image.tar");
        let run = RunConfig {
            entrypoint: vec!["/hello".into()],
            ..RunConfig::default()
        };
        let digest = write_archive(
            &archive,
            "localhost/seatrial/hello:1",
            std::slice::from_ref(&layer),
            &run,
        )
        .unwrap();

        let mut entries = std::collections::BTreeMap::new();
        let mut reader = tar::Archive::new(std::fs::File::open(&archive).unwrap());
        for entry in reader.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            entries.insert(entry.path().unwrap().display().to_string(), bytes);
        }
        // Every blob is stored under its own digest.
        for (path, bytes) in &entries {
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                assert_eq!(sha256_digest(bytes), format!("sha256:{hex}"));
            }
        }
        let index: serde_json::Value = serde_json::from_slice(&entries["index.json"]).unwrap();
        let listed = &index["manifests"][0];
        assert_eq!(listed["digest"], digest.as_str());
        assert_eq!(
            listed["annotations"]["org.opencontainers.image.ref.name"],
            "localhost/seatrial/hello:1"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&entries[&format!("blobs/sha256/{}", &digest[7..])]).unwrap();
        let config_digest = manifest["config"]["digest"].as_str().unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&entries[&format!("blobs/sha256/{}", &config_digest[7..])])
                .unwrap();
        assert_eq!(config["config"]["Entrypoint"][0], "/hello");
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.diff_id.as_str());
        assert!(entries.contains_key("oci-layout"));
    }
}
