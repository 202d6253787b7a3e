//! Running one check: wait until its assertion holds or its timeout passes, and try again as
//! often as its `retries` allow.
//!
//! Object assertions wait on a shared watch ([`deployer::watches`]): the assertion is judged
//! against the watch's store on every event, so a wait makes no requests of its own and there
//! is one watch per (type, namespace) however many checks wait on it. RBAC and endpoint checks
//! cannot be watched; they are asked again with bounded exponential backoff (100 ms doubling
//! to 2 s, with jitter). On expiry the message names the object, what was awaited and the last
//! observation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use deployer::watches::{SharedWatch, Watches};
use kube::Client;

use super::access::probe_access;
use super::endpoint::{probe_http, probe_oidc, probe_tcp, probe_tls, Resolver};
use super::observe::{observe_object, observe_objects, Observation};
use super::spec::{Assertion, Check, ExpressionTarget};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Held on the first attempt.
    Passed,
    /// Failed every attempt.
    Failed,
    /// Held after at least one failed attempt: reported, never silently passed.
    Flaky,
    /// Not run, because a check it runs `after` did not pass.
    Skipped,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// How it ended.
    pub verdict: Verdict,
    /// What was observed; on failure, what was awaited and what was last seen.
    pub message: String,
    /// When it started.
    pub started: Instant,
    /// Wall-clock seconds it took, all attempts together.
    pub seconds: f64,
    /// Attempts made (0 when skipped).
    pub attempts: u32,
    /// The messages of the failed attempts, in order.
    pub failures: Vec<String>,
}

impl Outcome {
    /// Whether the check counts as passed (passed or flaky).
    pub fn passed(&self) -> bool {
        matches!(self.verdict, Verdict::Passed | Verdict::Flaky)
    }

    /// A skipped outcome.
    pub fn skipped(message: String) -> Outcome {
        Outcome {
            verdict: Verdict::Skipped,
            message,
            started: Instant::now(),
            seconds: 0.0,
            attempts: 0,
            failures: Vec::new(),
        }
    }
}

/// Runs checks with one shared watch hub and one resolver.
pub struct CheckRunner {
    watches: Arc<Watches>,
    resolver: Resolver,
}

