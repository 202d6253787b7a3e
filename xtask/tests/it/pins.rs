//! `cargo xtask pins …` as a release manager runs it: the shipped pin set, bad input, and the
//! commands against the loopback world (chart repository, docker-registry, GitHub on wiremock).

use std::path::Path;
use std::process::Command;

use pins::testbed::world::World;

use crate::support::{repo_root, xtask_env, Run};

fn pins(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["pins"];
    all.extend(args);
    xtask_env(
        &all,
        env,
        &["GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"],
    )
}

/// The deployer and the pins tooling read the same images from the shipped pin set, and the
/// shipped pin set validates (offline, so CI checks it without the internet).
#[test]
fn the_shipped_pin_set_validates_and_the_deployer_reads_every_image_from_it() {
    let run = pins(&["check", "--offline"], &[]);
    assert_eq!(run.code, 0, "{}", run.output());
    let run = pins(&["list", "--json"], &[]);
    assert_eq!(run.code, 0, "{}", run.output());
    let listed: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let images = deployer::pins::load_images(&repo_root().join("pins/pins.toml")).unwrap();
    let listed_images: Vec<&serde_json::Value> =
        listed.iter().filter(|p| p["kind"] == "image").collect();
    assert_eq!(listed_images.len(), images.len());
    for pin in listed_images {
        let name = pin["pin"].as_str().unwrap().trim_start_matches("images.");
        assert_eq!(
            pin["reference"].as_str().unwrap(),
            format!("{}:{}", images[name].repository, images[name].tag)
        );
    }
    for kind in ["chart", "image", "tool"] {
        assert!(
            listed.iter().any(|p| p["kind"] == kind),
            "the shipped pin set has no {kind}"
        );
    }
}

