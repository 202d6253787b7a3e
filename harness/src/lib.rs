//! Proves each deployed stage: declared checks, the integration run that drives the deployer
//! and runs them, reports, and a libtest-mimic runner exposing the checks as trials.
//!
//! - [`checks`]: the check file schema, loading (before anything is deployed) and evaluation.
//! - [`integration`]: the whole run, from provider up to sweep, as `cargo xtask integration`.
//! - [`error`]: what stops a run before anything is applied.
//! - [`events`]: what a run reports while it happens; xtask renders it (libraries print
//!   nothing).
//! - [`report`]: the JSON run record, JUnit XML and the printed per-stage table.
//! - [`trials`]: checks as `<stage>::<check>` trials for `cargo test` / `cargo nextest run`.
//! - [`target`]: the description of a kept deployment that trials and teardown use.
//! - [`image_use`]: which of the images built here a run's stages use (only those are loaded).

pub mod chart_stages;
pub mod checks;
pub mod cluster_build;
pub mod diagnostics;
pub mod earlier_runs;
pub mod error;
pub mod events;
pub mod image_use;
pub mod integration;
mod outage;
pub mod report;
pub mod scenario_diagnostics;
pub mod scenarios;
pub mod target;
pub mod trials;
pub mod upgrade;

pub use error::{Error, Result};
