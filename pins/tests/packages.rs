//! `[packages.*]` pins (what image recipes install) against a PyPI simple index and an npm
//! registry on loopback: check resolves a listed version and names a missing one with its
//! URL; outdated offers the newest release old enough for the policy, dated by PEP 700's
//! `upload-time` and npm's `time`; bad pins and recipes name their line.

use pins::check::check;
use pins::fetch::{Network, NetworkOptions};
use pins::model::Selection;
use pins::outdated::outdated;
use pins::testbed::http::FileServer;
use pins::testbed::world::days_ago;

const PINS: &str = r#"[groups.hub]
policy = { min_release_age = "7d" }

[images.hub]
repository = "registry.example.test/hub"
tag = "1.0.0"

[packages.hub]
pypi = "Jupyter_Hub"
version = "9.1.0"
group = "hub"

[packages.proxy]
npm = "chp"
version = "9.9.9"
group = "hub"

[recipes.hub]
stands_for = "hub"
debian = "bookworm"
packages = ["hub", "proxy"]
"#;

async fn registries() -> FileServer {
    let server = FileServer::start().await.unwrap();
    let files: Vec<String> = [("9.1.0", 90), ("9.2.0", 20), ("9.3.0", 1)]
        .iter()
        .map(|(version, days)| {
            format!(
                "{{\"filename\": \"jupyter_hub-{version}-py3-none-any.whl\", \"upload-time\": \"{}\", \"url\": \"x\", \"hashes\": {{}}}}",
                days_ago(*days)
            )
        })
        .collect();
    server.put(
        "/simple/jupyter-hub/",
        "application/vnd.pypi.simple.v1+json",
        format!(
            "{{\"meta\": {{\"api-version\": \"1.1\"}}, \"name\": \"jupyter-hub\", \"versions\": [\"9.1.0\", \"9.2.0\", \"9.3.0\"], \"files\": [{}]}}",
            files.join(",")
        ),
    );
    server.put(
        "/npm/chp",
        "application/json",
        format!(
            "{{\"name\": \"chp\", \"versions\": {{\"9.8.0\": {{}}, \"9.8.1\": {{}}}}, \"time\": {{\"9.8.0\": \"{}\", \"9.8.1\": \"{}\"}}}}",
            days_ago(40),
            days_ago(10)
        ),
    );
    server
}

fn network(server: &FileServer) -> Network {
    Network::new(NetworkOptions {
        pypi_index: format!("{}/simple", server.url),
        npm_registry: format!("{}/npm", server.url),
        backoff: std::time::Duration::from_millis(10),
        ..NetworkOptions::default()
    })
    .unwrap()
}

fn load(text: &str) -> (tempfile::TempDir, pins::model::PinSet) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pins.toml");
    std::fs::write(&file, text).unwrap();
    let set = pins::load::load(&file).unwrap();
    (dir, set)
}

#[tokio::test]
async fn a_listed_version_resolves_and_a_missing_one_names_the_registry_and_what_it_lists() {
    let server = registries().await;
    let (_dir, set) = load(PINS);
    let selected = set.select(&Selection::default()).unwrap();
    let results = check(&set, &selected, Some(&network(&server))).await;
    let result = |name: &str| results.iter().find(|r| r.pin.to_string() == name).unwrap();
    let hub = result("packages.hub");
    assert!(!hub.failed(), "{hub:#?}");
    // The project name is normalized (PEP 503) in the URL.
    assert!(
        hub.url
            .as_deref()
            .unwrap()
            .ends_with("/simple/jupyter-hub/"),
        "{hub:#?}"
    );
    let proxy = result("packages.proxy");
    assert!(proxy.failed(), "{proxy:#?}");
    assert!(
        proxy
            .message
            .contains("/npm/chp lists no version 9.9.9 of chp")
            && proxy.message.contains("9.8.1"),
        "{}",
        proxy.message
    );
}

#[tokio::test]
async fn outdated_dates_releases_by_their_uploads_and_keeps_the_age_policy() {
    let server = registries().await;
    let (_dir, set) = load(&PINS.replace("9.9.9", "9.8.0"));
    let selected = set.select(&Selection::default()).unwrap();
    let answers = outdated(
        &network(&server),
        &selected,
        time::OffsetDateTime::now_utc(),
    )
    .await;
    let answer = |name: &str| {
        answers
            .iter()
            .filter_map(|answer| answer.as_ref().ok())
            .find(|answer| answer.pin.to_string() == name)
            .unwrap()
    };
    // 9.3.0 is a day old, younger than the group's 7 days.
    let hub = answer("packages.hub");
    assert_eq!(hub.update().map(|c| c.version.as_str()), Some("9.2.0"));
    assert_eq!(hub.update().and_then(|c| c.age_days), Some(20));
    let proxy = answer("packages.proxy");
    assert_eq!(proxy.update().map(|c| c.version.as_str()), Some("9.8.1"));
    assert_eq!(proxy.update().and_then(|c| c.age_days), Some(10));
}

#[test]
fn bad_package_pins_and_recipes_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pins.toml");
    let error = |text: &str| {
        std::fs::write(&file, text).unwrap();
        pins::load::load(&file).unwrap_err().to_string()
    };
    let both = error(&PINS.replace("npm = \"chp\"", "npm = \"chp\"\npypi = \"chp\""));
    assert!(
        both.contains(":13:") && both.contains("exactly one of `pypi`"),
        "{both}"
    );
    let tag = error(&PINS.replace("version = \"9.9.9\"", "tag = \"9.9.9\""));
    assert!(tag.contains("packages.proxy.tag"), "{tag}");
    let recipe = error(&PINS.replace("[\"hub\", \"proxy\"]", "[\"hub\", \"nope\"]"));
    assert!(
        recipe.contains(":18:") && recipe.contains("no `[packages.nope]`"),
        "{recipe}"
    );
}
