//! The scenarios against a real JupyterHub (from PyPI, with configurable-http-proxy from npm)
//! in real headless Chromium: each passes, and each fails when it should, leaving its
//! artifacts. `cargo xtask test` installs Chromium, ChromeDriver and the hub first.

use std::path::Path;
use std::sync::{Arc, Mutex};

use scenarios::local_hub::{default_install_dir, LocalHub, LocalHubInstall};
use scenarios::run::{run_scenario, run_scenarios};
use scenarios::trials::{scenario_trials, TrialPlan};
use scenarios::{
    Cell, Credentials, Network, Password, RoleUsers, Scenario, ScenarioOptions, ScenarioOutcome,
    ScenarioRecord, Timeouts,
};

const USER: &str = "trial-user";
const PASSWORD: &str = "correct horse battery staple";

fn hub() -> LocalHub {
    let install = LocalHubInstall::ensure(&default_install_dir()).expect("the local hub installs");
    LocalHub::start(&install, PASSWORD).expect("the local hub starts")
}

fn options(base_url: &str, artifacts: &Path) -> ScenarioOptions {
    ScenarioOptions {
        base_url: base_url.to_owned(),
        user: USER.to_owned(),
        password: Password::new(PASSWORD),
        profile: Some("large".into()),
        cell: Cell::default(),
        timeouts: Timeouts::default(),
        network: Network::default(),
        http: scenarios::http::plain_client().expect("an HTTP client"),
        artifacts_dir: artifacts.to_owned(),
        roles: Some(RoleUsers {
            admin: Credentials {
                user: scenarios::local_hub::LOCAL_ADMIN.to_owned(),
                password: Password::new(PASSWORD),
            },
            analyst: Credentials {
                user: "trial-analyst".to_owned(),
                password: Password::new(PASSWORD),
            },
        }),
    }
}

fn binaries() -> scenarios::driver::BrowserBinaries {
    scenarios::driver::BrowserBinaries::locate().expect("chromium and chromedriver are installed")
}

fn timings(record: &ScenarioRecord) -> String {
    let mut text = format!(
        "{} {:?} in {:.1} s\n",
        record.name, record.outcome, record.seconds
    );
    for step in &record.steps {
        text.push_str(&format!(
            "  {:>6.2} s  {}{}\n",
            step.seconds,
            step.name,
            step.message
                .as_deref()
                .map(|message| format!(" -- {message}"))
                .unwrap_or_default()
        ));
    }
    text
}

/// Asserts the failure artifacts exist and are not empty, and look like what they claim.
fn assert_artifacts(record: &ScenarioRecord) {
    let artifacts = record
        .artifacts
        .as_ref()
        .expect("a failed scenario has artifacts");
    assert!(
        artifacts.missing.is_empty(),
        "all artifacts captured: {:?}",
        artifacts.missing
    );
    let screenshot = std::fs::read(artifacts.screenshot.as_ref().expect("a screenshot")).unwrap();
    assert!(
        screenshot.starts_with(b"\x89PNG\r\n\x1a\n") && screenshot.len() > 1000,
        "a PNG screenshot"
    );
    let html = std::fs::read_to_string(artifacts.html.as_ref().expect("the page's HTML")).unwrap();
    assert!(
        html.contains("<html"),
        "HTML: {}",
        &html[..html.len().min(200)]
    );
    let console =
        std::fs::read_to_string(artifacts.console.as_ref().expect("the console log")).unwrap();
    assert!(!console.trim().is_empty(), "a console log");
    assert!(
        artifacts
            .url
            .as_deref()
            .is_some_and(|url| url.starts_with("http")),
        "the URL: {:?}",
        artifacts.url
    );
    for text in [&html, &console] {
        assert!(
            !text.contains(PASSWORD),
            "the password is not in the artifacts"
        );
        assert!(!text.contains("_xsrf=Mnw"), "XSRF tokens are redacted");
    }
}

