//! The Go module proxy protocol (<https://go.dev/ref/mod#goproxy-protocol>):
//! `GET $GOPROXY/<module>/@v/list` (the known versions, one a line) and
//! `GET $GOPROXY/<module>/@v/<version>.info` (`{"Version": …, "Time": …}`). Module paths are
//! case-encoded: every upper-case letter becomes `!` and its lower-case form.

use serde::Deserialize;

use crate::fetch::{FetchError, Network};
use crate::resolve::{Broken, Resolved};

/// A module path in the proxy's case encoding (`github.com/Azure/x` → `github.com/!azure/x`).
pub fn escape(module: &str) -> String {
    let mut escaped = String::with_capacity(module.len());
    for c in module.chars() {
        if c.is_ascii_uppercase() {
            escaped.push('!');
            escaped.push(c.to_ascii_lowercase());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// The `.info` of one version.
#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    /// The canonical version.
    #[serde(rename = "Version")]
    pub version: String,
    /// The commit time (RFC 3339).
    #[serde(rename = "Time")]
    pub time: String,
}

fn url(network: &Network, module: &str, rest: &str) -> String {
    format!(
        "{}/{}/@v/{rest}",
        network.options.go_proxy.trim_end_matches('/'),
        escape(module)
    )
}

/// The `.info` of `module@version`.
///
/// Errors: the request failed or answered non-200 (404 and 410 are the proxy's "no such
/// version"), or the JSON does not parse.
pub async fn info(network: &Network, module: &str, version: &str) -> Result<Info, FetchError> {
    let url = url(network, module, &format!("{version}.info"));
    let response = network.get_ok(&url, &[]).await?;
    serde_json::from_slice(&response.body)
        .map_err(|error| FetchError::unexpected_body(&url, "JSON", error))
}

/// Every version the proxy lists for `module` (tagged releases, in the proxy's order).
///
/// Errors: the request failed or answered non-200.
pub async fn versions(network: &Network, module: &str) -> Result<Vec<String>, FetchError> {
    let url = url(network, module, "list");
    let response = network.get_ok(&url, &[]).await?;
    Ok(String::from_utf8_lossy(&response.body)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Resolves `module@version`: its `.info` answers. The proxy publishes no digest of its own
/// that this client could check (go.sum hashes come from the checksum database), so the
/// result carries none.
pub async fn resolve(network: &Network, module: &str, version: &str) -> Result<Resolved, Broken> {
    let found = info(network, module, version).await?;
    if found.version != version {
        return Err(Broken {
            url: url(network, module, &format!("{version}.info")),
            status: Some(200),
            message: format!(
                "the proxy knows {module} {version} as {}; pin the canonical version",
                found.version
            ),
            gone: false,
        });
    }
    Ok(Resolved {
        digest: None,
        url: url(network, module, &format!("{version}.info")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_are_case_encoded() {
        assert_eq!(escape("k8s.io/kubernetes"), "k8s.io/kubernetes");
        assert_eq!(
            escape("github.com/BurntSushi/toml"),
            "github.com/!burnt!sushi/toml"
        );
    }
}
