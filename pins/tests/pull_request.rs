//! `pr` against GitHub's REST API on wiremock (response shapes from GitHub's REST docs):
//! the exact files, the commit on the base, the branch, the body and the labels, asserted on
//! the requests wiremock received.

use pins::pr::{open_pull_request, CommitFile, PrTarget};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn github(open_pull: Option<u64>, branch_exists: bool) -> MockServer {
    let server = MockServer::start().await;
    let mock = |verb: &str, route: &str, status: u16, body: Value| {
        Mock::given(method(verb))
            .and(path(route.to_owned()))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
    };
    mock(
        "GET",
        "/repos/acme/platform",
        200,
        json!({"full_name": "acme/platform", "default_branch": "main"}),
    )
    .mount(&server)
    .await;
    mock(
        "GET",
        "/repos/acme/platform/git/ref/heads/main",
        200,
        json!({"ref": "refs/heads/main", "object": {"type": "commit", "sha": "base-commit-sha"}}),
    )
    .mount(&server)
    .await;
    mock(
        "GET",
        "/repos/acme/platform/git/commits/base-commit-sha",
        200,
        json!({"sha": "base-commit-sha", "tree": {"sha": "base-tree-sha"}}),
    )
    .mount(&server)
    .await;
    mock("POST", "/repos/acme/platform/git/blobs", 201, json!({"sha": "blob-sha", "url": "https://api.github.com/repos/acme/platform/git/blobs/blob-sha"})).mount(&server).await;
    mock(
        "POST",
        "/repos/acme/platform/git/trees",
        201,
        json!({"sha": "new-tree-sha", "tree": []}),
    )
    .mount(&server)
    .await;
    mock(
        "POST",
        "/repos/acme/platform/git/commits",
        201,
        json!({"sha": "new-commit-sha", "tree": {"sha": "new-tree-sha"}}),
    )
    .mount(&server)
    .await;
    if branch_exists {
        mock("GET", "/repos/acme/platform/git/ref/heads/seatrial/pins", 200, json!({"ref": "refs/heads/seatrial/pins", "object": {"type": "commit", "sha": "old-sha"}})).mount(&server).await;
        mock("PATCH", "/repos/acme/platform/git/refs/heads/seatrial/pins", 200, json!({"ref": "refs/heads/seatrial/pins", "object": {"type": "commit", "sha": "new-commit-sha"}})).mount(&server).await;
    } else {
        mock("GET", "/repos/acme/platform/git/ref/heads/seatrial/pins", 404, json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/git/refs#get-a-reference", "status": "404"})).mount(&server).await;
        mock("POST", "/repos/acme/platform/git/refs", 201, json!({"ref": "refs/heads/seatrial/pins", "object": {"type": "commit", "sha": "new-commit-sha"}})).mount(&server).await;
    }
    let open: Value = match open_pull {
        Some(number) => {
            json!([{"number": number, "state": "open", "html_url": format!("https://github.com/acme/platform/pull/{number}")}])
        }
        None => json!([]),
    };
    Mock::given(method("GET"))
        .and(path("/repos/acme/platform/pulls"))
        .and(query_param("state", "open"))
        .and(query_param("head", "acme:seatrial/pins"))
        .respond_with(ResponseTemplate::new(200).set_body_json(open))
        .mount(&server)
        .await;
    mock("POST", "/repos/acme/platform/pulls", 201, json!({"number": 42, "state": "open", "html_url": "https://github.com/acme/platform/pull/42"})).mount(&server).await;
    mock("PATCH", "/repos/acme/platform/pulls/7", 200, json!({"number": 7, "state": "open", "html_url": "https://github.com/acme/platform/pull/7"})).mount(&server).await;
    mock(
        "POST",
        "/repos/acme/platform/issues/42/labels",
        200,
        json!([{"name": "dependencies"}, {"name": "pins"}]),
    )
    .mount(&server)
    .await;
    mock(
        "POST",
        "/repos/acme/platform/issues/7/labels",
        200,
        json!([{"name": "dependencies"}, {"name": "pins"}]),
    )
    .mount(&server)
    .await;
    server
}

fn target(server: &MockServer) -> PrTarget {
    PrTarget {
        api: server.uri(),
        repo: "acme/platform".into(),
        base: None,
        branch: "seatrial/pins".into(),
        labels: vec!["dependencies".into(), "pins".into()],
        title: "pins: bump 1 pin".into(),
        body: "| Pin | Group | Old | New | Release notes |\n|---|---|---|---|---|\n| `images.traefik` | ingress | v3.3.4 | v3.4.0 | — |\n".into(),
    }
}

fn files() -> Vec<CommitFile> {
    vec![
        CommitFile {
            path: "pins/pins.toml".into(),
            text: "[images.traefik]\ntag = \"v3.4.0\"\n".into(),
        },
        CommitFile {
            path: "pins/CHANGELOG.md".into(),
            text: "# Pin changes\n".into(),
        },
    ]
}

async fn bodies(server: &MockServer, verb: &str, route: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.method.as_str() == verb && request.url.path() == route)
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_pull_request_is_created_with_the_exact_files_and_body() {
    let server = github(None, false).await;
    let outcome = open_pull_request("secret-token", &target(&server), &files())
        .await
        .unwrap();
    assert_eq!(
        (outcome.number, outcome.created, outcome.commit.as_str()),
        (42, true, "new-commit-sha")
    );

    let requests = server.received_requests().await.unwrap();
    assert!(requests
        .iter()
        .all(|r| r.headers.get("authorization").unwrap() == "Bearer secret-token"));
    assert_eq!(
        bodies(&server, "POST", "/repos/acme/platform/git/blobs").await,
        vec![
            json!({"content": "[images.traefik]\ntag = \"v3.4.0\"\n", "encoding": "utf-8"}),
            json!({"content": "# Pin changes\n", "encoding": "utf-8"}),
        ]
    );
    assert_eq!(
        bodies(&server, "POST", "/repos/acme/platform/git/trees").await,
        vec![json!({"base_tree": "base-tree-sha", "tree": [
            {"path": "pins/pins.toml", "mode": "100644", "type": "blob", "sha": "blob-sha"},
            {"path": "pins/CHANGELOG.md", "mode": "100644", "type": "blob", "sha": "blob-sha"},
        ]})]
    );
    let commits = bodies(&server, "POST", "/repos/acme/platform/git/commits").await;
    assert_eq!(commits[0]["parents"], json!(["base-commit-sha"]));
    assert_eq!(commits[0]["tree"], "new-tree-sha");
    assert!(commits[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("pins: bump 1 pin\n\n| Pin |"));
    assert_eq!(
        bodies(&server, "POST", "/repos/acme/platform/git/refs").await,
        vec![json!({"ref": "refs/heads/seatrial/pins", "sha": "new-commit-sha"})]
    );
    assert_eq!(
        bodies(&server, "POST", "/repos/acme/platform/pulls").await,
        vec![
            json!({"title": "pins: bump 1 pin", "head": "seatrial/pins", "base": "main", "body": target(&server).body})
        ]
    );
    assert_eq!(
        bodies(&server, "POST", "/repos/acme/platform/issues/42/labels").await,
        vec![json!({"labels": ["dependencies", "pins"]})]
    );
}

#[tokio::test]
async fn an_open_pull_request_from_the_branch_is_updated_not_duplicated() {
    let server = github(Some(7), true).await;
    let outcome = open_pull_request("secret-token", &target(&server), &files())
        .await
        .unwrap();
    assert_eq!((outcome.number, outcome.created), (7, false));
    assert!(
        bodies(&server, "POST", "/repos/acme/platform/pulls")
            .await
            .is_empty(),
        "a second pull request was opened"
    );
    assert!(bodies(&server, "POST", "/repos/acme/platform/git/refs")
        .await
        .is_empty());
    assert_eq!(
        bodies(
            &server,
            "PATCH",
            "/repos/acme/platform/git/refs/heads/seatrial/pins"
        )
        .await,
        vec![json!({"sha": "new-commit-sha", "force": true})]
    );
    assert_eq!(
        bodies(&server, "PATCH", "/repos/acme/platform/pulls/7").await,
        vec![json!({"title": "pins: bump 1 pin", "body": target(&server).body})]
    );
    assert_eq!(
        bodies(&server, "POST", "/repos/acme/platform/issues/7/labels")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_refusal_names_the_step_and_githubs_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/platform"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest", "status": "403"})))
        .mount(&server)
        .await;
    let error = open_pull_request("t", &target(&server), &files())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "GitHub API: reading the repository: HTTP 403: Resource not accessible by integration"
    );
}
