//! Sorting what `helm template` rendered into the release's objects and its hooks.
//!
//! Helm docs, "Chart Hooks": an object annotated `helm.sh/hook` is a hook, not part of the
//! release. Install applies `pre-install` hooks before the release and `post-install` hooks
//! after it, each in ascending `helm.sh/hook-weight` (an integer written as a string; 0 when
//! absent), then by kind and name, each awaited before the next (a Job until it completes).
//! `helm.sh/hook-delete-policy` lists `before-hook-creation` (delete an existing object of
//! that name before creating the hook: the default when no policy is given),
//! `hook-succeeded` and `hook-failed` (delete it after it succeeded or failed). Test hooks
//! (`test`, and the older `test-success`) are run by `helm test`: here they become checks.
//! Hooks of other events (upgrade, rollback, delete) do not run on an install; they are
//! listed in [`Release::not_run`].

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// `helm.sh/hook`.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
/// `helm.sh/hook-weight`.
pub const WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// `helm.sh/hook-delete-policy`.
pub const DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";
/// `helm.sh/resource-policy` (`keep`: uninstall leaves the object).
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";

/// When a hook object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeletePolicy {
    /// Before the hook is created, an object of its name is deleted.
    BeforeHookCreation,
    /// After the hook succeeded.
    HookSucceeded,
    /// After the hook failed.
    HookFailed,
}

/// One hook object.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The object as rendered.
    pub manifest: Manifest,
    /// `helm.sh/hook-weight`.
    pub weight: i64,
    /// Its delete policies (`[BeforeHookCreation]` when none are written).
    pub delete_policies: Vec<DeletePolicy>,
}

impl Hook {
    /// Whether it is deleted in `policy`'s case.
    pub fn deletes(&self, policy: DeletePolicy) -> bool {
        self.delete_policies.contains(&policy)
    }
}

/// A rendered chart, sorted for an install.
#[derive(Debug, Clone, Default)]
pub struct Release {
    /// The release's own objects (CRDs included), in rendered order.
    pub objects: Vec<Manifest>,
    /// `pre-install` hooks, in the order they run.
    pub pre_install: Vec<Hook>,
    /// `post-install` hooks, in the order they run.
    pub post_install: Vec<Hook>,
    /// Test hooks (Pods, normally), in the order `helm test` runs them.
    pub tests: Vec<Hook>,
    /// Hooks of events an install does not have: `kind/name` and their `helm.sh/hook`.
    pub not_run: Vec<(String, String)>,
}

impl Release {
    /// Every object an install applies: pre-install hooks, objects, post-install hooks.
    pub fn applied_count(&self) -> usize {
        self.pre_install.len() + self.objects.len() + self.post_install.len()
    }
}

fn annotation<'a>(manifest: &'a Manifest, key: &str) -> Option<&'a str> {
    manifest
        .object
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(key))
        .map(String::as_str)
}

/// Whether `manifest` carries `helm.sh/resource-policy: keep`.
pub fn keeps(manifest: &Manifest) -> bool {
    object_keeps(&manifest.object)
}

/// Whether `object` (a manifest or a live object) carries `helm.sh/resource-policy: keep`.
pub fn object_keeps(object: &kube::api::DynamicObject) -> bool {
    object
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(RESOURCE_POLICY_ANNOTATION))
        .is_some_and(|value| value.trim() == "keep")
}

