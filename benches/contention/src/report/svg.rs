//! The SVG chart, written by hand (a few hundred lines of formatting instead
//! of a plotting dependency): two panels against concurrency (clients, log
//! scale): throughput (successful holds/s solid, attempts/s dashed; the hello
//! world's requests/s; log scale when the values span more than
//! `LOG_THROUGHPUT_SPAN`, as they do next to the baselines), and p99 hold
//! latency (log scale). One series per
//! (system, scenario, mode), so baseline runs loaded with `--baseline-json`
//! appear next to Boxoffice's.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::RunReport;

const WIDTH: f64 = 1180.0;
const PANEL_W: f64 = 500.0;
const PANEL_H: f64 = 320.0;
const LEFT: f64 = 80.0;
const TOP: f64 = 60.0;
const GAP: f64 = 90.0;
const LEGEND_LINE: f64 = 18.0;
/// Largest ÷ smallest throughput drawn on a linear axis; past it, log.
const LOG_THROUGHPUT_SPAN: f64 = 100.0;
pub(super) const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn short(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.0}k", value / 1e3)
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// A round step giving about `count` ticks up to `max`.
pub(super) fn nice_step(max: f64, count: f64) -> f64 {
    let raw = (max / count).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

pub(super) struct Axis {
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) log: bool,
}

impl Axis {
    pub(super) fn fraction(&self, value: f64) -> f64 {
        let (v, lo, hi) = if self.log {
            (
                value.max(self.min).log10(),
                self.min.log10(),
                self.max.log10(),
            )
        } else {
            (value, self.min, self.max)
        };
        if hi - lo <= 0.0 {
            0.5
        } else {
            ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
        }
    }

    pub(super) fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut ticks = Vec::new();
            let mut t = 10f64.powf(self.min.log10().floor());
            while t <= self.max * 1.0001 {
                if t >= self.min * 0.9999 {
                    ticks.push(t);
                }
                t *= 10.0;
            }
            if ticks.len() < 2 {
                ticks = vec![self.min, self.max];
            }
            ticks
        } else {
            let step = nice_step(self.max - self.min, 5.0);
            (0..=((self.max - self.min) / step).floor() as usize)
                .map(|i| self.min + i as f64 * step)
                .collect()
        }
    }
}

pub(super) fn log_axis(values: impl Iterator<Item = f64>) -> Axis {
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return Axis {
            min: 1.0,
            max: 10.0,
            log: true,
        };
    }
    let min = 10f64.powf(lo.log10().floor());
    let mut max = 10f64.powf(hi.log10().ceil());
    if max <= min {
        max = min * 10.0;
    }
    Axis {
        min,
        max,
        log: true,
    }
}

struct Point {
    clients: f64,
    holds: f64,
    attempts: f64,
    p99: f64,
}

/// Series name → points sorted by client count.
fn series(runs: &[RunReport]) -> BTreeMap<String, Vec<Point>> {
    let mut out: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for run in runs {
        let name = if run.mode == "hello" {
            "actix-web hello world (req/s)".to_string()
        } else {
            format!("{} {} {}", run.system, run.scenario, run.mode)
        };
        let (holds, attempts) = if run.mode == "hello" {
            (run.requests_per_sec, 0.0)
        } else {
            (run.successful_holds_per_sec, run.attempts_per_sec)
        };
        out.entry(name).or_default().push(Point {
            clients: run.clients as f64,
            holds,
            attempts,
            p99: run.main_op().map_or(0.0, |o| o.p99_ms),
        });
    }
    for points in out.values_mut() {
        points.sort_by(|a, b| a.clients.total_cmp(&b.clients));
    }
    out
}

fn frame(out: &mut String, x0: f64, title: &str, x: &Axis, y: &Axis, y_label: &str) {
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="15" font-weight="bold">{}</text>"##,
        x0,
        TOP - 20.0,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<rect x="{x0:.1}" y="{TOP:.1}" width="{PANEL_W:.1}" height="{PANEL_H:.1}" fill="none" stroke="#444"/>"##
    );
    for t in y.ticks() {
        let py = TOP + PANEL_H * (1.0 - y.fraction(t));
        let _ = writeln!(
            out,
            r##"<line x1="{x0:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            x0 + PANEL_W,
            x0 - 6.0,
            py + 4.0,
            short(t)
        );
    }
    for t in x.ticks() {
        let px = x0 + PANEL_W * x.fraction(t);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP:.1}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
            TOP + PANEL_H,
            TOP + PANEL_H + 16.0,
            short(t)
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">concurrent clients (log scale)</text>"##,
        x0 + PANEL_W / 2.0,
        TOP + PANEL_H + 36.0
    );
    let _ = writeln!(
        out,
        r##"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="12" text-anchor="middle">{}</text>"##,
        x0 - 56.0,
        TOP + PANEL_H / 2.0,
        escape(y_label)
    );
}

