//! Reading `apiserver_request_total` from the API server's `/metrics` (Prometheus text
//! exposition format) to count the requests a wait method made.

/// The API server's `/metrics` text.
///
/// Errors: the request's, as text.
pub async fn read(client: &kube::Client) -> Result<String, String> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("a valid request");
    client
        .request_text(request)
        .await
        .map_err(|error| format!("failed to read /metrics: {error}"))
}

/// Sums `apiserver_request_total` over the series whose `resource` label is `resource` and
/// whose `verb` is one of `verbs` (upper case, as the API server labels them: `GET`, `LIST`,
/// `WATCH`, …).
pub fn request_total(metrics: &str, resource: &str, verbs: &[&str]) -> f64 {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("apiserver_request_total{"))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once("} ")?;
            let label = |name: &str| {
                labels
                    .split("\",")
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                    .map(|value| value.trim_end_matches('"'))
            };
            (label("resource") == Some(resource) && verbs.contains(&label("verb")?))
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Sums `apiserver_request_total` over every series: all resources, verbs and codes.
pub fn all_requests(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("apiserver_request_total{"))
        .filter_map(|rest| rest.rsplit_once("} ")?.1.trim().parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_matching_series_only() {
        let text = r#"# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="bench.seatrial.dev",resource="benchtargets",scope="resource",subresource="",verb="GET",version="v1"} 12
apiserver_request_total{code="0",component="apiserver",contentType="application/json",dry_run="",group="bench.seatrial.dev",resource="benchtargets",scope="namespace",subresource="",verb="WATCH",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="bench.seatrial.dev",resource="benchtargets",scope="resource",subresource="status",verb="PATCH",version="v1"} 100
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 7
"#;
        assert_eq!(
            request_total(text, "benchtargets", &["GET", "LIST", "WATCH"]),
            15.0
        );
        assert_eq!(request_total(text, "pods", &["LIST"]), 7.0);
        assert_eq!(request_total(text, "benchtargets", &["PATCH"]), 100.0);
        assert_eq!(all_requests(text), 122.0);
    }
}
