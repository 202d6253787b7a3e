//! Running a stage's checks: all at once, except that a check waits for the checks it runs
//! `after`, and is skipped when one of them did not pass.

use std::collections::HashMap;

use futures::future::{BoxFuture, FutureExt, Shared};

use super::runner::{CheckRunner, Outcome};
use super::spec::Check;

/// Runs `checks` concurrently, honouring `after`; outcomes are in the order of `checks`.
///
/// An `after` naming a check that is not in `checks` skips the check (load-time validation
/// prevents this for check files).
pub async fn run_checks(runner: &CheckRunner, checks: &[Check]) -> Vec<Outcome> {
    let mut futures: HashMap<&str, Shared<BoxFuture<'_, Outcome>>> = HashMap::new();
    let mut remaining: Vec<&Check> = checks.iter().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        let mut index = 0;
        while index < remaining.len() {
            let check = remaining[index];
            let known = |name: &String| {
                futures.contains_key(name.as_str()) || !checks.iter().any(|c| &c.name == name)
            };
            if !check.after.iter().all(known) {
                index += 1;
                continue;
            }
            let dependencies: Vec<(String, Option<Shared<BoxFuture<'_, Outcome>>>)> = check
                .after
                .iter()
                .map(|name| (name.clone(), futures.get(name.as_str()).cloned()))
                .collect();
            let future = async move {
                for (name, dependency) in dependencies {
                    let Some(dependency) = dependency else {
                        return Outcome::skipped(format!("not run: no check `{name}`"));
                    };
                    if !dependency.await.passed() {
                        return Outcome::skipped(format!("not run: `{name}` did not pass"));
                    }
                }
                runner.run(check).await
            }
            .boxed()
            .shared();
            futures.insert(check.name.as_str(), future);
            remaining.remove(index);
        }
        if remaining.len() == before {
            // A cycle (only possible for checks built in Rust): skip what is on it.
            for check in remaining.drain(..) {
                let future = futures::future::ready(Outcome::skipped(
                    "not run: its `after` forms a cycle".to_owned(),
                ))
                .boxed()
                .shared();
                futures.insert(check.name.as_str(), future);
            }
        }
    }
    futures::future::join_all(
        checks
            .iter()
            .map(|check| futures[check.name.as_str()].clone()),
    )
    .await
}