fn polyline(out: &mut String, points: &[(f64, f64)], color: &str, dashed: bool) {
    let coords: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let _ = writeln!(
        out,
        r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{}/>"##,
        coords.join(" "),
        if dashed {
            r#" stroke-dasharray="6,4""#
        } else {
            ""
        }
    );
    for (x, y) in points {
        let _ = writeln!(
            out,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"/>"##
        );
    }
}

/// The whole chart for `runs` (Boxoffice's and any baselines').
pub fn render(runs: &[RunReport], title: &str) -> String {
    let all = series(runs);
    let x = log_axis(all.values().flatten().map(|p| p.clients));
    let top = all
        .values()
        .flatten()
        .map(|p| p.holds.max(p.attempts))
        .fold(0.0, f64::max);
    let bottom = all
        .values()
        .flatten()
        .flat_map(|p| [p.holds, p.attempts])
        .filter(|v| *v > 0.0)
        .fold(f64::MAX, f64::min);
    let log_throughput = bottom < f64::MAX && top / bottom > LOG_THROUGHPUT_SPAN;
    let throughput = if log_throughput {
        log_axis(all.values().flatten().flat_map(|p| [p.holds, p.attempts]))
    } else {
        let step = nice_step(top.max(1.0), 5.0);
        Axis {
            min: 0.0,
            max: (top / step).ceil().max(1.0) * step,
            log: false,
        }
    };
    let latency = log_axis(all.values().flatten().map(|p| p.p99));
    let height = TOP + PANEL_H + 60.0 + LEGEND_LINE * (all.len() as f64 + 2.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif">"##
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="22" font-size="17">{}</text>"##,
        escape(title)
    );
    let right = LEFT + PANEL_W + GAP;
    frame(
        &mut out,
        LEFT,
        "Throughput: successful holds/s (solid), attempts/s (dashed)",
        &x,
        &throughput,
        if log_throughput {
            "per second (log scale)"
        } else {
            "per second"
        },
    );
    frame(
        &mut out,
        right,
        "p99 hold latency",
        &x,
        &latency,
        "milliseconds (log scale)",
    );
    let place = |x0: f64, axis: &Axis, px: f64, py: f64| {
        (
            x0 + PANEL_W * x.fraction(px),
            TOP + PANEL_H * (1.0 - axis.fraction(py)),
        )
    };
    for (i, (name, points)) in all.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let holds: Vec<_> = points
            .iter()
            .map(|p| place(LEFT, &throughput, p.clients, p.holds))
            .collect();
        polyline(&mut out, &holds, color, false);
        if points.iter().any(|p| p.attempts > 0.0) {
            let attempts: Vec<_> = points
                .iter()
                .map(|p| place(LEFT, &throughput, p.clients, p.attempts))
                .collect();
            polyline(&mut out, &attempts, color, true);
        }
        let p99: Vec<_> = points
            .iter()
            .filter(|p| p.p99 > 0.0)
            .map(|p| place(right, &latency, p.clients, p.p99))
            .collect();
        if !p99.is_empty() {
            polyline(&mut out, &p99, color, false);
        }
        let ly = TOP + PANEL_H + 60.0 + LEGEND_LINE * i as f64;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"##,
            ly - 4.0,
            LEFT + 24.0,
            ly - 4.0,
            LEFT + 32.0,
            ly,
            escape(name)
        );
    }
    let _ = writeln!(out, "</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_step(100_000.0, 5.0), 20_000.0);
        let axis = log_axis([100.0, 10_000.0].into_iter());
        assert_eq!(axis.ticks(), vec![100.0, 1_000.0, 10_000.0]);
        assert_eq!(short(12_345.0), "12k");
        assert_eq!(escape("a<b&c"), "a&lt;b&amp;c");
    }
}
