//! `cargo xtask scenarios`: bad input, a missing browser, an unreachable hub, and real runs
//! against the local JupyterHub (installed by `cargo xtask test`).

use std::path::Path;

use scenarios::local_hub::{default_install_dir, LocalHub, LocalHubInstall};

use crate::support::{xtask_with, Run};

const PASSWORD_ENV: &str = "SEATRIAL_TEST_HUB_PASSWORD";
const PASSWORD: &str = "a real password 123";

fn scenarios(base_url: &str, extra: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut args = vec![
        "scenarios",
        "--base-url",
        base_url,
        "--user",
        "trial-user",
        "--password-env",
        PASSWORD_ENV,
    ];
    args.extend_from_slice(extra);
    xtask_with(&args, env)
}

#[test]
fn an_unknown_scenario_lists_the_valid_ones() {
    let run = scenarios(
        "http://127.0.0.1:1/",
        &["--only", "logn"],
        &[(PASSWORD_ENV, Path::new("x"))],
    );
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr.contains("unknown scenario `logn`; the scenarios are: login, spawn_and_run_notebook, logout, hub_api_token"),
        "{}",
        run.output()
    );
}

#[test]
fn an_unset_password_variable_is_named() {
    // The helper names PASSWORD_ENV, which nothing sets here.
    let run = scenarios("http://127.0.0.1:1/", &[], &[]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr.contains(&format!(
            "the environment variable {PASSWORD_ENV} is not set"
        )),
        "{}",
        run.output()
    );
}

#[test]
fn a_missing_chromium_says_which_package_to_install() {
    let run = scenarios(
        "http://127.0.0.1:1/",
        &[],
        &[
            (PASSWORD_ENV, Path::new("x")),
            ("SEATRIAL_CHROMIUM", Path::new("/nonexistent/chromium")),
        ],
    );
    assert_eq!(run.code, 4, "{}", run.output());
    assert!(
        run.stderr
            .contains("chromium is not installed (looked for /nonexistent/chromium)"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("hint: apt-get install -y chromium"),
        "{}",
        run.output()
    );
    let run = scenarios(
        "http://127.0.0.1:1/",
        &[],
        &[
            (PASSWORD_ENV, Path::new("x")),
            (
                "SEATRIAL_CHROMEDRIVER",
                Path::new("/nonexistent/chromedriver"),
            ),
            ("SEATRIAL_CHROMIUM", Path::new("/bin/true")),
        ],
    );
    assert_eq!(run.code, 4, "{}", run.output());
    assert!(
        run.stderr
            .contains("hint: apt-get install -y chromium-driver"),
        "{}",
        run.output()
    );
}

#[test]
#[ignore = "needs Chromium and ChromeDriver: run by `cargo xtask test`"]
fn an_unreachable_hub_is_named_with_the_connection_error() {
    let run = scenarios(
        "http://127.0.0.1:9/",
        &[],
        &[(PASSWORD_ENV, Path::new("x"))],
    );
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr
            .contains("the hub at http://127.0.0.1:9/ is not reachable: "),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("Connection refused"),
        "{}",
        run.output()
    );
}

#[test]
#[ignore = "needs Chromium, ChromeDriver and the local JupyterHub: run by `cargo xtask test`"]
fn scenarios_pass_and_fail_against_a_real_hub_with_reports() {
    let install = LocalHubInstall::ensure(&default_install_dir()).expect("the local hub installs");
    let hub = LocalHub::start(&install, PASSWORD).expect("the local hub starts");
    let dir = tempfile::tempdir().unwrap();
    let passing = dir.path().join("passing");
    let run = scenarios(
        &hub.base_url,
        &[
            "--only",
            "hub_api_token",
            "--only",
            "login",
            "--report-dir",
            passing.to_str().unwrap(),
        ],
        &[(PASSWORD_ENV, Path::new(PASSWORD))],
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stdout.contains("scenarios::login ... ok"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("scenarios::hub_api_token ... ok"),
        "{}",
        run.output()
    );
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "the password never prints"
    );
    let junit = std::fs::read_to_string(passing.join("junit.xml")).unwrap();
    assert!(
        junit.contains("tests=\"2\"") && junit.contains("failures=\"0\""),
        "{junit}"
    );
    let records: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(passing.join("scenarios.json")).unwrap())
            .unwrap();
    assert_eq!(records[0]["name"], "login");
    assert_eq!(records[1]["name"], "hub_api_token");
    assert_eq!(records[1]["outcome"], "passed");

    let failing = dir.path().join("failing");
    let run = scenarios(
        &hub.base_url,
        &[
            "--only",
            "logout",
            "--report-dir",
            failing.to_str().unwrap(),
        ],
        &[(PASSWORD_ENV, Path::new("the wrong one"))],
    );
    assert_eq!(run.code, 1, "{}", run.output());
    assert!(
        run.stdout.contains("scenarios::logout ... FAILED"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout
            .contains("login refused: Invalid username or password"),
        "{}",
        run.output()
    );
    let screenshot = failing.join("scenarios/logout/screenshot.png");
    assert!(
        run.stdout
            .contains(&format!("artifact: {}", screenshot.display())),
        "{}",
        run.output()
    );
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 1000);
    let junit = std::fs::read_to_string(failing.join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("[[ATTACHMENT|{}]]", screenshot.display())),
        "{junit}"
    );
}
