//! The SVG timeline (`timeline.svg`): one row per stage, with bars for apply, readiness wait
//! and checks on a shared time axis, each check as a thin bar under its stage, failures in red;
//! a last row for teardown and sweep. Hovering a bar shows its name and duration (`<title>`).

use svg::node::element::{Group, Line, Rectangle, Text, Title};
use svg::Document;

use super::record::{CheckResult, RunRecord, StageRecord, StageStatus};

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

/// Pixels the provider's time gets when the axis is broken.
const BREAK_WIDTH: f64 = 110.0;

/// Seconds → x. When the provider's start-up (a cluster start, a build) takes most of the
/// run, its span is drawn at [`BREAK_WIDTH`] pixels, labelled with its real duration, and the
/// rest of the run gets the remaining width at its own scale: otherwise minutes of start-up
/// squeeze every stage into a few pixels.
struct TimeAxis {
    /// 0 when the axis is not broken, else the provider's seconds.
    broken_at: f64,
    /// Pixels per second after the break (the whole run's scale when unbroken).
    scale: f64,
}

impl TimeAxis {
    fn new(provider_seconds: f64, total: f64) -> TimeAxis {
        let rest = total - provider_seconds;
        if provider_seconds > 10.0 && provider_seconds > rest {
            TimeAxis {
                broken_at: provider_seconds,
                scale: (WIDTH - BREAK_WIDTH) / rest.max(1.0),
            }
        } else {
            TimeAxis {
                broken_at: 0.0,
                scale: WIDTH / total,
            }
        }
    }

    /// The width of `seconds` starting at `start` (bars cross the break correctly).
    fn span(&self, start: f64, seconds: f64) -> f64 {
        self.x(start + seconds) - self.x(start)
    }

    fn x(&self, seconds: f64) -> f64 {
        let seconds = seconds.max(0.0);
        if self.broken_at == 0.0 {
            LEFT + seconds * self.scale
        } else if seconds <= self.broken_at {
            LEFT + seconds / self.broken_at * BREAK_WIDTH
        } else {
            LEFT + BREAK_WIDTH + (seconds - self.broken_at) * self.scale
        }
    }
}

/// Renders the run as an SVG document: the title and legend, the time axis, then a row for
/// the provider, one per stage and one for teardown and sweep.
pub fn timeline_svg(record: &RunRecord) -> String {
    let teardown_seconds = record.teardown.as_ref().map_or(0.0, |t| t.seconds)
        + record.sweep.as_ref().map_or(0.0, |s| s.seconds);
    let total = record
        .seconds
        .max(record.deploy_end_seconds() + teardown_seconds)
        .max(1.0);
    let axis = TimeAxis::new(record.provider_seconds, total);
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
        .add(title(record))
        .add(legend())
        .add(ticks(&axis, total, TOP + rows as f64 * ROW));
    let mut y = TOP;
    document = document.add(provider_row(record, &axis, y));
    for stage in &record.stages {
        y += ROW;
        document = document.add(stage_row(stage, &axis, y));
    }
    y += ROW;
    document = document.add(teardown_row(record, &axis, y, teardown_seconds));
    document.to_string()
}

/// The bold first line: deployment, run, provider, outcome, seconds.
fn title(record: &RunRecord) -> Text {
    label(
        10.0,
        22.0,
        &format!(
            "seatrial {} — run {} on {}: {:?}, {:.1} s",
            record.deployment, record.run_id, record.provider, record.outcome, record.seconds
        ),
    )
    .set("font-size", 14)
    .set("font-weight", "bold")
}

/// A swatch and a name per colour.
fn legend() -> Group {
    let legend = [
        ("apply", APPLY),
        ("wait", WAIT),
        ("check passed", PASSED),
        ("failed", FAILED),
        ("flaky", FLAKY),
        ("teardown + sweep", TEARDOWN),
    ];
    let mut group = Group::new();
    let mut legend_x = 10.0;
    for (name, colour) in legend {
        group = group
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
    group
}

/// The time axis at `axis_y`: about 8 ticks on round seconds (after the break, when there is
/// one, which is labelled with the provider's seconds).
fn ticks(axis: &TimeAxis, total: f64, axis_y: f64) -> Group {
    let shown = total - axis.broken_at;
    let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|step| shown / step <= 8.0)
        .unwrap_or(1200.0);
    let mut tick = axis.broken_at;
    let mut ticks = Group::new();
    if axis.broken_at > 0.0 {
        ticks = ticks.add(
            label(
                LEFT + BREAK_WIDTH - 2.0,
                axis_y + 16.0,
                &format!("// {:.0} s", axis.broken_at),
            )
            .set("font-size", 11)
            .set("fill", "#555555"),
        );
        tick += step;
    }
    while tick <= total + 1e-9 {
        let x = axis.x(tick);
        ticks = ticks
            .add(
                Line::new()
                    .set("x1", x)
                    .set("x2", x)
                    .set("y1", TOP - 4.0)
                    .set("y2", axis_y)
                    .set("stroke", "#e0e0e0"),
            )
            .add(label(x - 6.0, axis_y + 16.0, &format!("{tick:.0} s")).set("font-size", 11));
        tick += step;
    }
    ticks
}

