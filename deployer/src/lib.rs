//! Deploys a platform to a Kubernetes cluster stage by stage and takes it away again.
//!
//! The flow a caller drives (the harness does, for `cargo xtask integration`):
//!
//! 1. [`config::Config`] and [`platform::Platform`] are loaded and validated.
//! 2. A [`providers::Provider`] yields a connected [`kube::Client`].
//! 3. For each stage, [`render`] turns templates into text, [`manifest`] into objects,
//!    [`apply::Applier`] server-side applies them with inventory labels ([`inventory`]), and
//!    [`wait`] watches each object until it is ready.
//! 4. [`teardown`] deletes stages in reverse order; [`sweep`] then finds anything that still
//!    carries the deployment's inventory labels, deletes it and reports what remains.
//!
//! While a run lasts, [`api_health`] probes the API server, so that an outage is known within
//! seconds rather than at the end of a wait.
//!
//! The deployer never shells out to kubectl and never sleeps to wait for the cluster: every
//! wait is a watch with a timeout.

pub mod api_health;
pub mod apply;
pub mod charts;
pub mod claims;
pub mod config;
pub mod config_rollout;
pub mod crash_loop;
pub mod deletion;
pub mod discovery;
pub mod error;
pub mod images;
pub mod inventory;
pub mod lease;
pub mod ledger;
pub mod manifest;
pub mod pins;
pub mod pinset;
pub mod platform;
pub mod pod_logs;
pub mod providers;
pub mod prune;
pub mod render;
pub mod sweep;
pub mod teardown;
pub mod tls;
pub mod wait;
pub mod watches;
pub mod yaml;

pub use error::{Error, Result};
pub use host::{Classify, ErrorClass};
