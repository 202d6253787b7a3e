//! The SVG timeline (`timeline.svg`): one row per stage, with bars for apply, readiness wait
//! and checks on a shared time axis, each check as a thin bar under its stage, failures in red;
//! a last row for teardown and sweep. Hovering a bar shows its name and duration (`<title>`).

use svg::node::element::{Group, Line, Rectangle, Text, Title};
use svg::Document;

use super::record::{CheckResult, RunRecord, StageStatus};

const LEFT: f64 = 190.0;
const WIDTH: f64 = 760.0;
const ROW: f64 = 34.0;
const TOP: f64 = 56.0;

/// Colours: apply, wait, checks passed, failed, flaky, teardown.
const APPLY: &str = "#4e79a7";
const WAIT: &str = "#f2b447";
const PASSED: &str = "#59a14f";
const FAILED: &str = "#d62728";
const FLAKY: &str = "#b07aa1";
const TEARDOWN: &str = "#9c9c9c";

fn bar(x: f64, y: f64, width: f64, height: f64, colour: &str, title: String) -> Rectangle {
    Rectangle::new()
        .set("x", x)
        .set("y", y)
        .set("width", width.max(1.5))
        .set("height", height)
        .set("fill", colour)
        .add(Title::new(title))
}

fn label(x: f64, y: f64, text: &str) -> Text {
    Text::new(text)
        .set("x", x)
        .set("y", y)
        .set("font-family", "sans-serif")
        .set("font-size", 12)
}

/// Renders the run as an SVG document.
pub fn timeline_svg(record: &RunRecord) -> String {
    let teardown_seconds = record.teardown.as_ref().map_or(0.0, |t| t.seconds)
        + record.sweep.as_ref().map_or(0.0, |s| s.seconds);
    let total = record
        .seconds
        .max(record.deploy_end_seconds() + teardown_seconds)
        .max(1.0);
    let scale = WIDTH / total;
    let x = |seconds: f64| LEFT + seconds.max(0.0) * scale;
    let rows = record.stages.len() + 2;
    let height = TOP + rows as f64 * ROW + 40.0;
    let mut document = Document::new()
        .set("xmlns", "http://www.w3.org/2000/svg")
        .set("width", LEFT + WIDTH + 30.0)
        .set("height", height)
        .set("viewBox", (0, 0, LEFT + WIDTH + 30.0, height))
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        )
        .add(
            label(
                10.0,
                22.0,
                &format!(
                    "seatrial {} — run {} on {}: {:?}, {:.1} s",
                    record.deployment,
                    record.run_id,
                    record.provider,
                    record.outcome,
                    record.seconds
                ),
            )
            .set("font-size", 14)
            .set("font-weight", "bold"),
        );

    // Legend.
    let legend = [
        ("apply", APPLY),
        ("wait", WAIT),
        ("check passed", PASSED),
        ("failed", FAILED),
        ("flaky", FLAKY),
        ("teardown + sweep", TEARDOWN),
    ];
    let mut legend_x = 10.0;
    for (name, colour) in legend {
        document = document
            .add(
                Rectangle::new()
                    .set("x", legend_x)
                    .set("y", 32.0)
                    .set("width", 10)
                    .set("height", 10)
                    .set("fill", colour),
            )
            .add(label(legend_x + 14.0, 41.0, name).set("font-size", 11));
        legend_x += 24.0 + name.len() as f64 * 6.5;
    }

    // Time axis: about 8 ticks on round seconds.
    let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|step| total / step <= 8.0)
        .unwrap_or(1200.0);
    let axis_y = TOP + rows as f64 * ROW;
    let mut tick = 0.0;
    let mut axis = Group::new();
    while tick <= total + 1e-9 {
        axis = axis
            .add(
                Line::new()
                    .set("x1", x(tick))
                    .set("x2", x(tick))
                    .set("y1", TOP - 4.0)
                    .set("y2", axis_y)
                    .set("stroke", "#e0e0e0"),
            )
            .add(label(x(tick) - 6.0, axis_y + 16.0, &format!("{tick:.0} s")).set("font-size", 11));
        tick += step;
    }
    document = document.add(axis);

    let mut y = TOP;
    // Provider row.
    document = document.add(label(10.0, y + 15.0, "provider")).add(bar(
        x(0.0),
        y + 4.0,
        record.provider_seconds * scale,
        14.0,
        TEARDOWN,
        format!(
            "provider {} {}: {:.1} s",
            record.provider,
            if record.provider_reused {
                "reused"
            } else {
                "started"
            },
            record.provider_seconds
        ),
    ));
    y += ROW;
    for stage in &record.stages {
        let colour = match stage.status {
            StageStatus::DeployFailed | StageStatus::ChecksFailed => FAILED,
            _ => "black",
        };
        let mut name = label(10.0, y + 15.0, &stage.name).set("fill", colour);
        let idle = matches!(stage.status, StageStatus::NotRun | StageStatus::Skipped);
        if idle {
            name = name.set("fill", "#9c9c9c");
        }
        document = document.add(name);
        if idle {
            document = document
                .add(label(x(0.0) + 4.0, y + 15.0, stage.status_word()).set("fill", "#9c9c9c"));
            y += ROW;
            continue;
        }
        let start = stage.started_seconds;
        document = document
            .add(bar(
                x(start),
                y + 4.0,
                stage.apply_seconds * scale,
                14.0,
                APPLY,
                format!(
                    "{}: apply {} objects, {:.2} s",
                    stage.name,
                    stage.objects.len(),
                    stage.apply_seconds
                ),
            ))
            .add(bar(
                x(start + stage.apply_seconds),
                y + 4.0,
                stage.wait_seconds * scale,
                14.0,
                if stage.status == StageStatus::DeployFailed {
                    FAILED
                } else {
                    WAIT
                },
                format!(
                    "{}: readiness wait, {:.2} s",
                    stage.name, stage.wait_seconds
                ),
            ));
        let lanes = stage.checks.len().max(1) as f64;
        let lane = (ROW - 22.0) / lanes;
        for (index, check) in stage.checks.iter().enumerate() {
            let colour = match check.result {
                CheckResult::Passed => PASSED,
                CheckResult::Failed => FAILED,
                CheckResult::Flaky => FLAKY,
                CheckResult::Skipped => TEARDOWN,
            };
            document = document.add(bar(
                x(check.started_seconds),
                y + 19.0 + index as f64 * lane,
                check.seconds * scale,
                lane.max(1.5),
                colour,
                format!(
                    "{}::{} {} in {:.2} s: {}",
                    stage.name,
                    check.name,
                    check.result.word(),
                    check.seconds,
                    check.message.lines().next().unwrap_or_default()
                ),
            ));
        }
        y += ROW;
    }
    // Teardown row.
    let teardown_label = match (&record.teardown, record.kept) {
        (_, true) => "kept".to_owned(),
        (Some(_), false) => "teardown + sweep".to_owned(),
        (None, false) => "no teardown".to_owned(),
    };
    document = document.add(label(10.0, y + 15.0, &teardown_label));
    if record.teardown.is_some() || record.sweep.is_some() {
        let leftovers = record.sweep.as_ref().map_or(0, |s| s.leftovers.len());
        document = document.add(bar(
            x(record.deploy_end_seconds()),
            y + 4.0,
            teardown_seconds * scale,
            14.0,
            if leftovers > 0 { FAILED } else { TEARDOWN },
            format!("teardown + sweep: {teardown_seconds:.1} s, {leftovers} leftovers"),
        ));
    }
    document.to_string()
}
