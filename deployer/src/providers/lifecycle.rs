//! A provider's lifecycle in a run: the defaults it gives a configuration
//! ([`apply_defaults`]), bringing its cluster up ([`up`], from a [`ProviderRequest`]) and down
//! again ([`ProviderHandle::down`], which says what it left behind).
//!
//! Builds (cluster binaries, images) happen before [`up`], by the caller, who may show their
//! progress: [`Prebuilt`] carries what was built. Nothing here prints.

use std::path::PathBuf;

use crate::config::{Config, KindEngine, NodeImageSource, ProviderKind};
use crate::error::{Error, Result};
use crate::images::BuiltImage;
use crate::platform::Platform;
use crate::providers::binaries::ClusterBinaries;
use crate::providers::hollow::{cluster, HollowPaths};
use crate::providers::{connect, default_kubeconfig, k3s, kind, local, Connection};

/// What a run asks of its provider (carved out of the run's options).
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    /// Which provider.
    pub kind: ProviderKind,
    /// The validated configuration, with [`apply_defaults`] applied.
    pub config: Config,
    /// For `existing`: the kubeconfig (else `$KUBECONFIG` or `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// For `existing`: the context.
    pub context: Option<String>,
    /// Where kind writes its log.
    pub report_dir: PathBuf,
    /// Hollow nodes, when the hollow cluster is started.
    pub hollow_nodes: usize,
}

/// What was built for the provider before [`up`]: the cluster binaries (hollow, local), the
/// pause image and the platform's images (local).
#[derive(Debug, Clone, Default)]
pub struct Prebuilt {
    /// The cluster binaries.
    pub binaries: Option<ClusterBinaries>,
    /// The sandbox image.
    pub pause: Option<BuiltImage>,
    /// The platform's images, imported into the node (local) or loaded into kind's nodes.
    pub images: Vec<BuiltImage>,
    /// kind's node image built here (kind with `node_image: built`).
    pub node_image: Option<crate::images::kind_node::NodeImage>,
}

/// The cluster a run uses, and what tearing it down means.
#[derive(Debug)]
pub enum ProviderHandle {
    /// The hollow cluster; `started` when this run started it (then it stops it again).
    Hollow {
        /// Whether this run started it.
        started: bool,
    },
    /// A cluster this run neither created nor removes.
    Existing,
    /// A kind cluster (deleted at teardown unless reused).
    Kind(kind::KindCluster),
    /// A k3s container (removed at teardown).
    K3s(Box<k3s::K3sCluster>),
    /// The local cluster; `started` when this run started it (then `local down` removes it
    /// and the run checks that nothing of it remains on the host).
    Local {
        /// Whether this run started it.
        started: bool,
        /// Its binaries (for the leftover check).
        binaries: Box<ClusterBinaries>,
    },
}

/// What [`ProviderHandle::down`] left behind.
#[derive(Debug, Default, Clone)]
pub struct Down {
    /// Docker objects of the run's kind cluster or k3s container that remain.
    pub docker_leftovers: Vec<kind::DockerLeftover>,
    /// What remains of the local cluster on the host (processes, mounts, links, chains…).
    pub host_leftovers: Vec<String>,
    /// Problems met while stopping (the leftovers above say what they left).
    pub problems: Vec<String>,
}

impl ProviderHandle {
    /// Whether the run found the cluster running rather than creating it.
    pub fn reused(&self) -> bool {
        match self {
            ProviderHandle::Hollow { started } => !started,
            ProviderHandle::Existing => true,
            ProviderHandle::Kind(cluster) => cluster.reused,
            ProviderHandle::K3s(_) => false,
            ProviderHandle::Local { started, .. } => !started,
        }
    }

    /// The same cluster, to be stopped by [`ProviderHandle::down`] even if the run found it
    /// running: a hollow, local or kind cluster that an earlier run of the same trial started
    /// (the first deployment of an upgrade trial kept it for the second). A kind cluster is
    /// then deleted and the host changes its creating run recorded are undone.
    pub fn stopped_at_the_end(self) -> Self {
        match self {
            ProviderHandle::Hollow { .. } => ProviderHandle::Hollow { started: true },
            ProviderHandle::Local { binaries, .. } => ProviderHandle::Local {
                started: true,
                binaries,
            },
            ProviderHandle::Kind(mut cluster) => {
                cluster.reused = false;
                ProviderHandle::Kind(cluster)
            }
            other => other,
        }
    }

