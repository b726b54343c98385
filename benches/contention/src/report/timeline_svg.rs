//! The stadium timeline chart (`--timeline-svg`), written by hand in the
//! style of [`super::svg`]: for each run with a timeline, two panels
//! against seconds since the start: seats sold (left axis) with users
//! waiting in line and users active (right axis), and the p99 latency of
//! each second's completed requests per operation (log scale). Dashed
//! vertical lines mark when booking opened (a pre-queue) and when the
//! schedule sold out.

use std::fmt::Write;

use super::svg::{escape, log_axis, nice_step, short, Axis, COLORS};
use super::RunReport;
use crate::stats::Op;
use crate::timeline::Sample;

const WIDTH: f64 = 1180.0;
const LEFT: f64 = 90.0;
const PANEL_W: f64 = 980.0;
const PANEL_H: f64 = 240.0;
/// A panel's title above it, and its x label and legend below it.
const PANEL_TITLE: f64 = 30.0;
const PANEL_FOOT: f64 = 66.0;
/// A run's heading above its two panels.
const RUN_TITLE: f64 = 34.0;
const TOP: f64 = 44.0;
/// The operations whose p99 is drawn, in legend order (seat_map: the
/// baselines' row reads).
const LATENCY_OPS: [Op; 5] = [Op::Hold, Op::Pay, Op::Poll, Op::Join, Op::SeatMap];
const SEATS_COLOR: &str = "#1f77b4";
const WAITING_COLOR: &str = "#d62728";
const ACTIVE_COLOR: &str = "#2ca02c";

fn section_height() -> f64 {
    RUN_TITLE + 2.0 * (PANEL_TITLE + PANEL_H + PANEL_FOOT)
}

/// A linear axis from 0 to a round value at or above `top` (at least 1).
fn zero_axis(top: f64) -> Axis {
    let step = nice_step(top.max(1.0), 5.0);
    Axis {
        min: 0.0,
        max: (top.max(1.0) / step).ceil() * step,
        log: false,
    }
}

/// A panel's box, grid, tick labels (left, and right if `right` is
/// given) and axis labels, its top edge at `top`.
struct Panel<'a> {
    top: f64,
    x: &'a Axis,
    left: &'a Axis,
    right: Option<&'a Axis>,
}

impl Panel<'_> {
    fn px(&self, t: f64) -> f64 {
        LEFT + PANEL_W * self.x.fraction(t)
    }

    fn py(&self, axis: &Axis, v: f64) -> f64 {
        self.top + PANEL_H * (1.0 - axis.fraction(v))
    }

    fn frame(&self, out: &mut String, title: &str, left_label: &str, right_label: &str) {
        let (top, bottom) = (self.top, self.top + PANEL_H);
        let _ = writeln!(
            out,
            r##"<text x="{LEFT:.1}" y="{:.1}" font-size="14" font-weight="bold">{}</text>"##,
            top - 10.0,
            escape(title)
        );
        let _ = writeln!(
            out,
            r##"<rect x="{LEFT:.1}" y="{top:.1}" width="{PANEL_W:.1}" height="{PANEL_H:.1}" fill="none" stroke="#444"/>"##
        );
        for t in self.left.ticks() {
            let py = self.py(self.left, t);
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                LEFT + PANEL_W,
                LEFT - 6.0,
                py + 4.0,
                short(t)
            );
        }
        if let Some(right) = self.right {
            for t in right.ticks() {
                let _ = writeln!(
                    out,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="{WAITING_COLOR}">{}</text>"##,
                    LEFT + PANEL_W + 6.0,
                    self.py(right, t) + 4.0,
                    short(t)
                );
            }
        }
        for t in self.x.ticks() {
            let px = self.px(t);
            let _ = writeln!(
                out,
                r##"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
                bottom + 16.0,
                short(t)
            );
        }
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">seconds since the start</text>"##,
            LEFT + PANEL_W / 2.0,
            bottom + 32.0
        );
        let _ = writeln!(
            out,
            r##"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="12" text-anchor="middle">{}</text>"##,
            LEFT - 60.0,
            top + PANEL_H / 2.0,
            escape(left_label)
        );
        if self.right.is_some() {
            let _ = writeln!(
                out,
                r##"<text transform="translate({:.1},{:.1}) rotate(90)" font-size="12" text-anchor="middle" fill="{WAITING_COLOR}">{}</text>"##,
                LEFT + PANEL_W + 60.0,
                top + PANEL_H / 2.0,
                escape(right_label)
            );
        }
    }

    /// A dashed vertical line at `t` with `label` at its top.
    fn marker(&self, out: &mut String, t: f64, label: &str) {
        let px = self.px(t);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="3,3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#555">{}</text>"##,
            self.top,
            self.top + PANEL_H,
            px + 4.0,
            self.top + 14.0,
            escape(label)
        );
    }

    /// The `(t, value)` points on `axis` as lines; None breaks the line.
    fn series(
        &self,
        out: &mut String,
        axis: &Axis,
        points: &[Option<(f64, f64)>],
        color: &str,
        dashed: bool,
    ) {
        let dash = if dashed {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        for run in points.split(Option::is_none) {
            let coords: Vec<String> = run
                .iter()
                .flatten()
                .map(|&(t, v)| format!("{:.1},{:.1}", self.px(t), self.py(axis, v)))
                .collect();
            match coords.as_slice() {
                [] => {}
                // A lone point would be an invisible line.
                [one] => {
                    let (cx, cy) = one.split_once(',').unwrap_or(("0", "0"));
                    let _ = writeln!(
                        out,
                        r##"<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>"##
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"##,
                        coords.join(" ")
                    );
                }
            }
        }
    }
}

