//! The per-stage table printed at the end of a run.

use super::record::RunRecord;

/// Renders the run as a plain-text table: stage, status, objects, checks passed/failed, seconds.
pub fn stage_table(record: &RunRecord) -> String {
    let mut rows = vec![[
        "stage".to_owned(),
        "status".into(),
        "objects".into(),
        "checks".into(),
        "seconds".into(),
    ]];
    for stage in &record.stages {
        rows.push([
            stage.name.clone(),
            stage.status_word().to_owned(),
            stage.objects.len().to_string(),
            stage.check_summary(),
            format!(
                "{:.1}",
                stage.apply_seconds + stage.wait_seconds + stage.checks_seconds
            ),
        ]);
    }
    if let Some(teardown) = &record.teardown {
        rows.push([
            "teardown".into(),
            if teardown.problems.is_empty() {
                "done"
            } else {
                "PROBLEMS"
            }
            .into(),
            teardown.deleted.to_string(),
            String::new(),
            format!("{:.1}", teardown.seconds),
        ]);
    }
    if let Some(sweep) = &record.sweep {
        let mut status = if sweep.leftovers.is_empty() {
            "0 leftovers".to_owned()
        } else {
            format!("{} LEFTOVERS", sweep.leftovers.len())
        };
        if !sweep.unchecked.is_empty() {
            status.push_str(&format!(", {} unchecked", sweep.unchecked.len()));
        }
        rows.push([
            "sweep".into(),
            status,
            sweep.deleted.len().to_string(),
            String::new(),
            format!("{:.1}", sweep.seconds),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for (index, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
        if index == 0 {
            text.push_str(
                &widths
                    .iter()
                    .map(|width| "-".repeat(*width))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
            text.push('\n');
        }
    }
    text
}