    /// Stops what the run started: the hollow or local cluster it started (for local, then
    /// scans the host for remains), the kind cluster it created (its Docker leftovers are
    /// listed), the k3s container. A cluster the run found running is left alone.
    pub async fn down(self) -> Down {
        let mut down = Down::default();
        match self {
            ProviderHandle::Hollow { started: true } => {
                if let Err(error) = cluster::down(&HollowPaths::from_env()) {
                    down.problems.push(format!(
                        "failed to stop the hollow cluster this run started: {}",
                        host::error_chain(&error)
                    ));
                }
            }
            ProviderHandle::Hollow { started: false }
            | ProviderHandle::Existing
            | ProviderHandle::Local { started: false, .. } => {}
            ProviderHandle::Local {
                started: true,
                binaries,
            } => {
                let paths = local::LocalPaths::from_env();
                let stopped = tokio::task::spawn_blocking(move || {
                    let result = local::down(&paths);
                    (result, local::remains(&paths, &binaries))
                })
                .await;
                match stopped {
                    Ok((result, remains)) => {
                        if let Err(error) = result {
                            down.problems.push(host::error_chain(&error));
                        }
                        down.host_leftovers = remains;
                    }
                    Err(error) => down
                        .problems
                        .push(format!("stopping the local cluster panicked: {error}")),
                }
            }
            ProviderHandle::Kind(cluster) => {
                match tokio::task::spawn_blocking(move || kind::down(&cluster)).await {
                    Ok(Ok(leftovers)) => down.docker_leftovers = leftovers,
                    Ok(Err(error)) => {
                        let error = host::error_chain(&error);
                        down.problems
                            .push(format!("deleting the kind cluster: {error}"));
                        down.docker_leftovers.push(kind::DockerLeftover {
                            kind: "cluster".into(),
                            name: format!("not deleted: {error}"),
                        });
                    }
                    Err(error) => down
                        .problems
                        .push(format!("deleting the kind cluster panicked: {error}")),
                }
            }
            ProviderHandle::K3s(cluster) => {
                if let Err(error) = k3s::down(*cluster).await {
                    let error = host::error_chain(&error);
                    down.problems.push(error.clone());
                    down.docker_leftovers.push(kind::DockerLeftover {
                        kind: "container".into(),
                        name: format!("k3s container not removed: {error}"),
                    });
                }
            }
        }
        down
    }
}

/// The cluster binaries a provider needs built before [`up`] (the recipe names of
/// [`crate::providers::binaries::recipes`]), if any.
pub fn binaries_needed(kind: ProviderKind) -> Option<&'static [&'static str]> {
    match kind {
        ProviderKind::Hollow => Some(&crate::providers::hollow::HOLLOW_RECIPES),
        ProviderKind::Local => Some(&local::LOCAL_RECIPES),
        _ => None,
    }
}

