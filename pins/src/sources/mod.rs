//! Where versions come from: Helm chart repositories, OCI registries, GitHub releases, the
//! Go module proxy, PyPI and npm, and plain downloads. Each module speaks one protocol over [`crate::fetch::Network`].

pub mod chart_repo;
pub mod github;
pub mod go_proxy;
pub mod oci;
pub mod package_index;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::fetch::FetchError;

/// Values fetched once per run and shared by every pin: chart indexes by URL, registry
/// bearer tokens by repository, tag lists and release lists.
#[derive(Default)]
pub struct Cache {
    pub(crate) indexes: Slots<Arc<chart_repo::Index>>,
    pub(crate) tokens: Slots<Option<String>>,
    pub(crate) tags: Slots<Arc<Vec<String>>>,
    pub(crate) releases: Slots<Arc<Vec<github::Release>>>,
}

/// A map of once-filled cells: concurrent askers for one key share one fetch.
pub(crate) struct Slots<T>(Mutex<HashMap<String, Slot<T>>>);

/// One key's cell: empty until its first fetch finishes.
type Slot<T> = Arc<OnceCell<Result<T, FetchError>>>;

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots(Mutex::default())
    }
}

impl<T: Clone> Slots<T> {
    pub(crate) async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Result<T, FetchError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let cell = self
            .0
            .lock()
            .expect("no panic while holding the cache lock")
            .entry(key.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(fetch).await.clone()
    }

    /// The value for `key` if it has already been fetched successfully.
    pub(crate) fn peek(&self, key: &str) -> Option<T> {
        let cell = self
            .0
            .lock()
            .expect("no panic while holding the cache lock")
            .get(key)
            .cloned()?;
        cell.get().and_then(|result| result.as_ref().ok().cloned())
    }

    pub(crate) fn forget(&self, key: &str) {
        self.0
            .lock()
            .expect("no panic while holding the cache lock")
            .remove(key);
    }
}
