//! Stage checks: what each stage's `checks.yaml` declares, loaded and validated before anything
//! is deployed, and run against the cluster after the stage is ready. The same checks can be
//! built in Rust ([`Check::new`]) and run with a [`CheckRunner`].
//!
//! The file's schema is documented in `docs/checks.md`. Every check has a `name`, exactly one
//! assertion, and optionally `timeout_seconds`, `retries` and `after`:
//!
//! ```yaml
//! checks:
//!   - name: traefik_available
//!     condition:
//!       object: {apiVersion: apps/v1, kind: Deployment, namespace: dev, name: traefik}
//!       type: Available
//!       status: "True"
//!   - name: hub_image
//!     after: [traefik_available]
//!     match:
//!       object: {apiVersion: apps/v1, kind: Deployment, namespace: dev, name: hub}
//!       expect:
//!         spec: {template: {spec: {containers: {$some: [{name: hub}]}}}}
//!   - name: analyst_cannot_delete_pods
//!     access: {user: bob, groups: [analyst], verb: delete, resource: pods, namespace: dev, allowed: false}
//! ```

mod access;
mod endpoint;
mod expression;
mod file;
pub mod helm_test;
mod observe;
mod path;
mod runner;
mod schedule;
mod selector;
mod spec;
pub mod subset;
mod tls;

pub use access::question;
pub use endpoint::{Resolver, OIDC_REQUIRED};
pub use expression::Expression;
pub use file::{load_checks, parse_checks, parse_stage_checks};
pub use observe::{observe_object, observe_objects, Observation};
pub use path::FieldPath;
pub use runner::{seconds_text, CheckRunner, Outcome, Verdict};
pub use schedule::run_checks;
pub use selector::LabelSelector;
pub use spec::{
    split_address, AccessSpec, Assertion, Check, CheckDefaults, ExpressionTarget, HttpSpec,
    ObjectSelector, OidcSpec, ResourceSelector, SeedStep, StageChecks, TcpSpec, TlsSpec, Trust,
};
pub use tls::{fetch_certificate, Certificate};
