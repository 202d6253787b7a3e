//! `cargo xtask images build|list` on bad input: a recipe package version that its registry
//! does not list stops the build before anything is built, naming the pin, the registry's URL
//! and what it lists (a PyPI simple index and an npm registry on loopback).

use pins::testbed::http::FileServer;

use crate::support::{repo_root, xtask_env};

#[test]
fn a_package_version_the_registry_does_not_list_stops_the_build_before_anything_is_built() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(FileServer::start()).unwrap();
    // Every project the shipped recipes install, listing only one made-up version each.
    for project in [
        "jupyterhub",
        "jupyterhub-kubespawner",
        "oauthenticator",
        "jupyterlab",
    ] {
        server.put(
            &format!("/simple/{project}/"),
            "application/vnd.pypi.simple.v1+json",
            format!("{{\"name\": \"{project}\", \"versions\": [\"9.9.1\"], \"files\": []}}"),
        );
    }
    server.put(
        "/npm/configurable-http-proxy",
        "application/json",
        "{\"name\": \"configurable-http-proxy\", \"versions\": {\"9.9.1\": {}}, \"time\": {}}",
    );
    let dir = tempfile::tempdir().unwrap();
    let pins_file = dir.path().join("pins.toml");
    std::fs::copy(repo_root().join("pins/pins.toml"), &pins_file).unwrap();
    let index = format!("{}/simple", server.url);
    let registry = format!("{}/npm", server.url);
    let run = xtask_env(
        &["images", "build", "--pins", pins_file.to_str().unwrap()],
        &[
            ("PIP_INDEX_URL", &index),
            ("npm_config_registry", &registry),
            ("XDG_CACHE_HOME", dir.path().to_str().unwrap()),
        ],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.output());
    for fragment in [
        "error: packages.jupyterhub (jupyterhub==",
        &format!("{index}/jupyterhub/ lists no version"),
        "(of 1 listed, the newest: 9.9.1)",
        "error: packages.configurable_http_proxy",
        &format!("{registry}/configurable-http-proxy lists no version"),
        "no image was built",
    ] {
        assert!(
            run.stderr.contains(fragment),
            "{fragment}\n{}",
            run.output()
        );
    }
    // Nothing was built: the image cache was not even created.
    assert!(!dir.path().join("seatrial/images").exists());

    // `list` needs no registry and says what is not built.
    let list = xtask_env(
        &["images", "list", "--pins", pins_file.to_str().unwrap()],
        &[("XDG_CACHE_HOME", dir.path().to_str().unwrap())],
        &[],
    );
    assert_eq!(list.code, 0, "{}", list.output());
    assert!(
        list.stdout.contains("hub          stands for images.hub")
            && list.stdout.contains("localhost/seatrial/hub:")
            && list.stdout.contains("not built"),
        "{}",
        list.output()
    );
}
