//! Repository invariants.

use crate::support::repo_root;

/// Every image a manifest names comes from the pin set: no `image:` line carries a literal.
#[test]
fn manifests_name_images_only_through_the_pin_set() {
    let stages = repo_root().join("deployer/stages");
    let mut offenders = Vec::new();
    let mut images = 0;
    for stage in std::fs::read_dir(&stages)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
    {
        for manifest in std::fs::read_dir(stage.path().join("manifests"))
            .unwrap()
            .filter_map(Result::ok)
        {
            let text = std::fs::read_to_string(manifest.path()).unwrap();
            for (index, line) in text.lines().enumerate() {
                let line = line.trim_start().trim_start_matches("- ");
                let value = line
                    .strip_prefix("image:")
                    .or_else(|| line.split_once(".image = ").map(|(_, v)| v));
                if let Some(value) = value {
                    images += 1;
                    if !value.trim().trim_matches('"').starts_with("{{ images.") {
                        offenders.push(format!(
                            "{}:{}: {line}",
                            manifest.path().display(),
                            index + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        images >= 5,
        "found only {images} image references; did the manifests move?"
    );
    assert!(
        offenders.is_empty(),
        "images not taken from pins/pins.toml:\n{}",
        offenders.join("\n")
    );
}

/// `.ci/run` runs the README's test command.
#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(repo_root().join(".ci/run")).unwrap();
    assert!(
        readme.contains("cargo xtask test"),
        "the README names another test command"
    );
    assert!(
        ci.lines().any(|line| line.trim() == "cargo xtask test"),
        ".ci/run does not run `cargo xtask test`:\n{ci}"
    );
}

/// No pinned artifact's version is written outside the pin set: no `<image>:<tag>` of a pinned
/// image repository, no pinned chart or tool next to its pinned version. Tests use other
/// names (`registry.example.test/…`); the pins crate's own fixtures are exempt, and so are
/// the dated `peers:` (`peer:`) lines of recorded benchmark results.
#[test]
fn no_pinned_version_appears_outside_the_pin_set() {
    let set = pins::load::load(&repo_root().join("pins/pins.toml")).unwrap();
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo_root())
        .output()
        .expect("git runs");
    assert!(listed.status.success());
    let exempt = |path: &str| {
        // The pins tooling's own tests build a loopback world whose names mirror real ones.
        path.starts_with("pins/")
            || path == "xtask/tests/it/pins.rs"
            || path == "Cargo.lock"
            || path.starts_with("scenarios/local-hub/")
    };
    let mut needles: Vec<(String, Option<String>)> = Vec::new();
    for pin in &set.pins {
        match &pin.source {
            pins::model::Source::Image(name) => needles.push((format!("{}:", name.path), None)),
            pins::model::Source::Chart { chart, .. } => {
                needles.push((chart.clone(), Some(pin.version.clone())))
            }
            pins::model::Source::Tool { github, .. } => {
                let tool = github.rsplit('/').next().unwrap().to_owned();
                needles.push((pin.id.name.clone(), Some(pin.version.clone())));
                needles.push((tool, Some(pin.version.clone())));
            }
            pins::model::Source::GoModule { module } => {
                let last = module
                    .rsplit('/')
                    .find(|part| !part.starts_with('v') || part[1..].parse::<u32>().is_err())
                    .unwrap()
                    .to_owned();
                needles.push((pin.id.name.clone(), Some(pin.version.clone())));
                needles.push((last, Some(pin.version.clone())));
            }
            pins::model::Source::Bundle { .. } => {
                needles.push((pin.id.name.clone(), Some(pin.version.clone())))
            }
            pins::model::Source::PyPi { project: name }
            | pins::model::Source::Npm { package: name } => {
                needles.push((format!("{name}=="), Some(pin.version.clone())));
                needles.push((format!("{name}@"), Some(pin.version.clone())));
            }
            pins::model::Source::Maven { coordinate } => {
                let artifact = coordinate.rsplit(':').next().unwrap().to_owned();
                needles.push((artifact, Some(pin.version.clone())));
            }
        }
    }
    needles.sort();
    needles.dedup();
    let mut offenders = Vec::new();
    let mut scanned = 0;
    for path in String::from_utf8(listed.stdout)
        .unwrap()
        .split('\0')
        .filter(|p| !p.is_empty() && !exempt(p))
    {
        let Ok(text) = std::fs::read_to_string(repo_root().join(path)) else {
            continue; // binary files
        };
        scanned += 1;
        for (index, line) in text.lines().enumerate() {
            // A benchmark's recorded result names the peer versions it measured (its `peers:`
            // or `peer:` line, dated): a record of that day, not a pin.
            let line_start = line.trim_start();
            if path == "docs/benchmarks.md"
                && (line_start.starts_with("peers:") || line_start.starts_with("peer:"))
            {
                continue;
            }
            for (needle, version) in &needles {
                let hit = match version {
                    // `<repository path>:` followed by a tag (a digit or `v` and a digit).
                    None => line.match_indices(needle.as_str()).any(|(at, _)| {
                        let rest = &line[at + needle.len()..];
                        let rest = rest.strip_prefix('v').unwrap_or(rest);
                        rest.starts_with(|c: char| c.is_ascii_digit())
                    }),
                    Some(version) => {
                        line.contains(needle.as_str()) && line.contains(version.as_str())
                    }
                };
                if hit {
                    offenders.push(format!("{path}:{}: {}", index + 1, line.trim()));
                }
            }
        }
    }
    assert!(scanned > 50, "scanned only {scanned} files");
    assert!(
        offenders.is_empty(),
        "pinned versions written outside pins/pins.toml (read them from the pin set instead):\n{}",
        offenders.join("\n")
    );
}