#[tokio::test]
#[ignore = "needs Chromium, ChromeDriver and the local JupyterHub: run by `cargo xtask test`"]
async fn every_scenario_passes_against_a_real_hub() {
    let hub = hub();
    let artifacts = tempfile::tempdir().unwrap();
    let options = options(&hub.base_url, artifacts.path());
    let records = run_scenarios(&Scenario::ALL, &options)
        .await
        .expect("the hub is reachable");
    let report: String = records.iter().map(timings).collect();
    eprintln!("{report}");
    for record in &records {
        assert_eq!(
            record.outcome,
            ScenarioOutcome::Passed,
            "{}\nhub log: {}",
            report,
            hub.log_path().display()
        );
        assert!(
            record.artifacts.is_none(),
            "a passing scenario writes no artifacts"
        );
    }
    let names: Vec<&str> = records.iter().map(|record| record.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "login",
            "spawn_and_run_notebook",
            "logout",
            "hub_api_token",
            "roles"
        ]
    );
    assert_eq!(
        hub.profiles_log(),
        format!("{USER} large\n"),
        "the chosen profile reached the spawner"
    );
}

#[tokio::test]
#[ignore = "needs Chromium, ChromeDriver and the local JupyterHub: run by `cargo xtask test`"]
async fn a_wrong_password_fails_login_and_leaves_artifacts() {
    let hub = hub();
    let artifacts = tempfile::tempdir().unwrap();
    let mut options = options(&hub.base_url, artifacts.path());
    options.password = Password::new("not the password");
    let record = run_scenario(Scenario::Login, &options, &binaries()).await;
    eprintln!("{}", timings(&record));
    assert_eq!(record.outcome, ScenarioOutcome::Failed);
    let message = record.message.as_deref().unwrap();
    assert!(
        message.contains(
            "step `log in and land on /hub/home`: login refused: Invalid username or password"
        ),
        "{message}"
    );
    assert!(
        !message.contains("not the password"),
        "the password never appears: {message}"
    );
    assert_artifacts(&record);
    let html =
        std::fs::read_to_string(record.artifacts.as_ref().unwrap().html.as_ref().unwrap()).unwrap();
    assert!(
        html.contains("Invalid username or password"),
        "the page shows the refusal"
    );
    assert!(record
        .artifacts
        .as_ref()
        .unwrap()
        .screenshot
        .as_ref()
        .unwrap()
        .starts_with(artifacts.path().join("login")));
}

#[tokio::test]
#[ignore = "needs Chromium, ChromeDriver and the local JupyterHub: run by `cargo xtask test`"]
async fn a_cell_whose_output_is_not_6_fails_the_notebook_scenario() {
    let hub = hub();
    let artifacts = tempfile::tempdir().unwrap();
    let mut options = options(&hub.base_url, artifacts.path());
    options.cell = Cell {
        source: "1 + 4".into(),
        expected: "6".into(),
    };
    let record = run_scenario(Scenario::SpawnAndRunNotebook, &options, &binaries()).await;
    eprintln!("{}", timings(&record));
    assert_eq!(record.outcome, ScenarioOutcome::Failed);
    assert_eq!(
        record.message.as_deref(),
        Some("step `read `6` from the output`: the output of `1 + 4` reads `5`, expected `6`")
    );
    assert_artifacts(&record);
    let html =
        std::fs::read_to_string(record.artifacts.as_ref().unwrap().html.as_ref().unwrap()).unwrap();
    assert!(
        html.contains("jp-OutputArea-output"),
        "the HTML is JupyterLab's, with the output area"
    );
}