/// Provider defaults a configuration gets before it is prepared, for settings the config
/// leaves unset and the platform's stages have:
///
/// - `kind`: the engine, when unset, is the one [`kind::detect_engine`] finds, and the node
///   image `built` on podman (no registry gives `kindest/node` there), `pinned` on Docker.
/// - `kind`, `k3s`: the ingress Service is a NodePort (its ports are mapped to the host), and
///   endpoint checks resolve the platform domain to `host_ingress.address` unless
///   `endpoint_address` is set, so neither MetalLB nor public DNS is needed.
/// - `hollow`: `jupyterhub.persistent_storage` false (hollow nodes mount no volumes).
/// - `local`: the ingress Service is a NodePort, which kube-proxy serves on loopback; the
///   browser and the endpoint checks reach the platform domain at `127.0.0.1` (unless
///   `endpoint_address` is set) on those ports: `host_ingress`'s ports become the ingress's
///   NodePorts unless the config changed them from 80/443.
pub fn apply_defaults(config: &mut Config, kind: ProviderKind, platform: &Platform) {
    if kind == ProviderKind::Kind {
        let engine = *config.kind.engine.get_or_insert_with(kind::detect_engine);
        config.kind.node_image.get_or_insert(match engine {
            KindEngine::Docker => NodeImageSource::Pinned,
            KindEngine::Podman => NodeImageSource::Built,
        });
    }
    let mut default = |stage: &str, key: &str, value: serde_json::Value| {
        let Some(stage_default) = platform
            .stages
            .iter()
            .find(|candidate| candidate.name == stage)
            .and_then(|stage| stage.settings.get(key))
        else {
            return;
        };
        let value = if value.is_null() {
            stage_default.clone()
        } else {
            value
        };
        config
            .stages
            .entry(stage.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_insert(value);
    };
    match kind {
        ProviderKind::Kind | ProviderKind::K3s => {
            default("ingress", "service_type", "NodePort".into());
            if config.endpoint_address.is_none() {
                config.endpoint_address = Some(config.host_ingress.address);
            }
        }
        ProviderKind::Hollow => default("jupyterhub", "persistent_storage", false.into()),
        ProviderKind::Local => {
            default("ingress", "service_type", "NodePort".into());
            let ports = ingress_node_ports(platform, config);
            let ingress = &mut config.host_ingress;
            if (ingress.http_port, ingress.https_port) == (80, 443) {
                ingress.http_port = ports.http;
                ingress.https_port = ports.https;
            }
            if config.endpoint_address.is_none() {
                config.endpoint_address = Some(std::net::IpAddr::from([127, 0, 0, 1]));
            }
        }
        ProviderKind::Existing => {}
    }
}

/// The ingress stage's NodePorts: the config's `http_node_port`/`https_node_port` for the
/// `ingress` stage, else the stage's defaults, else 30080/30443.
pub fn ingress_node_ports(platform: &Platform, config: &Config) -> kind::NodePorts {
    let setting = |key: &str, fallback: u16| {
        config
            .stages
            .get("ingress")
            .and_then(|settings| settings.get(key))
            .or_else(|| {
                platform
                    .stages
                    .iter()
                    .find(|stage| stage.name == "ingress")
                    .and_then(|stage| stage.settings.get(key))
            })
            .and_then(serde_json::Value::as_u64)
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(fallback)
    };
    kind::NodePorts {
        http: setting("http_node_port", 30080),
        https: setting("https_node_port", 30443),
    }
}

/// Brings the provider's cluster up and connects to it: for `hollow` and `local`, starts it
/// (or reuses a running one) from `prebuilt`; for `kind`, creates (or reuses) the cluster,
/// deleting it again when Ctrl-C comes while kind works; for `k3s`, starts the container;
/// for `existing`, connects.
///
/// Errors: [`Error::Build`] when `prebuilt` lacks what the provider needs; those of each
/// provider's `up` and of [`connect`]; [`Error::EnvironmentMissing`] when interrupted while
/// the kind cluster was created (naming any cluster that may remain).
pub async fn up(
    request: &ProviderRequest,
    platform: &Platform,
    prebuilt: Prebuilt,
) -> Result<(Connection, ProviderHandle)> {
    let missing = |what: &str| Error::Build {
        message: format!(
            "the {} provider needs {what} built first (report this as a bug)",
            request.kind
        ),
    };
    match request.kind {
        ProviderKind::Hollow => {
            let binaries = prebuilt.binaries.ok_or_else(|| missing("its binaries"))?;
            let up = cluster::up(&HollowPaths::from_env(), request.hollow_nodes, &binaries).await?;
            Ok((
                up.connection,
                ProviderHandle::Hollow {
                    started: !up.reused,
                },
            ))
        }
        ProviderKind::Local => {
            let binaries = prebuilt.binaries.ok_or_else(|| missing("its binaries"))?;
            let pause = prebuilt.pause.ok_or_else(|| missing("the pause image"))?;
            let paths = local::LocalPaths::from_env();
            let up = local::up_interruptible(&paths, &binaries, &pause, &prebuilt.images).await?;
            Ok((
                up.connection,
                ProviderHandle::Local {
                    started: !up.reused,
                    binaries: Box::new(binaries),
                },
            ))
        }
        ProviderKind::Kind => kind_up(request, platform, prebuilt).await,
        ProviderKind::K3s => {
            let ports = ingress_node_ports(platform, &request.config);
            let cluster = k3s::up(&request.config, &platform.images, ports).await?;
            let connection = connect(
                &cluster.kubeconfig,
                None,
                "the k3s container does not answer; see `docker logs` of its container",
            )
            .await;
            match connection {
                Ok(connection) => Ok((connection, ProviderHandle::K3s(Box::new(cluster)))),
                Err(error) => {
                    let _ = k3s::down(cluster).await;
                    Err(error)
                }
            }
        }
        ProviderKind::Existing => {
            let kubeconfig = request
                .kubeconfig
                .clone()
                .unwrap_or_else(default_kubeconfig);
            let hint = "check the kubeconfig's server and that the cluster runs; for the local hollow cluster run `cargo xtask hollow up` and use --provider hollow";
            Ok((
                connect(&kubeconfig, request.context.as_deref(), hint).await?,
                ProviderHandle::Existing,
            ))
        }
    }
}

/// What the kind provider runs with: `kind` (the one built here when there is one, else from
/// PATH), the configured engine, and on podman seatrial's podman configuration, written now.
///
/// Errors: the podman configuration cannot be written.
pub fn kind_tools(
    config: &Config,
    binaries: Option<&ClusterBinaries>,
) -> Result<kind::commands::Tools> {
    let engine = config.kind.engine.unwrap_or(KindEngine::Docker);
    let kind_program = binaries
        .filter(|binaries| binaries.versions.contains_key("kind"))
        .map_or_else(
            || "kind".to_owned(),
            |binaries| binaries.path("kind").display().to_string(),
        );
    let env = match engine {
        KindEngine::Docker => Vec::new(),
        KindEngine::Podman => {
            let podman = kind::podman::PodmanConfig::new(kind::podman::state_dir());
            podman.write()?;
            podman.env()
        }
    };
    Ok(kind::commands::Tools {
        kind: kind_program,
        engine,
        env,
    })
}

async fn kind_up(
    request: &ProviderRequest,
    platform: &Platform,
    prebuilt: Prebuilt,
) -> Result<(Connection, ProviderHandle)> {
    let pinned_kind = crate::pins::load_tool_tag(&platform.pins_file, "kind")?;
    let ports = ingress_node_ports(platform, &request.config);
    let tools = kind_tools(&request.config, prebuilt.binaries.as_ref())?;
    let node_image = match (&request.config.kind.node_image, prebuilt.node_image) {
        (Some(NodeImageSource::Built), Some(node)) => kind::NodeImage::Built {
            kubeadm: kind::BuiltNode {
                repository: crate::images::kind_node::components::REPOSITORY.to_owned(),
                etcd_tag: node.etcd_tag().to_owned(),
                coredns_tag: node.coredns_tag().to_owned(),
            },
            image: node.image,
        },
        (Some(NodeImageSource::Built), None) => {
            return Err(Error::Build {
                message:
                    "the kind provider needs its node image built first (report this as a bug)"
                        .into(),
            })
        }
        _ => kind::NodeImage::Pinned,
    };
    let inputs = kind::KindInputs {
        tools,
        node_image,
        archives: prebuilt.images,
    };
    let (config, images, report_dir) = (
        request.config.clone(),
        platform.images.clone(),
        request.report_dir.clone(),
    );
    let panicked = |error: tokio::task::JoinError| Error::EnvironmentMissing {
        what: format!("the kind provider panicked: {error}"),
        hint: "report this as a bug".into(),
    };
    let mut creating = tokio::task::spawn_blocking(move || {
        kind::up(&config, &images, &inputs, &pinned_kind, ports, &report_dir)
    });
    let cluster = tokio::select! {
        created = &mut creating => created.map_err(panicked)??,
        _ = tokio::signal::ctrl_c() => {
            // kind cannot be stopped half-way: let it finish, then delete what it made.
            let mut remains = String::new();
            if let Ok(Ok(cluster)) = creating.await {
                let deleted = tokio::task::spawn_blocking(move || kind::down(&cluster)).await;
                if !matches!(deleted, Ok(Ok(ref leftovers)) if leftovers.is_empty()) {
                    remains = format!(" (the kind cluster may remain: {deleted:?})");
                }
            }
            return Err(Error::EnvironmentMissing {
                what: format!("interrupted while creating the kind cluster; nothing was deployed, and what kind made was deleted once it finished{remains}"),
                hint: "run again; `kind get clusters` lists any cluster left".into(),
            });
        }
    };
    let hint = format!(
        "the kind cluster `{}` does not answer; see {}",
        cluster.name,
        cluster.log.display()
    );
    let connection = connect(&cluster.kubeconfig, None, &hint).await?;
    Ok((connection, ProviderHandle::Kind(cluster)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_provider_gets_its_defaults_only_where_the_platform_has_the_setting() {
        let platform = Platform::load(&crate::platform::default_platform_dir()).unwrap();
        let mut config = Config::embedded_default();
        apply_defaults(&mut config, ProviderKind::Kind, &platform);
        assert_eq!(config.stages["ingress"]["service_type"], "NodePort");
        assert_eq!(config.endpoint_address, Some(config.host_ingress.address));
        // The node image follows the engine: built on podman (no registry), pinned on Docker,
        // unless the config chose.
        for (engine, image) in [
            (KindEngine::Podman, NodeImageSource::Built),
            (KindEngine::Docker, NodeImageSource::Pinned),
        ] {
            let mut config = Config::embedded_default();
            config.kind.engine = Some(engine);
            apply_defaults(&mut config, ProviderKind::Kind, &platform);
            assert_eq!(config.kind.node_image, Some(image));
            assert_eq!(
                config.uses_built_images(ProviderKind::Kind),
                image == NodeImageSource::Built
            );
        }
        let mut config = Config::embedded_default();
        config.kind.engine = Some(KindEngine::Podman);
        config.kind.node_image = Some(NodeImageSource::Pinned);
        apply_defaults(&mut config, ProviderKind::Kind, &platform);
        assert_eq!(config.kind.node_image, Some(NodeImageSource::Pinned));
        let ports = ingress_node_ports(&platform, &config);
        assert_eq!((ports.http, ports.https), (30080, 30443));

        // The user's own choice stays; other providers are untouched.
        let mut config = Config::embedded_default();
        config
            .stages
            .entry("ingress".into())
            .or_default()
            .insert("service_type".into(), "LoadBalancer".into());
        apply_defaults(&mut config, ProviderKind::K3s, &platform);
        assert_eq!(config.stages["ingress"]["service_type"], "LoadBalancer");
        let mut config = Config::embedded_default();
        apply_defaults(&mut config, ProviderKind::Hollow, &platform);
        assert!(!config.stages.contains_key("ingress"));
        assert_eq!(config.stages["jupyterhub"]["persistent_storage"], false);
        assert_eq!(config.endpoint_address, None);

        // On local: the ingress's NodePorts on loopback are where the browser goes.
        let mut config = Config::embedded_default();
        apply_defaults(&mut config, ProviderKind::Local, &platform);
        assert_eq!(config.stages["ingress"]["service_type"], "NodePort");
        assert_eq!(
            (
                config.host_ingress.http_port,
                config.host_ingress.https_port
            ),
            (30080, 30443)
        );
        assert_eq!(config.origin(), format!("https://{}:30443", config.domain));
        assert_eq!(
            config.endpoint_address,
            Some(std::net::IpAddr::from([127, 0, 0, 1]))
        );
        assert_eq!(
            config.stages["jupyterhub"]["default_profile"], "small",
            "the config's own setting stays"
        );
        assert!(!config.stages["jupyterhub"].contains_key("authenticator"));

        // A platform without those settings gets no stage override it would refuse.
        let mut bare = platform.clone();
        bare.stages
            .retain(|stage| stage.name == "kubernetes-initialize");
        let mut config = Config::embedded_default();
        config.stages.clear();
        for kind in [
            ProviderKind::Kind,
            ProviderKind::Local,
            ProviderKind::Hollow,
        ] {
            apply_defaults(&mut config, kind, &bare);
        }
        assert!(config.stages.is_empty(), "{:?}", config.stages);
    }
}
