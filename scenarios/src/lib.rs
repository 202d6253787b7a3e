//! Browser scenarios that drive the deployed platform the way a person does: log in, start a
//! server, run a notebook, log out, use a hub API token.
//!
//! A scenario runs in a fresh headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` with fantoccini); each step is timed, each wait names its condition and
//! has a limit, and a failure leaves a screenshot, the page's HTML, the console log and the
//! URL. [`trials`] turns the scenarios into libtest-mimic trials named `scenarios::<name>`;
//! [`local_hub`] is the real JupyterHub they are proven against.

pub mod artifacts;
pub mod browser;
pub mod catalog;
pub mod driver;
pub mod error;
pub mod http;
pub mod jupyterhub;
pub mod local_hub;
pub mod options;
pub mod record;
pub mod report;
pub mod run;
pub mod step_error;
pub mod steps;
pub mod trials;

pub use catalog::Scenario;
pub use error::{Error, Result};
pub use options::{Cell, Credentials, Network, Password, RoleUsers, ScenarioOptions, Timeouts};
pub use record::{Artifacts, ScenarioOutcome, ScenarioRecord, StepRecord};
pub use step_error::StepError;