#[track_caller]
fn refused(text: &str, args: &[&str], fragments: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pins.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    let mut all = vec!["--pins", path.as_str()];
    all.extend(args);
    let run = pins(&all, &[]);
    assert_eq!(run.code, 2, "{}", run.output());
    for fragment in fragments {
        let fragment = fragment.replace("@FILE@", &path);
        assert!(
            run.stderr.contains(&fragment),
            "stderr lacks `{fragment}`\n{}",
            run.output()
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.output());
}

const ONE_PIN: &str = "[groups.web]\n\n[images.web]\nrepository = \"docker.io/library/nginx\"\ntag = \"1.27.0\"\ngroup = \"web\"\n";

#[test]
fn bad_input_names_file_line_key_range_group_and_token() {
    refused(
        "[images.web]\nrepository = \"docker.io/library/nginx\"\ntag = \"1.27.0\"\ntga = 1\n",
        &["list"],
        &["@FILE@:4: images.web.tga: unknown field `tga`"],
    );
    refused("[images.web\n", &["list"], &["@FILE@:1: "]);
    refused(
        &ONE_PIN.replace("group = \"web\"\n", "group = \"web\"\npolicy = { range = \">=1.27 || <2\" }\n"),
        &["check", "--offline"],
        &["@FILE@:7: images.web.policy.range: invalid semver range `>=1.27 || <2`: `||` is Helm's syntax"],
    );
    refused(
        ONE_PIN,
        &["outdated", "--group", "db"],
        &["unknown group `db`; the pin set's groups are: web"],
    );
    refused(
        ONE_PIN,
        &["bump", "--only", "images.db"],
        &["unknown pin `images.db`", "images.web"],
    );
    refused(
        ONE_PIN,
        &["pr", "--repo", "acme/platform"],
        &[
            "needs a GitHub token in the environment variable GITHUB_TOKEN",
            "`--dry-run` works without it",
        ],
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `check` exits 1 naming the broken pin, its URL and status; `bump --dry-run` shows the diff
/// and writes nothing; `pr --dry-run` needs no token; `pr` opens the pull request.
#[test]
fn commands_against_real_servers() {
    let runtime = runtime();
    let world = runtime.block_on(World::start());
    let good = world.good_pins();
    let path = world.pins_file("pins.toml", &good);
    let file = path.display().to_string();
    let github = world.github.uri();
    let env = [("GITHUB_API_URL", github.as_str())];

    let run = pins(&["--pins", &file, "check"], &env);
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stderr.contains("5 pins, 0 need attention"),
        "{}",
        run.output()
    );

    let broken = good.replace("tag = \"v3.3.4\"", "tag = \"v3.3.9\"");
    let broken_path = world.pins_file("broken.toml", &broken);
    let run = pins(
        &["--pins", &broken_path.display().to_string(), "check"],
        &env,
    );
    assert_eq!(run.code, 1, "{}", run.output());
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("images.traefik"))
        .unwrap_or_default();
    assert!(line.contains("BROKEN"), "{}", run.output());
    assert!(
        line.contains(&format!(
            "http://{}/v2/library/traefik/manifests/v3.3.9",
            world.token_registry.host
        )),
        "{}",
        run.output()
    );
    assert!(line.contains("HTTP 404"), "{}", run.output());

    let run = pins(
        &["--pins", &file, "bump", "--dry-run", "--group", "hub"],
        &env,
    );
    assert_eq!(run.code, 0, "{}", run.output());
    assert!(
        run.stdout.contains("charts.jupyterhub: 4.1.0 -> 4.2.0"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("-version = \"4.1.0\"\n-digest = "),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("+version = \"4.2.0\"\n+digest = "),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("dry run: nothing written"),
        "{}",
        run.output()
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        good,
        "a dry run wrote the pin set"
    );

    // `pr` commits paths relative to the work tree's root.
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(world.dir.path())
        .status()
        .unwrap();
    assert!(init.success());
    let pr_dry_run = |pins_file: &Path, selection: [&str; 2]| {
        let pins_file = pins_file.display().to_string();
        let mut args = vec![
            "--pins",
            pins_file.as_str(),
            "pr",
            "--dry-run",
            "--no-trial",
            "--repo",
            "acme/platform",
        ];
        args.extend(selection);
        let run = pins(&args, &env);
        assert_eq!(run.code, 0, "{}", run.output());
        run
    };
    let run = pr_dry_run(&path, ["--group", "hub"]);
    assert!(run.stdout.contains("would push branch seatrial/pins-hub to acme/platform with one commit changing:\n  pins.toml\n  CHANGELOG.md\n"), "{}", run.output());
    assert!(
        run.stdout
            .contains("| `charts.jupyterhub` | hub | 4.1.0 | 4.2.0 |"),
        "{}",
        run.output()
    );
    // With --no-trial the body says that nothing deployed the bump.
    assert!(
        run.stdout
            .contains("## Upgrade trial\n\nNo upgrade trial ran (`--no-trial`)"),
        "{}",
        run.output()
    );

    // A pin without a digest and nothing to bump: the pull request locks it.
    let unlocked = good.replace(
        &format!(
            "version = \"4.1.0\"\ndigest = \"{}\"\n",
            world.digest("jupyterhub-4.1.0.tgz")
        ),
        "version = \"4.2.0\"\n",
    );
    assert_ne!(unlocked, good);
    let unlocked_path = world.pins_file("unlocked.toml", &unlocked);
    let run = pr_dry_run(&unlocked_path, ["--only", "jupyterhub"]);
    assert!(
        run.stdout
            .contains("with one commit changing:\n  unlocked.toml\nand open a pull request"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains("# pins: lock 1 digest\n"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains(&format!(
            "| `charts.jupyterhub` | `{}` |",
            world.digest("jupyterhub-4.2.0.tgz")
        )),
        "{}",
        run.output()
    );
    // Unlocked and behind: bumped, and locked at the new version.
    let behind = unlocked.replace("version = \"4.2.0\"\n", "version = \"4.1.0\"\n");
    let behind_path = world.pins_file("behind.toml", &behind);
    let run = pr_dry_run(&behind_path, ["--only", "jupyterhub"]);
    assert!(
        run.stdout.contains("# pins: bump 1 pin, lock 1 digest\n"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout
            .contains("| `charts.jupyterhub` | hub | 4.1.0 | 4.2.0 |"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout.contains(&format!(
            "| `charts.jupyterhub` | `{}` |",
            world.digest("jupyterhub-4.2.0.tgz")
        )),
        "{}",
        run.output()
    );

    let run = pins(&["--pins", &file, "bump", "--only", "traefik"], &env);
    assert_eq!(run.code, 0, "{}", run.output());
    let bumped = std::fs::read_to_string(&path).unwrap();
    assert!(bumped.contains("tag = \"v3.4.0\""), "{bumped}");
    assert!(
        bumped.contains(world.digest("library/traefik:v3.4.0")),
        "{bumped}"
    );
    let changelog = std::fs::read_to_string(path.with_file_name("CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains("| `images.traefik` | ingress | v3.3.4 | v3.4.0 |"),
        "{changelog}"
    );
}
