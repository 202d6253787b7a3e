//! Reports of a run: the JSON run record, JUnit XML, a Markdown summary, an SVG timeline, and
//! the per-stage table printed at the end.

mod files;
mod junit;
mod markdown;
mod record;
mod table;
mod timeline;

pub use files::write_all;
pub use junit::write_junit;
pub use markdown::{markdown_summary, write_markdown, GITHUB_STEP_SUMMARY};
pub use record::{
    ApiOutage, CheckRecord, CheckResult, Outcome, PrunedObject, RunRecord, StageRecord,
    StageStatus, SweepState, TeardownRecord, UpgradeRecord,
};
pub use table::stage_table;
pub use timeline::timeline_svg;

#[cfg(test)]
mod tests {
    use deployer::discovery::Unavailable;
    use deployer::providers::kind::DockerLeftover;
    use deployer::sweep::SweepReport;

    use super::*;

    /// A kind run that passed its checks, could not look in one group version, and left a
    /// Docker network behind.
    fn kind_run_with_docker_leftovers() -> RunRecord {
        RunRecord {
            run_id: "20261122t000000-abcd".into(),
            deployment: "seatrial".into(),
            server_url: "https://127.0.0.1:6443".into(),
            config: "<embedded default config>".into(),
            seconds: 1.0,
            provider_seconds: 0.5,
            sweep: Some(SweepReport {
                resource_types_listed: 40,
                unchecked: vec![Unavailable {
                    what: "metrics.k8s.io/v1beta1".into(),
                    reason: "HTTP 503: service unavailable".into(),
                }],
                ..SweepReport::default()
            }),
            docker_leftovers: vec![DockerLeftover {
                kind: "network".into(),
                name: "kind".into(),
            }],
            outcome: Outcome::Leftovers,
            exit_code: 3,
            ..RunRecord::empty("kind", "2026-11-22T00:00:00Z")
        }
    }

    #[test]
    fn summary_names_docker_leftovers_and_where_the_sweep_could_not_look() {
        let summary = markdown_summary(&kind_run_with_docker_leftovers());
        assert!(
            summary.contains("## seatrial `seatrial`: LEFTOVERS"),
            "{summary}"
        );
        assert!(
            summary.contains(
                "### 1 Docker leftovers after `kind delete cluster`\n\n- network `kind`\n"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("- `metrics.k8s.io/v1beta1`: HTTP 503: service unavailable\n"),
            "{summary}"
        );
        let table = stage_table(&kind_run_with_docker_leftovers());
        assert!(table.contains("0 leftovers, 1 unchecked"), "{table}");
    }

    #[test]
    fn the_summary_names_the_failed_scenarios_bundle_and_what_it_found() {
        let mut record = kind_run_with_docker_leftovers();
        record.scenario_diagnostics = Some(crate::scenario_diagnostics::ScenarioBundle {
            dir: "diagnostics/scenarios".into(),
            pods: vec!["hub-7c9 Running, ready 1/1, 0 restarts".into()],
            warnings: vec!["Unhealthy pod/hub-7c9: Readiness probe failed: `x` (x4)".into()],
        });
        let summary = markdown_summary(&record);
        assert!(
            summary.contains(
                "Diagnostics of the failed scenarios: `diagnostics/scenarios/` (pods.yaml, events.txt, logs/, nodes.txt)\n\n- pod hub-7c9 Running, ready 1/1, 0 restarts\n- warning event: Unhealthy pod/hub-7c9: Readiness probe failed: 'x' (x4)\n"
            ),
            "{summary}"
        );
        assert!(!markdown_summary(&kind_run_with_docker_leftovers()).contains("failed scenarios"));
    }

    #[test]
    fn every_summary_has_a_sweep_section_saying_what_became_of_it() {
        let done = markdown_summary(&kind_run_with_docker_leftovers());
        assert!(
            done.contains("### Sweep: done\n\nTeardown and sweep: 0 leftovers.\n"),
            "{done}"
        );

        let mut record = kind_run_with_docker_leftovers();
        record.sweep = None;
        record.sweep_state = SweepState::Failed {
            reason: "failed to list namespaces: connection reset".into(),
        };
        let failed = markdown_summary(&record);
        assert!(
            failed.contains("### Sweep: FAILED\n\n```text\nfailed to list namespaces: connection reset\n```\n\nFinish it with `cargo xtask teardown --run 20261122t000000-abcd`."),
            "{failed}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        write_junit(&record, &path).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(
            xml.contains(r#"name="teardown::sweep""#)
                && xml.contains("failed to list namespaces: connection reset"),
            "{xml}"
        );

        record.sweep_state = SweepState::NotPossible {
            reason: "the API server stopped answering (connection refused) and did not answer again within 60 s".into(),
        };
        record.api_outage = Some(ApiOutage {
            started_seconds: 12.0,
            noticed_seconds: 15.1,
            returned_seconds: None,
            reason: "connection refused".into(),
            during: "deploy".into(),
        });
        let not_possible = markdown_summary(&record);
        assert!(
            not_possible.contains("### Sweep: not possible\n\nthe API server stopped answering (connection refused) and did not answer again within 60 s. Finish it with `cargo xtask teardown --run 20261122t000000-abcd`."),
            "{not_possible}"
        );
        assert!(
            not_possible.contains("### The API server stopped answering during the deploy\n\nFrom 12.0 s into the run (noticed at 15.1 s: connection refused); it did not answer again while the run waited."),
            "{not_possible}"
        );

        record.sweep_state = SweepState::NotRun {
            reason: "the deployment was kept".into(),
        };
        let kept = markdown_summary(&record);
        assert!(
            kept.contains("### Sweep: not run\n\nthe deployment was kept.\n"),
            "{kept}"
        );
    }

    #[test]
    fn junit_fails_teardown_docker_on_docker_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        write_junit(&kind_run_with_docker_leftovers(), &path).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(xml.contains(r#"name="teardown::docker""#), "{xml}");
        assert!(xml.contains("1 Docker leftovers:\nnetwork kind"), "{xml}");
        assert!(
            xml.contains("could not check metrics.k8s.io/v1beta1"),
            "{xml}"
        );

        let mut hollow = kind_run_with_docker_leftovers();
        hollow.provider = "hollow".into();
        hollow.docker_leftovers.clear();
        write_junit(&hollow, &path).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(!xml.contains("teardown::docker"), "{xml}");
    }
}
