//! Images built here, from packages, because no registry can be reached: OCI image-layout
//! archives ([`oci`]) imported into the local cluster's containerd (and loadable into kind
//! with `kind load image-archive`).
//!
//! - [`pause`]: the sandbox image, `pause.c` of the pinned Kubernetes release compiled with
//!   `gcc -static`.
//! - [`recipe`] and [`build`]: the platform's images (`[recipes.*]` of the pin set), made
//!   with mmdebstrap from a pinned Debian suite plus pinned PyPI and npm packages.

pub mod build;
pub mod kind_node;
pub mod oci;
pub mod pause;
pub mod recipe;

use std::path::PathBuf;

use crate::providers::hollow::xdg_dir;

/// Where built image archives are cached: `$XDG_CACHE_HOME/seatrial/images`.
pub fn cache_root() -> PathBuf {
    xdg_dir("XDG_CACHE_HOME", ".cache")
        .join("seatrial")
        .join("images")
}

/// A built image: its reference and the archive holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The reference pods name (`localhost/seatrial/pause:v1.99.1`).
    pub reference: String,
    /// The OCI image-layout archive.
    pub archive: PathBuf,
    /// Whether it was built now (false: found in the cache).
    pub built: bool,
}