/// The provider's bar, with its duration in words beside it (behind a break the bar's length
/// says nothing).
fn provider_row(record: &RunRecord, axis: &TimeAxis, y: f64) -> Group {
    let how = if record.provider_reused {
        "reused"
    } else {
        "started"
    };
    Group::new()
        .add(label(10.0, y + 15.0, "provider"))
        .add(bar(
            axis.x(0.0),
            y + 4.0,
            axis.span(0.0, record.provider_seconds),
            14.0,
            TEARDOWN,
            format!(
                "provider {} {how}: {:.1} s",
                record.provider, record.provider_seconds
            ),
        ))
        .add(
            label(
                axis.x(record.provider_seconds) + 6.0,
                y + 15.0,
                &format!("{:.1} s ({how})", record.provider_seconds),
            )
            .set("fill", "#555555"),
        )
}

/// A stage's name, its apply and wait bars, and one thin bar per check (its result's colour);
/// a stage that did not run shows its status word instead.
fn stage_row(stage: &StageRecord, axis: &TimeAxis, y: f64) -> Group {
    let idle = matches!(stage.status, StageStatus::NotRun | StageStatus::Skipped);
    let colour = match stage.status {
        _ if idle => "#9c9c9c",
        StageStatus::DeployFailed | StageStatus::ChecksFailed => FAILED,
        _ => "black",
    };
    let mut row = Group::new().add(label(10.0, y + 15.0, &stage.name).set("fill", colour));
    if idle {
        return row
            .add(label(axis.x(0.0) + 4.0, y + 15.0, stage.status_word()).set("fill", "#9c9c9c"));
    }
    let start = stage.started_seconds;
    let waited = start + stage.apply_seconds;
    row = row
        .add(bar(
            axis.x(start),
            y + 4.0,
            axis.span(start, stage.apply_seconds),
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
            axis.x(waited),
            y + 4.0,
            axis.span(waited, stage.wait_seconds),
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
    let lane = (ROW - 22.0) / stage.checks.len().max(1) as f64;
    for (index, check) in stage.checks.iter().enumerate() {
        let colour = match check.result {
            CheckResult::Passed => PASSED,
            CheckResult::Failed => FAILED,
            CheckResult::Flaky => FLAKY,
            CheckResult::Skipped => TEARDOWN,
        };
        row = row.add(bar(
            axis.x(check.started_seconds),
            y + 19.0 + index as f64 * lane,
            axis.span(check.started_seconds, check.seconds),
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
    row
}

/// "kept", "no teardown", or the teardown + sweep bar (red when anything was left).
fn teardown_row(record: &RunRecord, axis: &TimeAxis, y: f64, teardown_seconds: f64) -> Group {
    let teardown_label = match (&record.teardown, record.kept) {
        (_, true) => "kept",
        (Some(_), false) => "teardown + sweep",
        (None, false) => "no teardown",
    };
    let mut row = Group::new().add(label(10.0, y + 15.0, teardown_label));
    if record.teardown.is_some() || record.sweep.is_some() {
        let leftovers = record.sweep.as_ref().map_or(0, |s| s.leftovers.len());
        let end = record.deploy_end_seconds();
        row = row.add(bar(
            axis.x(end),
            y + 4.0,
            axis.span(end, teardown_seconds),
            14.0,
            if leftovers > 0 { FAILED } else { TEARDOWN },
            format!("teardown + sweep: {teardown_seconds:.1} s, {leftovers} leftovers"),
        ));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_provider_start_is_drawn_behind_a_break_so_stages_stay_readable() {
        // Five minutes of start-up, then twenty seconds of stages.
        let broken = TimeAxis::new(300.0, 320.0);
        assert_eq!(broken.broken_at, 300.0);
        assert_eq!(broken.x(300.0) - broken.x(0.0), BREAK_WIDTH);
        // One second of a stage after the break: tens of pixels, not two and a half.
        let one_second = broken.x(301.0) - broken.x(300.0);
        assert!(one_second > 30.0, "{one_second}");
        assert!((broken.x(320.0) - (LEFT + WIDTH)).abs() < 1e-6);
        // A short start keeps one linear axis.
        let linear = TimeAxis::new(3.0, 20.0);
        assert_eq!(linear.broken_at, 0.0);
        assert!((linear.x(10.0) - (LEFT + WIDTH / 2.0)).abs() < 1e-6);
    }
}