/// One legend entry per (name, colour, dashed), in a row from `x` at `y`.
fn legend(out: &mut String, y: f64, entries: &[(String, &str, bool)]) {
    let mut x = LEFT;
    for (name, color, dashed) in entries {
        let dash = if *dashed {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="3"{dash}/><text x="{:.1}" y="{y:.1}" font-size="12">{}</text>"##,
            y - 4.0,
            x + 24.0,
            y - 4.0,
            x + 30.0,
            escape(name)
        );
        // Wide enough for the longest name at 12 px.
        x += 40.0 + 7.0 * name.chars().count() as f64;
    }
}

fn fact_f64(run: &RunReport, name: &str) -> Option<f64> {
    run.facts.get(name).and_then(|v| v.as_f64())
}

/// One run's section, its top at `y0`.
fn section(out: &mut String, run: &RunReport, y0: f64) {
    let samples: &[Sample] = &run.timeline;
    let _ = writeln!(
        out,
        r##"<text x="{LEFT:.1}" y="{:.1}" font-size="15">{}</text>"##,
        y0 + 20.0,
        escape(&format!(
            "{} {} {}: {} users, {} connection(s), {} samples",
            run.system,
            run.scenario,
            run.mode,
            run.clients,
            run.connections,
            samples.len()
        ))
    );
    let end = samples.iter().map(|s| s.t_s).fold(1.0, f64::max);
    let x = zero_axis(end);
    let seats_top = samples
        .iter()
        .map(|s| s.seats_sold as f64)
        .fold(fact_f64(run, "seats").unwrap_or(0.0), f64::max);
    let seats = zero_axis(seats_top);
    let users = zero_axis(
        samples
            .iter()
            .map(|s| s.waiting.max(s.active) as f64)
            .fold(0.0, f64::max),
    );
    let markers: Vec<(f64, &str)> = [
        ("booking_opened_after_s", "booking opens"),
        ("sold_out_after_s", "sold out"),
    ]
    .into_iter()
    .filter_map(|(fact, label)| fact_f64(run, fact).map(|t| (t, label)))
    .collect();

    // Panel 1: seats sold and users, each on its own axis.
    let top = y0 + RUN_TITLE + PANEL_TITLE;
    let panel = Panel {
        top,
        x: &x,
        left: &seats,
        right: Some(&users),
    };
    panel.frame(
        out,
        "Seats sold (left axis), users waiting in line and active (right axis)",
        "seats sold (acknowledged payments)",
        "users",
    );
    let line = |value: fn(&Sample) -> u64| -> Vec<Option<(f64, f64)>> {
        std::iter::once(Some((0.0, 0.0)))
            .chain(samples.iter().map(|s| Some((s.t_s, value(s) as f64))))
            .collect()
    };
    panel.series(out, &seats, &line(|s| s.seats_sold), SEATS_COLOR, false);
    panel.series(out, &users, &line(|s| s.waiting), WAITING_COLOR, false);
    panel.series(out, &users, &line(|s| s.active), ACTIVE_COLOR, true);
    for &(t, label) in &markers {
        panel.marker(out, t, label);
    }
    legend(
        out,
        top + PANEL_H + 54.0,
        &[
            ("seats sold".into(), SEATS_COLOR, false),
            ("users waiting in line".into(), WAITING_COLOR, false),
            (
                "users active (admitted, not done)".into(),
                ACTIVE_COLOR,
                true,
            ),
        ],
    );

    // Panel 2: each second's p99 per operation.
    let ops: Vec<Op> = LATENCY_OPS
        .into_iter()
        .filter(|op| samples.iter().any(|s| s.ops.contains_key(op.name())))
        .collect();
    let latency = log_axis(
        samples
            .iter()
            .flat_map(|s| s.ops.values().map(|o| o.p99_ms)),
    );
    let top = top + PANEL_H + PANEL_FOOT + PANEL_TITLE;
    let panel = Panel {
        top,
        x: &x,
        left: &latency,
        right: None,
    };
    panel.frame(
        out,
        "p99 latency of the requests completed in each second",
        "milliseconds (log scale)",
        "",
    );
    let mut entries = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let color = COLORS[(i + 3) % COLORS.len()];
        let points: Vec<_> = samples
            .iter()
            .map(|s| {
                s.ops
                    .get(op.name())
                    .filter(|o| o.p99_ms > 0.0)
                    .map(|o| (s.t_s, o.p99_ms))
            })
            .collect();
        panel.series(out, &latency, &points, color, false);
        entries.push((format!("p99 {}", op.name()), color, false));
    }
    for &(t, label) in &markers {
        panel.marker(out, t, label);
    }
    legend(out, top + PANEL_H + 54.0, &entries);
}