#[tokio::test]
#[ignore = "needs Chromium, ChromeDriver and the local JupyterHub: run by `cargo xtask test`"]
async fn an_analyst_made_an_admin_by_a_broken_mapping_fails_roles_with_its_artifacts() {
    let install = LocalHubInstall::ensure(&default_install_dir()).expect("the local hub installs");
    // The role mapping broken on purpose: the analyst is an admin too.
    let hub = LocalHub::start_with_admins(
        &install,
        PASSWORD,
        &[scenarios::local_hub::LOCAL_ADMIN, "trial-analyst"],
    )
    .expect("the local hub starts");
    let artifacts = tempfile::tempdir().unwrap();
    let options = options(&hub.base_url, artifacts.path());
    let record = run_scenario(Scenario::Roles, &options, &binaries()).await;
    eprintln!("{}", timings(&record));
    assert_eq!(record.outcome, ScenarioOutcome::Failed);
    assert_eq!(
        record.message.as_deref(),
        Some("step `the analyst is refused /hub/admin (403)`: `trial-analyst` was shown the admin page and the user list: a user outside the admin group has admin rights")
    );
    assert_artifacts(&record);
    let screenshot = record
        .artifacts
        .as_ref()
        .unwrap()
        .screenshot
        .clone()
        .unwrap();
    eprintln!(
        "screenshot of the broken role mapping: {}",
        screenshot.display()
    );
    if let Ok(keep) = std::env::var("SEATRIAL_KEEP_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }

    // And without the options, the scenario says what it lacks.
    let mut bare = options.clone();
    bare.roles = None;
    let record = run_scenario(Scenario::Roles, &bare, &binaries()).await;
    assert_eq!(record.outcome, ScenarioOutcome::Failed);
    assert!(
        record
            .message
            .as_deref()
            .unwrap()
            .contains("no admin and analyst users were given"),
        "{:?}",
        record.message
    );
}

#[tokio::test]
#[ignore = "needs Chromium, ChromeDriver and the local JupyterHub: run by `cargo xtask test`"]
async fn a_stopped_hub_fails_and_is_reported_unreachable() {
    let mut hub = hub();
    let base_url = hub.base_url.clone();
    hub.stop();
    let artifacts = tempfile::tempdir().unwrap();
    let mut options = options(&base_url, artifacts.path());
    options.timeouts.page_seconds = 3;
    let error = run_scenarios(&[Scenario::Login], &options)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("the hub at {base_url} is not reachable: ")),
        "{text}"
    );
    assert!(text.contains("Connection refused"), "{text}");
    let record = run_scenario(Scenario::Logout, &options, &binaries()).await;
    eprintln!("{}", timings(&record));
    assert_eq!(record.outcome, ScenarioOutcome::Failed);
    assert!(
        record
            .message
            .as_deref()
            .unwrap()
            .starts_with("step `log in`: "),
        "{:?}",
        record.message
    );
    assert_artifacts(&record);
}

#[test]
#[ignore = "needs Chromium, ChromeDriver and the local JupyterHub: run by `cargo xtask test`"]
fn scenarios_run_as_libtest_mimic_trials() {
    let hub = hub();
    let artifacts = tempfile::tempdir().unwrap();
    let sink = Arc::new(Mutex::new(Vec::new()));
    let plan = TrialPlan::Run(Box::new(options(&hub.base_url, artifacts.path())));
    let mut trials = scenario_trials(&plan, &[Scenario::Login], &sink);
    trials.extend(scenario_trials(
        &TrialPlan::Skip("the hollow provider runs no workloads".into()),
        &[Scenario::Logout],
        &sink,
    ));
    let arguments = libtest_mimic::Arguments {
        test_threads: Some(1),
        include_ignored: true,
        ..libtest_mimic::Arguments::default()
    };
    let conclusion = libtest_mimic::run(&arguments, trials);
    assert_eq!(
        (
            conclusion.num_passed,
            conclusion.num_failed,
            conclusion.num_ignored
        ),
        (1, 0, 1)
    );
    let records = sink.lock().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].trial_name(), "scenarios::login");
    assert_eq!(records[0].outcome, ScenarioOutcome::Passed);
    assert_eq!(records[1].outcome, ScenarioOutcome::Skipped);
    assert_eq!(
        records[1].message.as_deref(),
        Some("the hollow provider runs no workloads")
    );
}
