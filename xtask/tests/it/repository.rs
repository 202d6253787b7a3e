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
