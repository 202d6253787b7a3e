//! Where versions come from: Helm chart repositories, OCI registries, GitHub releases, the
//! Go module proxy, PyPI and npm, and plain downloads. Each module speaks one protocol over [`crate::fetch::Network`].

pub mod chart_repo;
pub mod github;
pub mod go_proxy;
pub mod oci;
pub mod package_index;
