//! Chart stages: a pinned Helm chart deployed as one stage, rendered by real Helm and applied
//! by us.
//!
//! The flow (docs/charts.md):
//!
//! 1. [`fetch`] — `helm pull` of exactly the pinned version, its digest checked against the
//!    pin before anything is rendered, cached by digest.
//! 2. [`render`] — `helm template` with the stage's rendered `values.yaml`, the release name
//!    and namespace, `--include-crds`, and the target cluster's `--kube-version` and
//!    `--api-versions` ([`render::Capabilities`], from discovery).
//! 3. [`hooks`] — the rendered objects sorted into the release, its `pre-install` and
//!    `post-install` hooks (by weight, with their delete policies) and its test hooks, which
//!    the harness runs as checks (`helm_test::<pod>`).
//! 4. [`crate::apply::Applier::apply_release`] — our server-side apply, field manager,
//!    inventory labels, apply order and watch-based readiness.
//!
//! [`helm`] says which Helm binary (Helm 3 or Helm 4, pinned, built from the Go module
//! proxy) and runs it; [`compare`] diffs what Helm 3 and Helm 4 render.

pub mod compare;
pub mod fetch;
pub mod helm;
pub mod hooks;
pub mod install;
pub mod render;
