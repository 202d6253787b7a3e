//! `check`, `outdated`, `lock` and `bump` against real servers on loopback (see common/).

use pins::check::{check, Status};
use pins::model::Selection;
use pins::outdated::outdated;
use pins::testbed::world::{load, World};
use pins::update::{new_files, plan_bump, plan_lock};

async fn check_text(world: &World, text: &str) -> Vec<pins::check::CheckResult> {
    let set = load(&world.pins_file("pins.toml", text));
    let selected = set.select(&Selection::default()).unwrap();
    let network = world.network();
    check(&set, &selected, Some(&network)).await
}

#[tokio::test]
async fn all_pins_resolve_including_through_the_anonymous_token_flow() {
    let world = World::start().await;
    let results = check_text(&world, &world.good_pins()).await;
    let failed: Vec<_> = results.iter().filter(|r| r.failed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(results.len(), 5);
    let traefik = results
        .iter()
        .find(|r| r.pin.to_string() == "images.traefik")
        .unwrap();
    assert_eq!(
        traefik.digest.as_deref(),
        Some(world.digest("library/traefik:v3.3.4"))
    );
    assert_eq!(traefik.message, "resolves; digest matches the pin");
    assert!(
        world
            .issuer
            .issued
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "the token registry was read without a bearer token"
    );
    let redis = results
        .iter()
        .find(|r| r.pin.to_string() == "images.redis")
        .unwrap();
    assert_eq!(redis.message, "resolves; not locked (run `pins lock`)");
}

#[tokio::test]
async fn a_token_registry_refuses_reads_without_the_token_flow() {
    // The control for the test above: the same manifest, asked for without a token, is 401.
    let world = World::start().await;
    let response = reqwest::Client::new()
        .head(format!(
            "http://{}/v2/library/traefik/manifests/v3.3.4",
            world.token_registry.host
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer realm="));
}

#[tokio::test]
async fn a_chart_version_missing_from_the_index_is_broken_naming_the_url() {
    let world = World::start().await;
    let text = world
        .good_pins()
        .replace("version = \"4.1.0\"", "version = \"3.3.7\"")
        .replace("range = \">=4.0.0, <5\"", "range = \">=3\"");
    let text = text.replace(
        &format!("digest = \"{}\"\n", world.digest("jupyterhub-4.1.0.tgz")),
        "",
    );
    let results = check_text(&world, &text).await;
    let chart = &results[0];
    assert_eq!(chart.status, Status::Broken, "{chart:#?}");
    assert_eq!(
        chart.url.as_deref(),
        Some(format!("{}/charts/index.yaml", world.files.url).as_str())
    );
    assert_eq!(
        chart.message,
        "version 3.3.7 of chart `jupyterhub` is not in the index (4 versions listed)"
    );
    assert_eq!(results.iter().filter(|r| r.failed()).count(), 1);
}

#[tokio::test]
async fn a_tarball_whose_digest_differs_from_the_index_is_broken() {
    let world = World::start().await;
    let text = format!(
        "[charts.tampered]\nrepository = \"{}/charts\"\nversion = \"1.0.0\"\n",
        world.files.url
    );
    let results = check_text(&world, &text).await;
    assert_eq!(results[0].status, Status::Broken);
    assert_eq!(
        results[0].url.as_deref(),
        Some(format!("{}/charts/tampered-1.0.0.tgz", world.files.url).as_str())
    );
    let served = world
        .digest("tampered-1.0.0.tgz")
        .trim_start_matches("sha256:");
    assert_eq!(
        results[0].message,
        format!(
            "tarball sha256 {served} differs from the index digest {}",
            pins::fetch::sha256_hex(b"another build")
        )
    );
}

#[tokio::test]
async fn a_pinned_digest_that_differs_is_broken() {
    let world = World::start().await;
    let wrong = format!("sha256:{}", "e".repeat(64));
    let text = world
        .good_pins()
        .replace(world.digest("library/traefik:v3.3.4"), &wrong);
    let results = check_text(&world, &text).await;
    let traefik = results
        .iter()
        .find(|r| r.pin.to_string() == "images.traefik")
        .unwrap();
    assert_eq!(traefik.status, Status::Broken);
    assert_eq!(
        traefik.message,
        format!(
            "digest {} differs from the pinned digest {wrong}",
            world.digest("library/traefik:v3.3.4")
        )
    );
}

#[tokio::test]
async fn an_image_gone_at_its_old_repository_is_found_moved() {
    let world = World::start().await;
    let text = format!(
        "{}\n[images.postgresql]\nrepository = \"{}/bitnami/postgresql\"\ntag = \"16.4.0-debian-12-r5\"\npolicy = {{ tag_pattern = '(?<version>\\d+\\.\\d+\\.\\d+)-debian-12-r(?<revision>\\d+)' }}\n",
        world.good_pins(),
        world.registry.host
    );
    let results = check_text(&world, &text).await;
    let postgresql = results
        .iter()
        .find(|r| r.pin.to_string() == "images.postgresql")
        .unwrap();
    assert_eq!(postgresql.status, Status::Moved, "{postgresql:#?}");
    let moved = format!(
        "{}/bitnamilegacy/postgresql:16.4.0-debian-12-r5",
        world.registry.host
    );
    assert_eq!(postgresql.moved_to.as_deref(), Some(moved.as_str()));
    assert_eq!(postgresql.http_status, Some(404));
    assert!(
        postgresql.message.ends_with(&format!(
            "moved, here is the new reference: {moved} (Bitnami moved its images to bitnamilegacy)"
        )),
        "{}",
        postgresql.message
    );
    assert!(postgresql.failed());
}

#[tokio::test]
async fn a_429_then_a_503_then_success_resolves() {
    let world = World::start().await;
    world.files.fail_next("/charts/index.yaml", &[429, 503]);
    let before = world.files.requests();
    let text = format!(
        "[charts.jupyterhub]\nrepository = \"{}/charts\"\nversion = \"4.1.0\"\n",
        world.files.url
    );
    let results = check_text(&world, &text).await;
    assert_eq!(results[0].status, Status::Ok, "{:#?}", results[0]);
    // index.yaml three times (429, 503, 200), then the tarball once.
    assert_eq!(world.files.requests() - before, 4);
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_status_is_reported() {
    let world = World::start().await;
    world.files.fail_next("/charts/index.yaml", &[503; 10]);
    let text = format!(
        "[charts.jupyterhub]\nrepository = \"{}/charts\"\nversion = \"4.1.0\"\n",
        world.files.url
    );
    let results = check_text(&world, &text).await;
    assert_eq!(results[0].status, Status::Broken);
    assert_eq!(results[0].http_status, Some(503));
    assert_eq!(
        results[0].message,
        format!(
            "GET {}/charts/index.yaml: HTTP 503 Service Unavailable",
            world.files.url
        )
    );
}

#[tokio::test]
async fn a_pin_outside_its_policy_is_reported_offline_and_online() {
    let world = World::start().await;
    let text = world
        .good_pins()
        .replace("range = \">=4.0.0, <5\"", "range = \">=4.2.0, <5\"");
    let set = load(&world.pins_file("pins.toml", &text));
    let selected = set.select(&Selection::default()).unwrap();
    for network in [None, Some(world.network())] {
        let results = check(&set, &selected, network.as_ref()).await;
        assert_eq!(results[0].status, Status::OutsidePolicy);
        assert_eq!(
            results[0].message,
            "4.1.0 is outside its policy range `>=4.2.0, <5`"
        );
    }
}

#[tokio::test]
async fn outdated_respects_ranges_majors_release_age_and_tag_patterns() {
    let world = World::start().await;
    let set = load(&world.pins_file("pins.toml", &world.good_pins()));
    let selected = set.select(&Selection::default()).unwrap();
    let answers = outdated(&world.network(), &selected, time::OffsetDateTime::now_utc()).await;
    let answer = |name: &str| {
        answers
            .iter()
            .map(|a| a.as_ref().unwrap())
            .find(|a| a.pin.to_string() == name)
            .unwrap()
            .clone()
    };
    let chart = answer("charts.jupyterhub");
    assert_eq!(chart.newest_allowed.unwrap().version, "4.2.0");
    assert_eq!(chart.newest.as_ref().unwrap().version, "5.0.0");
    assert_eq!(chart.newest.unwrap().age_days, Some(10));
    assert_eq!(chart.current.age_days, Some(200));

    // v3.4.1 is one day old (minimum 7 days), v4.0.0 a new major, `v3.4` and `3.4.1` other shapes.
    let traefik = answer("images.traefik");
    assert_eq!(traefik.newest_allowed.as_ref().unwrap().version, "v3.4.0");
    assert_eq!(traefik.newest_allowed.unwrap().age_days, Some(30));
    assert_eq!(traefik.newest.unwrap().version, "v4.0.0");
    assert_eq!(
        traefik.note.as_deref(),
        Some("v3.4.1 is younger than the minimum release age")
    );

    let redis = answer("images.redis");
    assert_eq!(redis.newest_allowed.unwrap().version, "7.4.1-debian-12-r0");

    let kind = answer("tools.kind");
    assert_eq!(
        kind.newest_allowed.unwrap().version,
        "v0.29.0",
        "0.x minors are majors; rc excluded"
    );
    assert_eq!(kind.newest.unwrap().version, "v0.30.0");
}

#[tokio::test]
async fn lock_fills_in_missing_digests_only() {
    let world = World::start().await;
    let path = world.pins_file("pins.toml", &world.good_pins());
    let set = load(&path);
    let selected = set.select(&Selection::default()).unwrap();
    let plan = plan_lock(&world.network(), &selected).await;
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    assert_eq!(plan.locked.len(), 1, "only the redis image was unlocked");
    let files = new_files(&set, &plan, None, "2026-11-22").unwrap();
    assert_eq!(files.len(), 1);
    let expected = set.text.replace(
        "policy = { tag_pattern = '(?<version>\\d+\\.\\d+\\.\\d+)-debian-12-r(?<revision>\\d+)' }\n",
        &format!(
            "policy = {{ tag_pattern = '(?<version>\\d+\\.\\d+\\.\\d+)-debian-12-r(?<revision>\\d+)' }}\ndigest = \"{}\"\n",
            world.digest("bitnami/redis:7.4.0-debian-12-r1")
        ),
    );
    assert_eq!(files[0].1, expected);
}

/// A comment-laden pin set, bumped: the result must equal the input with exactly the changed
/// values replaced, byte for byte.
#[tokio::test]
async fn bump_preserves_the_file_byte_for_byte_except_the_changed_values() {
    let world = World::start().await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/commented.toml"
    ))
    .unwrap()
    .replace("@FILES@", &world.files.url)
    .replace("@REGISTRY@", &world.registry.host)
    .replace("@CHART_DIGEST@", world.digest("jupyterhub-4.1.0.tgz"))
    .replace("@TRAEFIK_DIGEST@", world.digest("library/traefik:v3.3.4"));
    let path = world.pins_file("pins.toml", &text);
    let changelog = world.dir.path().join("CHANGELOG.md");
    let set = load(&path);
    let selected = set.select(&Selection::default()).unwrap();
    let plan = plan_bump(&world.network(), &selected, time::OffsetDateTime::now_utc()).await;
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    let files = new_files(&set, &plan, Some(&changelog), "2026-11-22").unwrap();
    let expected = text
        .replace(
            "version = \"4.1.0\"   # the hub chart",
            "version = \"4.2.0\"   # the hub chart",
        )
        .replace(
            world.digest("jupyterhub-4.1.0.tgz"),
            world.digest("jupyterhub-4.2.0.tgz"),
        )
        .replace("tag = \"v3.3.4\"", "tag = \"v3.4.0\"")
        .replace(
            world.digest("library/traefik:v3.3.4"),
            world.digest("library/traefik:v3.4.0"),
        )
        .replace("tag = '7.4.0-debian-12-r1'", "tag = \"7.4.1-debian-12-r0\"");
    assert_eq!(
        files[0].1, expected,
        "the bumped pin set differs from the input beyond the changed values"
    );
    assert_eq!(plan.changes.len(), 3);
    let changelog_text = &files[1].1;
    assert!(changelog_text.starts_with(pins::changelog::HEADER));
    assert!(
        changelog_text.contains("## 2026-11-22\n\n| Pin | Group | Old | New | Release notes |\n"),
        "{changelog_text}"
    );
    assert!(changelog_text.contains("| `charts.jupyterhub` | hub | 4.1.0 | 4.2.0 | [4.2.0](https://github.com/jupyterhub/zero-to-jupyterhub-k8s/blob/HEAD/CHANGELOG.md#4.2.0) |"), "{changelog_text}");
    assert!(changelog_text.contains("| `images.traefik` | ingress | v3.3.4 | v3.4.0 | [v3.4.0](https://github.com/traefik/traefik/releases/tag/v3.4.0) |"), "{changelog_text}");

    // Only the hub group.
    let hub = set
        .select(&Selection {
            group: Some("hub".into()),
            only: vec![],
        })
        .unwrap();
    let plan = plan_bump(&world.network(), &hub, time::OffsetDateTime::now_utc()).await;
    assert_eq!(
        plan.changes
            .iter()
            .map(|c| c.pin.to_string())
            .collect::<Vec<_>>(),
        ["charts.jupyterhub"]
    );
}
