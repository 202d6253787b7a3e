//! Shared watches: one reflector per (resource type, namespace), however many waits use it.
//!
//! A [`Watches`] hub starts a `kube_runtime` reflector (a list, then a watch, with the
//! watcher's default backoff on errors) the first time a (type, namespace) pair is asked for,
//! and hands every later caller the same [`SharedWatch`]. Waiters read the reflector's store and
//! sleep on a change counter that the reflector bumps on every event, so a wait costs no
//! requests of its own: one list and one long-running watch serve all of them, whether they
//! wait 10 ms or 10 minutes. Nothing here polls.
//!
//! Dropping the hub (or calling [`Watches::stop_all`]) aborts the reflectors, which ends their
//! watch requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::{pinned_kind, ApiCapabilities, Scope};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use tokio::sync::watch;

use crate::apply::api_for;

/// The key of a shared watch: a resource type and a namespace (`None`: cluster-scoped types, or
/// every namespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchKey {
    /// The type.
    pub gvk: GroupVersionKind,
    /// The namespace, if the watch is limited to one.
    pub namespace: Option<String>,
}

impl std::fmt::Display for WatchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let version = if self.gvk.group.is_empty() {
            self.gvk.version.clone()
        } else {
            format!("{}/{}", self.gvk.group, self.gvk.version)
        };
        match &self.namespace {
            Some(namespace) => write!(f, "{} {version} in {namespace}", self.gvk.kind),
            None => write!(f, "{} {version}", self.gvk.kind),
        }
    }
}

/// One running reflector and what waiters need from it.
pub struct SharedWatch {
    key: WatchKey,
    resource: ApiResource,
    store: Store<DynamicObject>,
    changes: watch::Receiver<u64>,
    last_error: Arc<Mutex<Option<String>>>,
    synced: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SharedWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SharedWatch {
    /// The (type, namespace) this watch covers.
    pub fn key(&self) -> &WatchKey {
        &self.key
    }

    /// The store: every object the watch has seen and not seen deleted.
    pub fn store(&self) -> &Store<DynamicObject> {
        &self.store
    }

    /// A receiver whose value changes on every watch event (and on every watch error).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    /// Whether the initial list has been received (the store is complete).
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// The latest error of the list or watch, if the last thing that happened was an error.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("not poisoned").clone()
    }

    /// The object `name` (in `namespace`, for namespaced types), as last seen.
    pub fn get(&self, name: &str, namespace: Option<&str>) -> Option<Arc<DynamicObject>> {
        let mut reference = ObjectRef::new_with(name, self.resource.clone());
        if let Some(namespace) = namespace {
            reference = reference.within(namespace);
        }
        self.store.get(&reference)
    }
}

/// The hub: resolves types once and keeps one [`SharedWatch`] per [`WatchKey`].
pub struct Watches {
    client: Client,
    resources: tokio::sync::Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
    watches: Mutex<HashMap<WatchKey, Arc<SharedWatch>>>,
    started: AtomicUsize,
}

impl Watches {
    /// A hub using `client`; it starts nothing until asked.
    pub fn new(client: Client) -> Watches {
        Watches {
            client,
            resources: tokio::sync::Mutex::new(HashMap::new()),
            watches: Mutex::new(HashMap::new()),
            started: AtomicUsize::new(0),
        }
    }

    /// The client the hub watches with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Resolves `apiVersion` + `kind` through discovery (once per type).
    ///
    /// Errors: a message naming the type when the server does not serve it.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), String> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let mut resources = self.resources.lock().await;
        if let Some(found) = resources.get(&gvk) {
            return Ok(found.clone());
        }
        let found = pinned_kind(&self.client, &gvk).await.map_err(|error| {
            format!("the server does not serve {kind} in {api_version}: {error}")
        })?;
        resources.insert(gvk, found.clone());
        Ok(found)
    }

    /// Resolves `kind` and the namespace one of its objects is addressed in: `namespace` for a
    /// namespaced type, `None` for a cluster-scoped one (whatever was given).
    ///
    /// Errors: the type is not served, or it is namespaced and no namespace was given.
    pub async fn locate(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<(ApiResource, Option<String>), String> {
        let (resource, capabilities) = self.resolve(api_version, kind).await?;
        match (capabilities.scope, namespace) {
            (Scope::Namespaced, Some(namespace)) => Ok((resource, Some(namespace.to_owned()))),
            (Scope::Namespaced, None) => Err(format!(
                "{kind} is namespaced: the check must name its namespace"
            )),
            (Scope::Cluster, _) => Ok((resource, None)),
        }
    }

    /// The shared watch of `kind` in `namespace`, started on first use.
    ///
    /// For a cluster-scoped type the namespace is ignored; for a namespaced type `None` means
    /// every namespace. Errors: the type is not served.
    pub async fn watch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Arc<SharedWatch>, String> {
        let (resource, capabilities) = self.resolve(api_version, kind).await?;
        let namespace = match capabilities.scope {
            Scope::Namespaced => namespace.map(str::to_owned),
            Scope::Cluster => None,
        };
        let key = WatchKey {
            gvk: GroupVersionKind::gvk(&resource.group, &resource.version, &resource.kind),
            namespace,
        };
        let mut watches = self.watches.lock().expect("not poisoned");
        if let Some(shared) = watches.get(&key) {
            return Ok(shared.clone());
        }
        let shared = Arc::new(self.start(key.clone(), resource));
        watches.insert(key, shared.clone());
        self.started.fetch_add(1, Ordering::Relaxed);
        Ok(shared)
    }

    fn start(&self, key: WatchKey, resource: ApiResource) -> SharedWatch {
        let api = api_for(&self.client, &resource, key.namespace.as_deref());
        let writer = reflector::store::Writer::<DynamicObject>::new(resource.clone());
        let store = writer.as_reader();
        let (sender, changes) = watch::channel(0u64);
        let last_error = Arc::new(Mutex::new(None));
        let errors = last_error.clone();
        let synced = Arc::new(AtomicBool::new(false));
        let init_done = synced.clone();
        let stream = reflector::reflector(
            writer,
            watcher::watcher(api, watcher::Config::default()).default_backoff(),
        );
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                if matches!(event, Ok(watcher::Event::InitDone)) {
                    init_done.store(true, Ordering::Release);
                }
                *errors.lock().expect("not poisoned") = event.err().map(|error| error.to_string());
                sender.send_modify(|count| *count += 1);
            }
        });
        SharedWatch {
            key,
            resource,
            store,
            changes,
            last_error,
            synced,
            task,
        }
    }

    /// How many watches this hub has started (one per distinct [`WatchKey`]).
    pub fn started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    /// The keys of the running watches.
    pub fn keys(&self) -> Vec<WatchKey> {
        self.watches
            .lock()
            .expect("not poisoned")
            .keys()
            .cloned()
            .collect()
    }

    /// Stops every watch (their requests end once the last waiter lets go of them).
    pub fn stop_all(&self) {
        self.watches.lock().expect("not poisoned").clear();
    }
}
