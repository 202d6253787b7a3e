//! The client `connect` returns answers a 503 at once instead of retrying it.
//!
//! A loopback HTTP server stands in for the API server here because the property under test
//! is the client's own configuration (kube's default retry layer would send the request up
//! to 16 times over minutes); on the hollow cluster the same 503 comes from a real
//! aggregated API (xtask's `sweep::a_group_that_answers_503…`), where the number of attempts
//! cannot be counted.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_503_is_returned_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "",
            "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "", "platform": ""
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/apis/metrics.k8s.io/v1beta1"))
        .respond_with(ResponseTemplate::new(503).set_body_string("service unavailable\n"))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{}\"}}\nusers:\n- name: u\n  user: {{}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
            server.uri()
        ),
    )
    .unwrap();

    let connection = deployer::providers::connect(&kubeconfig, None, "no hint")
        .await
        .unwrap();
    let answer = connection
        .client
        .list_api_group_resources("metrics.k8s.io/v1beta1")
        .await;

    assert!(
        matches!(&answer, Err(kube::Error::Api(status)) if status.code == 503),
        "{answer:?}"
    );
    let requests = server.received_requests().await.unwrap();
    let attempts = requests
        .iter()
        .filter(|request| request.url.path() == "/apis/metrics.k8s.io/v1beta1")
        .count();
    assert_eq!(attempts, 1, "{requests:?}");
}