/// Formats a duration for messages: `30 s`, `1.5 s`.
pub fn seconds_text(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

impl CheckRunner {
    /// A runner with its own watch hub on `client` and no resolver overrides.
    pub fn new(client: Client) -> CheckRunner {
        CheckRunner::with(Arc::new(Watches::new(client)), Resolver::new())
    }

    /// A runner sharing `watches`, resolving endpoint hosts through `resolver`.
    pub fn with(watches: Arc<Watches>, resolver: Resolver) -> CheckRunner {
        CheckRunner { watches, resolver }
    }

    /// The watch hub.
    pub fn watches(&self) -> &Arc<Watches> {
        &self.watches
    }

    /// Runs one check with its retries. Never fails: errors become a failed [`Outcome`].
    pub async fn run(&self, check: &Check) -> Outcome {
        let started = Instant::now();
        let attempts = check.retries + 1;
        let mut failures = Vec::new();
        for attempt in 1..=attempts {
            match self.attempt(&check.assertion, check.timeout).await {
                Ok(observed) => {
                    let (verdict, message) = if failures.is_empty() {
                        (Verdict::Passed, observed)
                    } else {
                        (
                            Verdict::Flaky,
                            format!(
                                "{observed} (flaky: passed on attempt {attempt} of {attempts}; attempt 1 failed: {})",
                                failures[0]
                            ),
                        )
                    };
                    return Outcome {
                        verdict,
                        message,
                        started,
                        seconds: started.elapsed().as_secs_f64(),
                        attempts: attempt,
                        failures,
                    };
                }
                Err(message) => failures.push(message),
            }
        }
        let last = failures.last().cloned().unwrap_or_default();
        Outcome {
            verdict: Verdict::Failed,
            message: if attempts > 1 {
                format!("failed {attempts} attempts; the last: {last}")
            } else {
                last
            },
            started,
            seconds: started.elapsed().as_secs_f64(),
            attempts,
            failures,
        }
    }

    /// One attempt: waits until `assertion` holds (`Ok` with what was observed) or `timeout`
    /// passes (`Err` naming what was awaited and the last observation).
    pub async fn attempt(
        &self,
        assertion: &Assertion,
        timeout: Duration,
    ) -> Result<String, String> {
        let last = Mutex::new("nothing observed yet".to_owned());
        match tokio::time::timeout(timeout, self.until_holds(assertion, &last)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "timed out after {} waiting for {}; last observed: {}",
                seconds_text(timeout),
                assertion.awaited(),
                last.lock().expect("not poisoned")
            )),
        }
    }

    async fn until_holds(
        &self,
        assertion: &Assertion,
        last: &Mutex<String>,
    ) -> Result<String, String> {
        let client = self.watches.client();
        match assertion {
            Assertion::Count {
                resource, selector, ..
            }
            | Assertion::Cel {
                target: ExpressionTarget::Objects { resource, selector },
                ..
            } => {
                let watch = self
                    .watches
                    .watch(
                        &resource.api_version,
                        &resource.kind,
                        resource.namespace.as_deref(),
                    )
                    .await?;
                follow(&watch, last, |watch| {
                    let objects: Vec<_> = watch
                        .store()
                        .state()
                        .into_iter()
                        .filter(|object| {
                            selector.as_ref().is_none_or(|selector| {
                                selector.matches(
                                    object
                                        .metadata
                                        .labels
                                        .as_ref()
                                        .unwrap_or(&Default::default()),
                                )
                            })
                        })
                        .collect();
                    observe_objects(assertion, &objects)
                })
                .await
            }
            Assertion::Access(spec) => repeat(last, || probe_access(client, spec)).await,
            Assertion::Http(spec) => repeat(last, || probe_http(&self.resolver, spec)).await,
            Assertion::Tls(spec) => repeat(last, || probe_tls(&self.resolver, spec)).await,
            Assertion::Tcp(spec) => repeat(last, || probe_tcp(&self.resolver, spec)).await,
            Assertion::Oidc(spec) => repeat(last, || probe_oidc(&self.resolver, spec)).await,
            Assertion::HelmTest(spec) => super::helm_test::run_helm_test(client, spec, last).await,
            other => {
                let object = other
                    .object()
                    .expect("the remaining assertions name one object");
                let (_, namespace) = self
                    .watches
                    .locate(
                        &object.api_version,
                        &object.kind,
                        object.namespace.as_deref(),
                    )
                    .await?;
                let watch = self
                    .watches
                    .watch(&object.api_version, &object.kind, namespace.as_deref())
                    .await?;
                let namespace = namespace.as_deref();
                follow(&watch, last, |watch| {
                    observe_object(other, watch.get(&object.name, namespace).as_deref())
                })
                .await
            }
        }
    }
}

/// Judges on every event of `watch` until `judge` says the assertion holds.
async fn follow(
    watch: &SharedWatch,
    last: &Mutex<String>,
    judge: impl Fn(&SharedWatch) -> Observation,
) -> Result<String, String> {
    let mut changes = watch.subscribe();
    loop {
        changes.borrow_and_update();
        let mut observation = if watch.is_synced() {
            judge(watch)
        } else {
            Observation::pending(format!("the watch of {} has not listed yet", watch.key()))
        };
        if observation.holds {
            return Ok(observation.observed);
        }
        if let Some(error) = watch.last_error() {
            observation
                .observed
                .push_str(&format!(" (watch error: {error})"));
        }
        *last.lock().expect("not poisoned") = observation.observed;
        if changes.changed().await.is_err() {
            return Err(format!("the watch of {} ended", watch.key()));
        }
    }
}

/// Probes until the observation holds, sleeping 100 ms doubling to 2 s (jittered) in between.
async fn repeat<F, Fut>(last: &Mutex<String>, probe: F) -> Result<String, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Observation>,
{
    let mut delays = backon::ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    loop {
        let observation = probe().await;
        if observation.holds {
            return Ok(observation.observed);
        }
        *last.lock().expect("not poisoned") = observation.observed;
        tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(2))).await;
    }
}
