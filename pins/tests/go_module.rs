//! `go_module` tools against a Go module proxy on loopback (the GOPROXY protocol's
//! `@v/list` and `@v/<version>.info`): check resolves the pinned version and names a missing
//! one with its URL and status; outdated offers the newest listed version with its age.

use pins::check::check;
use pins::fetch::{Network, NetworkOptions};
use pins::model::Selection;
use pins::outdated::outdated;
use pins::testbed::http::FileServer;
use pins::testbed::world::days_ago;

const PINS: &str = "[groups.cluster]\npolicy = { min_release_age = \"7d\" }\n\n[tools.kubernetes]\ngo_module = \"k8s.io/kubernetes\"\ntag = \"v1.36.3\"\ngroup = \"cluster\"\n\n[tools.coredns]\ngo_module = \"github.com/CoreDNS/coredns\"\ntag = \"v1.99.0\"\ngroup = \"cluster\"\n";

async fn proxy() -> FileServer {
    let server = FileServer::start().await.unwrap();
    server.put(
        "/k8s.io/kubernetes/@v/list",
        "text/plain",
        "v1.36.3\nv1.37.1\nv1.37.2\nv1.38.0-beta.0\n",
    );
    for (version, days) in [("v1.36.3", 60), ("v1.37.1", 30), ("v1.37.2", 2)] {
        server.put(
            &format!("/k8s.io/kubernetes/@v/{version}.info"),
            "application/json",
            format!(
                "{{\"Version\":\"{version}\",\"Time\":\"{}\"}}",
                days_ago(days)
            ),
        );
    }
    server
}

fn network(server: &FileServer) -> Network {
    Network::new(NetworkOptions {
        go_proxy: server.url.clone(),
        backoff: std::time::Duration::from_millis(10),
        ..NetworkOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_pinned_module_version_resolves_and_a_missing_one_is_broken_with_its_url() {
    let server = proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pins.toml");
    std::fs::write(&file, PINS).unwrap();
    let set = pins::load::load(&file).unwrap();
    let selected = set.select(&Selection::default()).unwrap();
    let results = check(&set, &selected, Some(&network(&server))).await;
    let result = |name: &str| results.iter().find(|r| r.pin.to_string() == name).unwrap();
    let kubernetes = result("tools.kubernetes");
    assert!(!kubernetes.failed(), "{kubernetes:#?}");
    let coredns = result("tools.coredns");
    assert!(coredns.failed(), "{coredns:#?}");
    // The module path is case-encoded in the URL (`!core!d!n!s`), and the 404 is named.
    let text = format!("{coredns:?}");
    assert!(
        text.contains("github.com/!core!d!n!s/coredns/@v/v1.99.0.info"),
        "{text}"
    );
    assert!(text.contains("404"), "{text}");
}

#[tokio::test]
async fn outdated_offers_the_newest_old_enough_release_and_skips_pre_releases() {
    let server = proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pins.toml");
    std::fs::write(&file, PINS).unwrap();
    let set = pins::load::load(&file).unwrap();
    let only = Selection {
        only: vec!["tools.kubernetes".into()],
        ..Selection::default()
    };
    let selected = set.select(&only).unwrap();
    let answers = outdated(
        &network(&server),
        &selected,
        time::OffsetDateTime::now_utc(),
    )
    .await;
    let answer = answers[0].as_ref().unwrap();
    // v1.37.2 is 2 days old, younger than the group's 7 days; the beta never counts.
    assert_eq!(answer.update().map(|c| c.version.as_str()), Some("v1.37.1"));
    assert_eq!(answer.update().and_then(|c| c.age_days), Some(30));
    assert_eq!(
        answer.newest.as_ref().map(|c| c.version.as_str()),
        Some("v1.37.2")
    );
}

#[test]
fn a_go_module_tool_takes_no_github_and_needs_a_module_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pins.toml");
    std::fs::write(
        &file,
        "[tools.x]\ngo_module = \"not a module\"\ntag = \"v1.0.0\"\n",
    )
    .unwrap();
    let error = pins::load::load(&file).unwrap_err().to_string();
    assert!(
        error.contains("tools.x.go_module") && error.contains("is not a Go module path"),
        "{error}"
    );
    std::fs::write(
        &file,
        "[tools.x]\ngo_module = \"k8s.io/x\"\ngithub = \"a/b\"\ntag = \"v1.0.0\"\n",
    )
    .unwrap();
    let error = pins::load::load(&file).unwrap_err().to_string();
    assert!(
        error.contains("tools.x.github") && error.contains("takes no `github`"),
        "{error}"
    );
}
