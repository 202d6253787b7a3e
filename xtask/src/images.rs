//! `cargo xtask images build|list`: the platform's images, built here from the pin set's
//! recipes (docs/images.md).

use clap::Subcommand;
use deployer::images::{build, recipe};
use deployer::pins::default_pins_file;

use crate::exit;

/// The `images` subcommands (the group's help text is on `Command` in main.rs).
#[derive(Subcommand)]
pub enum Images {
    /// Build every image recipe of the pin set (a pinned Debian suite plus pinned PyPI, npm
    /// and Maven packages and Go tools), then kind's node image, as OCI archives; an image
    /// already built is found in the cache at once.
    /// Checks first that every package version exists in its registry. Needs root.
    Build {
        /// The pin set [default: pins/pins.toml].
        #[arg(long, value_name = "FILE")]
        pins: Option<std::path::PathBuf>,
        /// Build only the platform's images, or only the kind node image (Debian with
        /// systemd, containerd, runc, CNI plugins, kubeadm, kubelet, kubectl and the
        /// control plane's images preloaded) [default: both].
        #[arg(long, value_enum)]
        only: Option<Only>,
    },
    /// List the recipes: the image each stands for, its reference and whether it is built.
    List {
        /// The pin set [default: pins/pins.toml].
        #[arg(long, value_name = "FILE")]
        pins: Option<std::path::PathBuf>,
    },
}

impl Images {
    pub async fn run(self) -> u8 {
        let (Images::Build { pins, .. } | Images::List { pins }) = &self;
        let pins_file = pins.clone().unwrap_or_else(default_pins_file);
        let recipes = match recipe::load(&pins_file) {
            Ok(recipes) => recipes,
            Err(error) => return exit::report(&error),
        };
        match self {
            Images::List { .. } => {
                for recipe in &recipes {
                    let archive = build::cache_dir(recipe).join("image.tar");
                    println!(
                        "{:<12} stands for images.{:<12} {}  {}",
                        recipe.name,
                        recipe.stands_for,
                        recipe.reference(),
                        if archive.is_file() {
                            archive.display().to_string()
                        } else {
                            "not built".to_owned()
                        }
                    );
                }
                exit::SUCCESS
            }
            Images::Build { only, .. } => {
                if only != Some(Only::KindNode) {
                    if let Err(code) = crate::pins::check_packages(&pins_file).await {
                        return code;
                    }
                    let code = build_platform_images(pins_file.clone()).await;
                    if code != exit::SUCCESS {
                        return code;
                    }
                }
                if only == Some(Only::Platform) {
                    return exit::SUCCESS;
                }
                build_node_image(pins_file).await
            }
        }
    }
}

/// What `images build --only` builds.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// The platform's images (`[recipes.*]` of the pin set).
    Platform,
    /// The kind node image.
    KindNode,
}

async fn build_platform_images(pins_file: std::path::PathBuf) -> u8 {
    let built = tokio::task::spawn_blocking(move || {
        harness::cluster_build::ensure_images(&pins_file, &crate::terminal::Terminal::new())
    })
    .await;
    match built {
        Ok(Ok(images)) => {
            for image in images {
                let size = std::fs::metadata(&image.archive)
                    .map(|metadata| metadata.len())
                    .unwrap_or(0);
                println!(
                    "{}  {} ({} MiB){}",
                    image.reference,
                    image.archive.display(),
                    size / (1 << 20),
                    if image.built { "" } else { ", cached" }
                );
            }
            println!("on kind: kind load image-archive <archive> --name <cluster>; --provider local imports them itself");
            exit::SUCCESS
        }
        Ok(Err(error)) => exit::report(&error),
        Err(error) => {
            eprintln!("error: the image build panicked: {error}");
            exit::ENVIRONMENT_MISSING
        }
    }
}

async fn build_node_image(pins_file: std::path::PathBuf) -> u8 {
    let built = tokio::task::spawn_blocking(move || {
        harness::cluster_build::ensure_node_image(&pins_file, &crate::terminal::Terminal::new())
    })
    .await;
    match built {
        Ok(Ok(node)) => {
            let size = std::fs::metadata(&node.image.archive)
                .map(|metadata| metadata.len())
                .unwrap_or(0);
            println!(
                "{}  {} ({} MiB; the kind node image, Kubernetes {}){}",
                node.image.reference,
                node.image.archive.display(),
                size / (1 << 20),
                node.kubernetes_version,
                if node.image.built { "" } else { ", cached" }
            );
            exit::SUCCESS
        }
        Ok(Err(error)) => exit::report(&error),
        Err(error) => {
            eprintln!("error: the kind node image build panicked: {error}");
            exit::ENVIRONMENT_MISSING
        }
    }
}
