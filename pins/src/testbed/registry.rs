//! Debian's `docker-registry` (the CNCF Distribution registry, 2.8) on a free loopback port
//! with filesystem storage, anonymous or behind token auth; images are pushed with
//! oci-client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

/// Where Debian installs the registry.
pub const BINARY: &str = "/usr/bin/docker-registry";

/// The Debian package that provides [`BINARY`].
pub const PACKAGE: &str = "docker-registry";

/// Token authentication for [`Registry::start`].
pub struct TokenAuth {
    /// The token endpoint, e.g. `http://127.0.0.1:1234/token`.
    pub realm: String,
    /// The issuer's certificate (PEM).
    pub certificate_pem: String,
}

/// A running registry; killed when dropped.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub host: String,
    child: Child,
    /// Its log file.
    pub log: PathBuf,
}

impl Registry {
    /// Starts a registry storing in `storage` (shared storage lets an anonymous and a
    /// token-auth registry serve the same images), with its config and log in `work`.
    ///
    /// Errors: the binary is missing (naming the Debian package), it did not start, or it
    /// did not answer `/v2/` within 20 s (with its log's tail).
    pub fn start(
        storage: &Path,
        work: &Path,
        auth: Option<&TokenAuth>,
    ) -> Result<Registry, String> {
        if !Path::new(BINARY).exists() {
            return Err(format!("{BINARY} is missing: apt-get install -y {PACKAGE} (`cargo xtask test` installs it)"));
        }
        std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
        let port = host::ports::free_port(&mut Vec::new()).map_err(|e| e.to_string())?;
        let auth_section = match auth {
            Some(auth) => {
                let bundle = work.join("token-ca.pem");
                std::fs::write(&bundle, &auth.certificate_pem).map_err(|e| e.to_string())?;
                format!(
                    "auth:\n  token:\n    realm: {}\n    service: seatrial-testbed-registry\n    issuer: {}\n    rootcertbundle: {}\n",
                    auth.realm,
                    super::token::ISSUER,
                    bundle.display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: seatrial-testbed\n{auth_section}",
            storage.display()
        );
        let config_path = work.join(format!("registry-{port}.yml"));
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log = work.join(format!("registry-{port}.log"));
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("starting {BINARY}: {e}"))?;
        let mut registry = Registry {
            host: format!("127.0.0.1:{port}"),
            child,
            log,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = registry.child.try_wait() {
                return Err(format!(
                    "{BINARY} exited with {status}: {}",
                    registry.log_tail()
                ));
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(registry);
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "{BINARY} did not listen on 127.0.0.1:{port} within 20 s: {}",
                    registry.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        std::fs::read_to_string(&self.log)
            .map(|text| {
                text.lines()
                    .rev()
                    .take(10)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// Pushes a one-layer image `<host>/<repository>:<tag>` whose layer and config name the
    /// reference (so every push has its own digest), with config `created` = `created`
    /// (RFC 3339). Returns the manifest digest.
    ///
    /// Errors: oci-client's message.
    pub async fn push(&self, repository: &str, tag: &str, created: &str) -> Result<String, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = oci_client::Client::new(ClientConfig {
            protocol: ClientProtocol::Http,
            ..ClientConfig::default()
        });
        let reference: Reference = format!("{}/{repository}:{tag}", self.host)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let layer = ImageLayer::oci_v1(format!("layer of {repository}:{tag}").into_bytes(), None);
        let config = serde_json::json!({
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [layer.sha256_digest()]},
            "config": {"Labels": {"reference": format!("{repository}:{tag}")}},
        });
        let config = Config::oci_v1(config.to_string().into_bytes(), None);
        client
            .push(&reference, &[layer], config, &RegistryAuth::Anonymous, None)
            .await
            .map_err(|e| format!("pushing {reference}: {e}"))?;
        client
            .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
            .await
            .map_err(|e| format!("reading the digest of {reference}: {e}"))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
