//! `--provider kind` and `--provider k3s` where Docker is absent (as on the machines this
//! suite runs on): exit 4 with a line saying what to install, before anything is created.
//! The runs against a real Docker engine are in tests/docker.rs (`#[ignore = "needs docker"]`,
//! run by .github/workflows/nightly.yml).

use crate::support::{xtask_env, Run};

fn integration(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().display().to_string();
    let mut all = vec!["integration"];
    all.extend(args);
    all.extend(["--report-dir", report.as_str()]);
    xtask_env(&all, env, &["DOCKER_HOST"])
}

#[track_caller]
fn environment_missing(run: &Run, line: &str) {
    assert_eq!(run.code, 4, "{}", run.output());
    assert!(
        run.stderr.contains(line),
        "stderr lacks `{line}`\n{}",
        run.output()
    );
    assert!(run.stderr.contains("hint: "), "{}", run.output());
    assert!(!run.stderr.contains("panicked"), "{}", run.output());
}

/// A PATH holding only this machine's `docker` command (when it has one), so `kind` is absent.
fn path_without_kind(dir: &std::path::Path) -> bool {
    match host::path::on_path("docker") {
        Some(docker) => {
            std::os::unix::fs::symlink(docker, dir.join("docker")).unwrap();
            true
        }
        None => false,
    }
}

#[test]
fn kind_without_the_kind_command_says_which_release_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let has_docker = path_without_kind(dir.path());
    let run = integration(
        &["--provider", "kind"],
        &[("PATH", &dir.path().display().to_string())],
    );
    if has_docker {
        let pinned = deployer::pins::load_tool_tag(
            &crate::support::repo_root().join("pins/pins.toml"),
            "kind",
        )
        .unwrap();
        environment_missing(
            &run,
            "error: the kind provider needs the `kind` command: it is not on PATH",
        );
        assert!(
            run.stderr
                .contains(&format!("install kind {pinned} (the pinned release")),
            "{}",
            run.output()
        );
    } else {
        environment_missing(
            &run,
            "error: the kind provider needs Docker: the `docker` command is not on PATH",
        );
    }
}

#[test]
fn kind_without_docker_on_path_says_to_install_docker() {
    let empty = tempfile::tempdir().unwrap();
    let run = integration(
        &["--provider", "kind"],
        &[("PATH", &empty.path().display().to_string())],
    );
    environment_missing(
        &run,
        "error: the kind provider needs Docker: the `docker` command is not on PATH",
    );
    assert!(
        run.stderr.contains("hint: install Docker Engine"),
        "{}",
        run.output()
    );
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.output());
}

/// `kind down` checks the same environment before it deletes anything.
#[test]
fn kind_down_without_docker_on_path_says_to_install_docker() {
    let empty = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let run = xtask_env(
        &[
            "kind",
            "down",
            "--name",
            "nosuchcluster",
            "--kind-engine",
            "docker",
        ],
        &[
            ("PATH", &empty.path().display().to_string()),
            ("XDG_STATE_HOME", &state.path().display().to_string()),
        ],
        &["DOCKER_HOST"],
    );
    environment_missing(
        &run,
        "error: the kind provider needs Docker: the `docker` command is not on PATH",
    );
}

#[test]
fn k3s_without_a_docker_socket_says_to_install_docker() {
    let run = integration(
        &["--provider", "k3s"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    environment_missing(&run, "error: the k3s provider needs a Docker engine: the socket /nonexistent/docker.sock (DOCKER_HOST) does not exist");
}

/// testcontainers itself finds no engine (nothing listens where DOCKER_HOST points).
#[test]
fn k3s_with_an_engine_that_does_not_answer_fails_cleanly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = integration(
        &["--provider", "k3s"],
        &[("DOCKER_HOST", &format!("tcp://127.0.0.1:{port}"))],
    );
    environment_missing(
        &run,
        "error: failed to start the k3s container docker.io/rancher/k3s:",
    );
}

#[test]
fn provider_flags_that_cannot_apply_are_bad_input() {
    let run = integration(&["--provider", "hollow", "--reuse"], &[]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr
            .contains("--reuse applies to --provider kind only"),
        "{}",
        run.output()
    );
    let run = integration(&["--provider", "k3s", "--keep"], &[]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr
            .contains("the k3s container is removed when the run ends"),
        "{}",
        run.output()
    );
}
