//! The terminal table: one block per run (headline figures, then one line
//! per operation, then the invariant checks), and the comparisons.

use std::fmt::Write;

use super::{HarnessReport, RunReport};

fn run_block(out: &mut String, run: &RunReport) {
    let _ = writeln!(
        out,
        "\n== {} | {} | {} clients{} | {:.1} s | {}",
        run.scenario,
        run.mode,
        run.clients,
        if run.connections > 0 {
            format!(", {} connections", run.connections)
        } else {
            String::new()
        },
        run.seconds,
        if run.passed() {
            "invariants OK"
        } else {
            "INVARIANT FAILED"
        }
    );
    let _ = writeln!(
        out,
        "   attempts {:>10.0}/s   successful holds {:>10.0}/s   all requests {:>10.0}/s   peak RSS {} ({})",
        run.attempts_per_sec,
        run.successful_holds_per_sec,
        run.requests_per_sec,
        run.peak_rss_mib
            .map_or("n/a".to_string(), |m| format!("{m:.0} MiB")),
        run.rss_of
    );
    let outcomes: Vec<String> = run
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(out, "   outcomes: {}", outcomes.join(", "));
    let _ = writeln!(
        out,
        "   {:<14} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}  outcomes",
        "operation", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, op) in &run.ops {
        let outcomes: Vec<String> = op
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "   {:<14} {:>10} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  {}",
            name,
            op.count,
            op.per_sec,
            op.p50_ms,
            op.p95_ms,
            op.p99_ms,
            op.max_ms,
            outcomes.join(" ")
        );
    }
    if !run.facts.is_empty() {
        let facts: Vec<String> = run.facts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "   facts: {}", facts.join(", "));
    }
    for check in &run.invariants {
        let _ = writeln!(
            out,
            "   [{}] {}: {}",
            if check.ok { " ok " } else { "FAIL" },
            check.name,
            check.detail
        );
    }
}

/// One run's block.
pub fn render_run(run: &RunReport) -> String {
    let mut out = String::new();
    run_block(&mut out, run);
    out
}

/// The comparisons with the targets, and the notes (the runs were printed as they ended).
pub fn render_summary(report: &HarnessReport) -> String {
    let mut out = String::new();
    let failed: Vec<String> = report
        .runs
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{} {} {} clients", r.scenario, r.mode, r.clients))
        .collect();
    let _ = writeln!(
        out,
        "\n== {} run(s); invariants: {}",
        report.runs.len(),
        if failed.is_empty() {
            "all held".to_string()
        } else {
            format!("FAILED in {}", failed.join("; "))
        }
    );
    if !report.comparisons.is_empty() {
        let _ = writeln!(out, "== comparisons with the issue's targets");
        for c in &report.comparisons {
            let _ = writeln!(out, "   {}: {:.3} ({})", c.name, c.ratio, c.detail);
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
