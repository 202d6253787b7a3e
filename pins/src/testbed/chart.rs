//! Real Helm chart tarballs and repository indexes, built the way `helm package` and
//! `helm repo index` lay them out (<https://helm.sh/docs/topics/charts/>,
//! <https://helm.sh/docs/topics/chart_repository/>).

use std::io::Write;

use crate::fetch::sha256_hex;

/// A gzipped tar of `<name>/Chart.yaml`, `<name>/values.yaml` and one template.
///
/// Panics only if writing to memory fails.
pub fn package(name: &str, version: &str) -> Vec<u8> {
    let files = [
        (
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"{version}\"\ndescription: A chart packaged by the seatrial pins testbed\ntype: application\n"),
        ),
        ("values.yaml", "greeting: hello\n".to_owned()),
        (
            "templates/configmap.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n".to_owned(),
        ),
    ];
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        archive
            .append_data(&mut header, format!("{name}/{path}"), text.as_bytes())
            .expect("writing to memory");
    }
    let mut encoder = archive.into_inner().expect("writing to memory");
    encoder.flush().expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// One version in an index.
#[derive(Debug, Clone)]
pub struct IndexedChart {
    /// The chart's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The tarball's SHA-256 as the index lists it (hex).
    pub digest: String,
    /// The tarball URL as written in the index (relative or absolute).
    pub url: String,
    /// RFC 3339.
    pub created: String,
}

impl IndexedChart {
    /// The entry for `tarball`, listed at `<name>-<version>.tgz` relative to the index.
    pub fn new(name: &str, version: &str, tarball: &[u8], created: &str) -> IndexedChart {
        IndexedChart {
            name: name.to_owned(),
            version: version.to_owned(),
            digest: sha256_hex(tarball),
            url: format!("{name}-{version}.tgz"),
            created: created.to_owned(),
        }
    }
}

/// An `index.yaml` listing `charts`.
pub fn index(charts: &[IndexedChart]) -> String {
    let mut text = String::from("apiVersion: v1\nentries:\n");
    let mut names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        text.push_str(&format!("  {name}:\n"));
        for chart in charts.iter().filter(|c| c.name == name) {
            text.push_str(&format!(
                "  - apiVersion: v2\n    name: {name}\n    version: {}\n    digest: {}\n    created: \"{}\"\n    urls:\n    - {}\n",
                chart.version, chart.digest, chart.created, chart.url
            ));
        }
    }
    text.push_str("generated: \"2026-01-01T00:00:00Z\"\n");
    text
}

/// Packages each `(name, version, created)` chart, serves the tarballs and an `index.yaml`
/// listing them under `prefix` (e.g. `/charts`) on `files`, and returns the index entries.
pub fn publish(
    files: &super::http::FileServer,
    prefix: &str,
    charts: &[(String, String, String)],
) -> Vec<IndexedChart> {
    let mut indexed = Vec::new();
    for (name, version, created) in charts {
        let tarball = package(name, version);
        indexed.push(IndexedChart::new(name, version, &tarball, created));
        files.put(
            &format!("{prefix}/{name}-{version}.tgz"),
            "application/gzip",
            tarball,
        );
    }
    files.put(
        &format!("{prefix}/index.yaml"),
        "application/yaml",
        index(&indexed),
    );
    indexed
}
