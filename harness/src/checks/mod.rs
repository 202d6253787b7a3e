//! Stage checks: what each stage's `checks.yaml` declares, loaded and validated before anything
//! is deployed, and run against the cluster after the stage is ready.
//!
//! A check file is a minijinja template (the same context as the stage's manifests) of this
//! shape; each check has a `name` and exactly one assertion:
//!
//! ```yaml
//! checks:
//!   - name: traefik_available
//!     condition:                      # status.conditions[type].status (and .reason)
//!       object: {apiVersion: apps/v1, kind: Deployment, namespace: dev, name: traefik}
//!       type: Available
//!       status: "True"
//!   - name: realm_configmap
//!     exists: {object: {apiVersion: v1, kind: ConfigMap, namespace: dev, name: realm}}
//!   - name: dashboard_not_exposed
//!     absent: {object: {apiVersion: v1, kind: Service, namespace: dev, name: dashboard}}
//!   - name: ingress_host
//!     field_equals:                   # a dotted path with [index] steps, compared as JSON
//!       object: {apiVersion: networking.k8s.io/v1, kind: Ingress, namespace: dev, name: hub}
//!       path: spec.rules[0].host
//!       value: seatrial.test
//!   - name: one_hub_pod
//!     count:                          # objects matching a label selector: equals, min, max
//!       resource: {apiVersion: v1, kind: Pod, namespace: dev}
//!       selector: component=hub
//!       equals: 1
//! ```

mod eval;
mod path;
mod spec;

pub use eval::{CheckRunner, Outcome};
pub use path::FieldPath;
pub use spec::{load_checks, Assertion, Check, ObjectSelector, ResourceSelector};
