//! Bad input is refused before anything is deployed, with exit code 2 (or 4 for a missing
//! environment) and a message naming the file, line, document or URL.

use crate::support::{append, copy_platform, write_config, xtask};

#[track_caller]
fn check(args: &[&str], code: i32, fragments: &[&str]) {
    let run = xtask(args);
    assert_eq!(run.code, code, "{}", run.output());
    for fragment in fragments {
        assert!(
            run.stderr.contains(fragment),
            "stderr lacks `{fragment}`\n{}",
            run.output()
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.output());
}

#[test]
fn missing_config_names_the_file() {
    check(
        &["integration", "--config", "/nonexistent/seatrial.yaml"],
        2,
        &["/nonexistent/seatrial.yaml", "No such file"],
    );
}

#[test]
fn malformed_config_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "bad", "readiness_timeout: 3\n");
    let path = config.display().to_string();
    check(
        &["integration", "--config", &path],
        2,
        &[&format!("{path}:4:"), "readiness_timeout"],
    );

    let config = write_config(
        dir.path(),
        "bad2",
        "stages:\n  ingress:\n    replicas: two\n",
    );
    let path = config.display().to_string();
    check(
        &["integration", "--config", &path],
        2,
        &[
            &format!("{path}:6:"),
            "stages.ingress.replicas` must be an integer (like its default 1), not a string",
        ],
    );

    let config = write_config(dir.path(), "bad3", "stages:\n  ingres: {}\n");
    let path = config.display().to_string();
    check(
        &["integration", "--config", &path],
        2,
        &[&format!("{path}:5:"), "no such stage", "ingress"],
    );
}

#[test]
fn unknown_stop_at_lists_the_stages() {
    check(
        &["integration", "--stop-at", "jupyter"],
        2,
        &[
            "unknown stage `jupyter`",
            "kubernetes-initialize, ingress, keycloak, jupyterhub",
        ],
    );
}

#[test]
fn manifest_without_kind_names_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    let platform = copy_platform(dir.path());
    let manifest = platform.join("ingress/manifests/20-service.yaml");
    let lines = std::fs::read_to_string(&manifest).unwrap().lines().count();
    append(
        &manifest,
        "---\napiVersion: v1\nmetadata:\n  name: no-kind\n",
    );
    // The document starts at its `apiVersion`, the line after the appended `---`.
    check(
        &["integration", "--platform", &platform.display().to_string()],
        2,
        &[&format!(
            "{}:{} (document 2): the object has no `kind`",
            manifest.display(),
            lines + 2
        )],
    );
}

#[test]
fn manifest_that_is_not_yaml_names_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    let platform = copy_platform(dir.path());
    let manifest = platform.join("keycloak/manifests/10-realm.yaml");
    append(&manifest, "---\napiVersion: v1\nkind: [unclosed\n");
    check(
        &["integration", "--platform", &platform.display().to_string()],
        2,
        &[
            &format!("{}:", manifest.display()),
            "(document 1): not valid YAML",
        ],
    );
}

#[test]
fn a_repeated_key_in_stage_yaml_is_named_at_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let platform = copy_platform(dir.path());
    let stage = platform.join("ingress/stage.yaml");
    let lines = std::fs::read_to_string(&stage).unwrap().lines().count();
    append(&stage, "settings:\n  replicas: 2\n");
    check(
        &["integration", "--platform", &platform.display().to_string()],
        2,
        &[&format!(
            "{}:{}: duplicate key `settings` (first on line 2)",
            stage.display(),
            lines + 1
        )],
    );
}

#[test]
fn an_alias_bomb_in_the_config_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("x-a: &a [l, l, l, l, l, l, l, l, l, l]\n");
    let mut previous = 'a';
    for name in ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] {
        let aliases = vec![format!("*{previous}"); 10].join(", ");
        bomb.push_str(&format!("x-{name}: &{name} [{aliases}]\n"));
        previous = name;
    }
    let config = write_config(dir.path(), "bomb", &bomb);
    let path = config.display().to_string();
    // The three lines of write_config, then x-a on 4: x-e (111,111 nodes) on line 8.
    check(
        &["integration", "--config", &path],
        2,
        &[&format!(
            "{path}:8: aliases expand this document to more than 100000 nodes"
        )],
    );
}

#[test]
fn template_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let platform = copy_platform(dir.path());
    let manifest = platform.join("ingress/manifests/10-deployment.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("{{ images.traefik }}", "{{ images.traefic }}");
    std::fs::write(&manifest, text).unwrap();
    check(
        &["integration", "--platform", &platform.display().to_string()],
        2,
        &[&format!("{}:22:", manifest.display()), "undefined"],
    );
}

#[test]
fn malformed_check_fails_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let platform = copy_platform(dir.path());
    let checks = platform.join("keycloak/checks.yaml");
    append(
        &checks,
        "  - name: typo\n    exist:\n      object: {apiVersion: v1, kind: Service, name: x}\n",
    );
    check(
        &["integration", "--platform", &platform.display().to_string()],
        2,
        &[&checks.display().to_string(), "exist"],
    );
}

#[test]
fn unreachable_api_server_names_the_url_and_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: not-a-secret}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    check(
        &[
            "integration",
            "--provider",
            "existing",
            "--kubeconfig",
            &kubeconfig.display().to_string(),
        ],
        4,
        &["https://127.0.0.1:1", "cargo xtask hollow up"],
    );
}

#[test]
fn unknown_providers_are_refused_listing_the_valid_ones() {
    let run = xtask(&["integration", "--provider", "gke"]);
    assert_eq!(run.code, 2, "{}", run.output());
    assert!(
        run.stderr
            .contains("possible values: hollow, existing, kind, k3s, local"),
        "{}",
        run.output()
    );
}

#[test]
fn an_empty_pin_set_is_refused_by_pins_check_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let pins = dir.path().join("pins.toml");
    std::fs::write(&pins, "# nothing pinned\n").unwrap();
    let path = pins.display().to_string();
    for command in [&["pins", "check", "--offline"][..], &["pins", "list"][..]] {
        let mut args = command.to_vec();
        args.extend(["--pins", &path]);
        check(
            &args,
            2,
            &[&format!("{path}:1: (file): the pin set has no pins")],
        );
    }
}

#[test]
fn integer_settings_outside_their_bounds_or_not_integers_are_refused_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    for (value, message) in [
        (
            "99999999999",
            "`stages.ingress.replicas`: 99999999999 is not within [0, 20]",
        ),
        (
            "1.5",
            "`stages.ingress.replicas`: 1.5 is not an integer within [0, 20]",
        ),
        ("-1", "`stages.ingress.replicas`: -1 is not within [0, 20]"),
    ] {
        let config = write_config(
            dir.path(),
            "bounded",
            &format!("stages:\n  ingress:\n    replicas: {value}\n"),
        );
        let path = config.display().to_string();
        check(
            &["integration", "--config", &path],
            2,
            &[&format!("{path}:6: {message}")],
        );
    }
}

#[test]
fn names_yaml_would_read_as_numbers_or_keywords_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numeric.yaml");
    std::fs::write(
        &path,
        "project_name: \"1e3\"\nnamespace: dev\ndomain: x.seatrial.test\n",
    )
    .unwrap();
    let path = path.display().to_string();
    check(
        &["integration", "--config", &path],
        2,
        &[&format!(
            "{path}:1: `project_name: 1e3` would be read as a number or a YAML keyword"
        )],
    );
}
