//! Renders a run's [`Event`]s: [`Terminal`] draws spinners and lines on stderr for people,
//! [`JsonLines`] writes one JSON object per event to stdout for programs (`--json`).

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use harness::events::{Event, Reporter};
use harness::report::CheckResult;
use indicatif::{ProgressBar, ProgressStyle};

/// Spinners while a step runs (a build, the provider, a stage's apply and wait, its checks,
/// the teardown, the sweep) and one line per finished step, on stderr; failures in red and
/// warnings in yellow when stderr is a terminal and `NO_COLOR` is unset
/// (<https://no-color.org>).
#[derive(Default)]
pub struct Terminal {
    spinner: Mutex<Option<ProgressBar>>,
    colour: bool,
}

impl Terminal {
    /// A terminal reporter with no step open.
    pub fn new() -> Terminal {
        use std::io::IsTerminal;
        Terminal {
            spinner: Mutex::default(),
            colour: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn open(&self, message: String) {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Some(previous) = self.lock().replace(bar) {
            previous.finish_and_clear();
        }
    }

    fn close(&self) {
        if let Some(bar) = self.lock().take() {
            bar.finish_and_clear();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.spinner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.close();
    }
}

impl Reporter for Terminal {
    fn report(&self, event: Event) {
        match step_message(&event) {
            Some(message) => self.open(message),
            None => {
                self.close();
                if let Some(text) = line(&event) {
                    eprintln!("{}", paint(&text, self.colour));
                }
            }
        }
    }
}

/// The spinner message of an event that opens a step; `None` for every other event.
fn step_message(event: &Event) -> Option<String> {
    Some(match event {
        Event::BuildStarted { what, log } => format!("{what} (log: {})", log.display()),
        Event::ProviderStarting { provider } => {
            format!("provider {provider}: starting or reusing the cluster")
        }
        Event::StageApplying { stage, objects } => {
            format!("{stage}: applying {objects} objects and waiting for readiness")
        }
        Event::ChecksStarted { stage, checks } => format!("{stage}: running {checks} checks"),
        Event::TeardownStarted => "teardown: deleting stages in reverse order".to_owned(),
        Event::SweepStarted { selector } => {
            format!("sweep: looking for anything labelled {selector}")
        }
        _ => return None,
    })
}

/// The line a finished step or a notice prints; `None` when it prints nothing (a cached
/// build, a check that passed).
pub fn line(event: &Event) -> Option<String> {
    Some(match event {
        Event::BuildFinished {
            what,
            built: true,
            seconds,
        } => format!("built {what} in {seconds:.0} s"),
        Event::ProviderReady {
            provider,
            server_url,
            seconds,
        } => format!("provider {provider}: {server_url} ({seconds:.1} s)"),
        Event::ProviderProblem { problem } => format!("error: {problem}"),
        Event::HelmCompared { comparisons } => harness::chart_stages::comparison_text(comparisons)
            .trim_end()
            .to_owned(),
        Event::HookNotRun {
            stage,
            object,
            events,
        } => format!("{stage}: hook {object} ({events}) does not run on an install; not applied"),
        Event::StageSkipped { stage, reason } => format!("{stage}: skipped: {reason}"),
        Event::StageDeployFailed { stage, error } => format!("{stage}: deploy FAILED: {error}"),
        Event::CheckFinished {
            trial,
            result: result @ (CheckResult::Failed | CheckResult::Flaky),
            message,
        } => format!("{trial}: {}: {message}", result.word()),
        Event::StageFinished {
            stage,
            objects,
            ready_seconds,
            checks,
            ..
        } => format!("{stage}: {objects} objects ready in {ready_seconds:.1} s; checks: {checks}"),
        Event::ScenarioFinished { record } => scenario_line(record),
        Event::ScenarioDiagnostics {
            dir,
            pods,
            warnings,
        } => scenario_diagnostics_text(dir, pods, warnings),
        Event::Interrupted { during, signal } => {
            let what = match during.as_str() {
                "scenarios" => "interrupted during the browser scenarios: tearing down",
                _ => "interrupted: tearing down what was applied",
            };
            format!(
                "{what} ({}; another signal stops waiting for the teardown)",
                signal.describe()
            )
        }
        Event::SignalDuringTeardown { signal } => format!(
            "{} during the teardown: it goes on; another signal stops waiting for it",
            signal.describe()
        ),
        Event::TeardownAbandoned {
            signal,
            run_id,
            target,
        } => format!(
            "error: {}: stopped waiting for the teardown of run {run_id}; objects may remain\n  finish it with: cargo xtask teardown --target {}",
            signal.describe(),
            target.display()
        ),
        Event::ApiServerLost {
            during,
            reason,
            after_seconds,
            waiting_seconds,
        } => format!(
            "error: the API server stopped answering during the {during} (noticed after {after_seconds:.1} s: {reason}); waiting up to {waiting_seconds} s for it to return"
        ),
        Event::ApiServerReturned { gone_seconds } => format!(
            "the API server answers again after {gone_seconds:.1} s: tearing down"
        ),
        Event::TeardownNotPossible {
            run_id,
            target,
            reason,
        } => format!(
            "error: no teardown of run {run_id}: {reason}; objects remain\n  finish it once the API server is back: cargo xtask teardown --run {run_id}  (or --target {})",
            target.display()
        ),
        Event::DeploymentKept {
            deployment,
            run_id,
            target,
            because_failed,
            stages,
        } => kept_text(deployment, run_id, target, *because_failed, stages),
        Event::KindClusterKept { name, kubeconfig } => format!(
            "kept: kind cluster `{name}` (kubeconfig {}); remove it with: cargo xtask kind down --name {name}",
            kubeconfig.display()
        ),
        Event::KeptOnPurpose { object } => kept_on_purpose(object),
        Event::SweepFailed { error } => format!("error: the sweep failed: {error}"),
        Event::Leftover { what } => format!("leftover: {what}"),
        Event::Warning { message } => format!("warning: {message}"),
        Event::Pruned { stage, object } => format!(
            "pruned: {object} (stage {stage}: the upgraded platform no longer has it)"
        ),
        Event::EarlierRunRemoved {
            run_id,
            started_at,
            deleted,
            leftovers,
        } => earlier_run_text(run_id, started_at, deleted, leftovers),
        Event::LedgerKept { path, reason } => format!(
            "warning: {reason}: the run's ledger entry stays in {}; `cargo xtask teardown --stale` finishes the work",
            path.display()
        ),
        _ => return None,
    })
}

/// `text` in red when it reports a failure (`error:`, `FAILED`), yellow for a warning, kept or
/// left-over object; unchanged without `colour`. Only the first line is coloured, so that a
/// multi-line message keeps its indentation readable.
fn paint(text: &str, colour: bool) -> String {
    const RED: &str = "\x1b[31m";
    const YELLOW: &str = "\x1b[33m";
    const RESET: &str = "\x1b[0m";
    let (first, rest) = text
        .split_once('\n')
        .map_or((text, None), |(a, b)| (a, Some(b)));
    let tint = if first.starts_with("error:") || first.contains("FAILED") {
        RED
    } else if ["warning:", "leftover:", "kept"]
        .iter()
        .any(|prefix| first.starts_with(prefix))
    {
        YELLOW
    } else {
        return text.to_owned();
    };
    if !colour {
        return text.to_owned();
    }
    match rest {
        Some(rest) => format!("{tint}{first}{RESET}\n{rest}"),
        None => format!("{tint}{first}{RESET}"),
    }
}

/// What the sweep of a killed earlier run of the deployment did, every deleted object named.
fn earlier_run_text(
    run_id: &str,
    started_at: &str,
    deleted: &[String],
    leftovers: &[String],
) -> String {
    let mut text = format!(
        "run {run_id} (started {started_at}) ended without a teardown; its sweep deleted {} objects",
        deleted.len()
    );
    for object in deleted {
        text.push_str(&format!("\n  deleted: {object}"));
    }
    for leftover in leftovers {
        text.push_str(&format!("\n  leftover: {leftover}"));
    }
    text
}

/// The line for an object left on purpose (`helm.sh/resource-policy: keep`).
pub fn kept_on_purpose(object: &impl std::fmt::Display) -> String {
    format!("kept on purpose (helm.sh/resource-policy: keep): {object}")
}

/// One line per scenario: `scenario::login: passed (4.1 s)`.
fn scenario_line(record: &scenarios::ScenarioRecord) -> String {
    let outcome = match record.outcome {
        scenarios::ScenarioOutcome::Passed => "passed",
        scenarios::ScenarioOutcome::Failed => "FAILED",
        scenarios::ScenarioOutcome::Skipped => "skipped",
    };
    let mut line = format!(
        "{}: {outcome} ({:.1} s)",
        record.trial_name(),
        record.seconds
    );
    if let Some(message) = &record.message {
        line.push_str(&format!(": {message}"));
    }
    line
}

/// Where the failed scenarios' cluster diagnostics are, each pod's state and the newest
/// warning events: what a maintainer reads first when a browser step timed out.
fn scenario_diagnostics_text(
    dir: &std::path::Path,
    pods: &[String],
    warnings: &[String],
) -> String {
    let mut text = format!("diagnostics of the failed scenarios: {}", dir.display());
    for pod in pods {
        text.push_str(&format!("\n  pod {pod}"));
    }
    if warnings.is_empty() {
        text.push_str("\n  no warning events");
    }
    for warning in warnings {
        text.push_str(&format!("\n  warning event: {warning}"));
    }
    text
}

/// What was kept and how to check and remove it.
fn kept_text(
    deployment: &str,
    run_id: &str,
    target: &std::path::Path,
    because_failed: bool,
    stages: &[(String, Vec<String>)],
) -> String {
    let target = target.display();
    let mut text = format!(
        "kept deployment `{deployment}` (run {run_id}).\n  re-run its checks: SEATRIAL_TARGET={target} cargo nextest run -p harness --test stage_checks --run-ignored all\n  remove it:         cargo xtask teardown --target {target}"
    );
    if because_failed {
        text.push_str(&format!(
            "\n--keep-on-failure: the run failed, so nothing was torn down. Kept (run {run_id}):"
        ));
        for (stage, objects) in stages {
            text.push_str(&format!("\n  stage {stage} ({} objects):", objects.len()));
            for object in objects {
                text.push_str(&format!("\n    {object}"));
            }
        }
        text.push_str(&format!(
            "\nremove it later with: cargo xtask teardown --run {run_id}"
        ));
    }
    text
}

/// One JSON object per event on stdout (`{"event":"stage_finished",…}`), flushed at once so
/// that a reader sees each step as it ends.
#[derive(Debug, Default)]
pub struct JsonLines;

impl Reporter for JsonLines {
    fn report(&self, event: Event) {
        let line = serde_json::to_string(&event).expect("an event serializes");
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use host::signals::StopSignal;

    #[test]
    fn outage_lines_say_what_stopped_how_long_the_run_waits_and_what_finishes_it() {
        let lost = line(&Event::ApiServerLost {
            during: "deploy".into(),
            reason: "connection refused".into(),
            after_seconds: 3.04,
            waiting_seconds: 60,
        })
        .unwrap();
        assert_eq!(
            lost,
            "error: the API server stopped answering during the deploy (noticed after 3.0 s: connection refused); waiting up to 60 s for it to return"
        );
        let not_possible = line(&Event::TeardownNotPossible {
            run_id: "r1".into(),
            target: "/tmp/r1/target.json".into(),
            reason: "the API server stopped answering (connection refused) and did not answer again within 60 s".into(),
        })
        .unwrap();
        assert!(
            not_possible.ends_with("finish it once the API server is back: cargo xtask teardown --run r1  (or --target /tmp/r1/target.json)"),
            "{not_possible}"
        );
    }

    #[test]
    fn signal_lines_name_the_signal_and_the_command_that_finishes_the_teardown() {
        let interrupted = line(&Event::Interrupted {
            during: "deploy".into(),
            signal: StopSignal::Terminate,
        })
        .unwrap();
        assert_eq!(
            interrupted,
            "interrupted: tearing down what was applied (SIGTERM; another signal stops waiting for the teardown)"
        );
        let abandoned = line(&Event::TeardownAbandoned {
            signal: StopSignal::Interrupt,
            run_id: "r1".into(),
            target: "/tmp/r1/target.json".into(),
        })
        .unwrap();
        assert!(
            abandoned.starts_with("error: Ctrl-C: stopped waiting for the teardown of run r1"),
            "{abandoned}"
        );
        assert!(
            abandoned
                .ends_with("finish it with: cargo xtask teardown --target /tmp/r1/target.json"),
            "{abandoned}"
        );
    }

    #[test]
    fn failed_checks_print_and_passed_ones_do_not() {
        let failed = Event::CheckFinished {
            trial: "hub::login".into(),
            result: CheckResult::Failed,
            message: "status 503".into(),
        };
        assert_eq!(line(&failed).unwrap(), "hub::login: FAILED: status 503");
        let passed = Event::CheckFinished {
            trial: "hub::login".into(),
            result: CheckResult::Passed,
            message: "status 200".into(),
        };
        assert_eq!(line(&passed), None);
    }

    #[test]
    fn failures_are_red_warnings_yellow_and_nothing_is_painted_without_colour() {
        assert_eq!(
            paint("hub: deploy FAILED: x\n  detail", true),
            "\x1b[31mhub: deploy FAILED: x\x1b[0m\n  detail"
        );
        assert_eq!(paint("warning: y", true), "\x1b[33mwarning: y\x1b[0m");
        assert_eq!(paint("hub: 3 objects ready", true), "hub: 3 objects ready");
        assert_eq!(paint("error: z", false), "error: z");
    }

    #[test]
    fn steps_open_spinners_and_json_lines_carry_the_event_tag() {
        assert!(step_message(&Event::TeardownStarted).is_some());
        assert!(step_message(&Event::Warning {
            message: "x".into()
        })
        .is_none());
        let json = serde_json::to_value(Event::StageSkipped {
            stage: "hub".into(),
            reason: "no images".into(),
        })
        .unwrap();
        assert_eq!(json["event"], "stage_skipped");
        assert_eq!(json["stage"], "hub");
    }
}