/// The chart of every run in `runs` that has a timeline, one under another.
pub fn render(runs: &[RunReport], title: &str) -> String {
    let drawn: Vec<&RunReport> = runs.iter().filter(|r| !r.timeline.is_empty()).collect();
    let height = TOP + section_height() * drawn.len().max(1) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif">"##
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="24" font-size="17">{}</text>"##,
        escape(title)
    );
    if drawn.is_empty() {
        let _ = writeln!(
            out,
            r##"<text x="{LEFT}" y="{:.1}" font-size="14">no run with a timeline (only stadium-onsale keeps one)</text>"##,
            TOP + 30.0
        );
    }
    for (i, run) in drawn.iter().enumerate() {
        section(&mut out, run, TOP + section_height() * i as f64);
    }
    let _ = writeln!(out, "</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::build;
    use crate::report::RunContext;
    use crate::scenarios::ScenarioRun;
    use crate::stats::{Recorder, Window};
    use crate::timeline::WindowOp;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn stadium(system: &str, samples: Vec<Sample>) -> RunReport {
        let now = Instant::now();
        let mut facts = BTreeMap::new();
        facts.insert("seats".into(), json!(2_000));
        facts.insert("sold_out_after_s".into(), json!(2.5));
        let mut run = build(
            RunContext {
                scenario: "stadium-onsale".into(),
                mode: "in-process".into(),
                clients: 5_000,
                connections: 0,
                client_threads: 1,
                peak_rss_kib: None,
                rss_of: String::new(),
            },
            ScenarioRun {
                recorder: Recorder::new(Window {
                    from: now,
                    until: now + Duration::from_secs(1),
                }),
                elapsed: Duration::from_secs(3),
                checks: Vec::new(),
                facts,
                notes: Vec::new(),
                timeline: samples,
            },
        );
        run.system = system.into();
        run
    }

    fn sample(t_s: f64, seats_sold: u64, waiting: u64, ops: &[(&str, f64)]) -> Sample {
        Sample {
            t_s,
            window_s: 1.0,
            seats_sold,
            waiting,
            active: waiting / 2,
            ops: ops
                .iter()
                .map(|&(name, p99_ms)| {
                    (
                        name.to_string(),
                        WindowOp {
                            count: 10,
                            p50_ms: p99_ms / 2.0,
                            p99_ms,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn draws_each_series_and_escapes_text() {
        let samples = vec![
            sample(1.0, 100, 4_000, &[("queue_join", 3.0), ("queue_poll", 1.0)]),
            sample(
                2.0,
                900,
                2_500,
                &[("hold", 2.0), ("pay", 8.0), ("queue_poll", 1.5)],
            ),
            sample(3.0, 2_000, 0, &[("hold", 40.0), ("pay", 9.0)]),
        ];
        let svg = render(
            &[stadium("box<office> & co", samples)],
            "timeline \"<test>\"",
        );
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("box&lt;office&gt; &amp; co"));
        assert!(svg.contains("timeline &quot;&lt;test&gt;&quot;"));
        assert!(!svg.contains("<office>") && !svg.contains("<test>"));
        for name in [
            "seats sold",
            "users waiting in line",
            "users active",
            "p99 hold",
            "p99 pay",
            "p99 queue_poll",
            "p99 queue_join",
            "sold out",
        ] {
            assert!(svg.contains(name), "{name} missing");
        }
        assert!(!svg.contains("p99 seat_map"), "no seat reads in this run");
        // Seats, waiting and active; hold, pay and poll; join (one point: a dot).
        assert_eq!(svg.matches("<polyline").count(), 6);
        assert!(svg.matches("<circle").count() >= 1);
        // Seats sold reach the top of the left axis (2,000 seats) at the
        // right edge (t = 3 s).
        let corner = format!("{:.1},{:.1}", LEFT + PANEL_W, TOP + RUN_TITLE + PANEL_TITLE);
        assert!(svg.contains(&corner), "{corner}");
    }

    #[test]
    fn runs_without_a_timeline_are_left_out() {
        let empty = render(&[stadium("boxoffice", Vec::new())], "t");
        assert!(empty.contains("no run with a timeline"));
        assert!(!empty.contains("<polyline"));
        let two = render(
            &[
                stadium("boxoffice", vec![sample(1.0, 1, 1, &[("hold", 1.0)])]),
                stadium("redis-setnx", vec![sample(1.0, 1, 0, &[("seat_map", 1.0)])]),
            ],
            "t",
        );
        assert!(
            two.contains("boxoffice stadium-onsale") && two.contains("redis-setnx stadium-onsale")
        );
        assert!(two.contains("p99 seat_map"));
    }
}