/// Sorts `manifests` into a [`Release`].
///
/// Errors: [`Error::Manifest`] naming the template for an unknown hook event, a weight that
/// is not an integer, or an unknown delete policy.
pub fn split(manifests: Vec<Manifest>) -> Result<Release> {
    let mut release = Release::default();
    for manifest in manifests {
        let Some(events) = annotation(&manifest, HOOK_ANNOTATION).map(str::to_owned) else {
            release.objects.push(manifest);
            continue;
        };
        let fail = |message: String| Error::Manifest {
            path: manifest.path.clone(),
            line: manifest.line,
            document: manifest.document,
            message: format!("{}/{}: {message}", manifest.kind(), manifest.name()),
        };
        let weight = match annotation(&manifest, WEIGHT_ANNOTATION) {
            None => 0,
            Some(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|_| fail(format!("`{WEIGHT_ANNOTATION}: {text}` is not an integer")))?,
        };
        let mut delete_policies = Vec::new();
        if let Some(text) = annotation(&manifest, DELETE_POLICY_ANNOTATION) {
            for policy in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                delete_policies.push(match policy {
                    "before-hook-creation" => DeletePolicy::BeforeHookCreation,
                    "hook-succeeded" => DeletePolicy::HookSucceeded,
                    "hook-failed" => DeletePolicy::HookFailed,
                    other => {
                        return Err(fail(format!(
                            "unknown `{DELETE_POLICY_ANNOTATION}` `{other}`; Helm knows before-hook-creation, hook-succeeded, hook-failed"
                        )))
                    }
                });
            }
        }
        if delete_policies.is_empty() {
            delete_policies.push(DeletePolicy::BeforeHookCreation);
        }
        let mut phases = (false, false, false);
        for event in events.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match event {
                "pre-install" => phases.0 = true,
                "post-install" => phases.1 = true,
                "test" | "test-success" => phases.2 = true,
                "pre-upgrade" | "post-upgrade" | "pre-rollback" | "post-rollback"
                | "pre-delete" | "post-delete" => {}
                other => return Err(fail(format!("unknown `{HOOK_ANNOTATION}` event `{other}`"))),
            }
        }
        let hook = Hook {
            manifest,
            weight,
            delete_policies,
        };
        match phases {
            (false, false, false) => release.not_run.push((
                format!("{}/{}", hook.manifest.kind(), hook.manifest.name()),
                events,
            )),
            (pre, post, test) => {
                if pre {
                    release.pre_install.push(hook.clone());
                }
                if post {
                    release.post_install.push(hook.clone());
                }
                if test {
                    release.tests.push(hook);
                }
            }
        }
    }
    for hooks in [
        &mut release.pre_install,
        &mut release.post_install,
        &mut release.tests,
    ] {
        hooks.sort_by(|a, b| {
            (
                a.weight,
                crate::apply::apply_rank(a.manifest.kind()),
                a.manifest.name(),
            )
                .cmp(&(
                    b.weight,
                    crate::apply::apply_rank(b.manifest.kind()),
                    b.manifest.name(),
                ))
        });
    }
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse_documents;

    fn hook(name: &str, annotations: &str) -> String {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n{annotations}\n---\n"
        )
    }

    #[test]
    fn hooks_are_sorted_by_weight_and_their_policies_read() {
        let text = [
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n---\n".to_owned(),
            hook("late", "    helm.sh/hook: pre-install\n    helm.sh/hook-weight: \"5\""),
            hook(
                "early",
                "    helm.sh/hook: pre-install,post-install\n    helm.sh/hook-weight: \"-1\"\n    helm.sh/hook-delete-policy: hook-succeeded,hook-failed",
            ),
            hook("smoke", "    helm.sh/hook: test"),
            hook("cleanup", "    helm.sh/hook: pre-delete"),
        ]
        .concat();
        let release = split(parse_documents("t.yaml".as_ref(), &text).unwrap()).unwrap();
        assert_eq!(release.objects.len(), 1);
        let names = |hooks: &[Hook]| -> Vec<String> {
            hooks.iter().map(|h| h.manifest.name().to_owned()).collect()
        };
        assert_eq!(names(&release.pre_install), ["early", "late"]);
        assert_eq!(names(&release.post_install), ["early"]);
        assert_eq!(names(&release.tests), ["smoke"]);
        assert_eq!(
            release.not_run,
            [("Job/cleanup".to_owned(), "pre-delete".to_owned())]
        );
        assert!(release.pre_install[0].deletes(DeletePolicy::HookFailed));
        assert!(!release.pre_install[0].deletes(DeletePolicy::BeforeHookCreation));
        assert_eq!(
            release.pre_install[1].delete_policies,
            [DeletePolicy::BeforeHookCreation]
        );
    }

    #[test]
    fn a_bad_weight_or_policy_names_the_template_and_object() {
        let text = hook(
            "bad",
            "    helm.sh/hook: pre-install\n    helm.sh/hook-weight: heavy",
        );
        let error = split(parse_documents("c/templates/j.yaml".as_ref(), &text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("c/templates/j.yaml") && error.contains("Job/bad"),
            "{error}"
        );
        assert!(
            error.contains("`helm.sh/hook-weight: heavy` is not an integer"),
            "{error}"
        );
        let text = hook(
            "bad",
            "    helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: sometimes",
        );
        let error = split(parse_documents("j.yaml".as_ref(), &text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown `helm.sh/hook-delete-policy` `sometimes`"),
            "{error}"
        );
    }
}
