//! The stadium timeline: what a run looked like second by second (seats
//! sold, users in line and admitted, and each operation's latency over the
//! requests that completed in that second), for the chart of BENCHMARKS.md
//! (`--timeline-svg`) and the `timeline` field of the JSON report.
//!
//! Latencies: each client thread's [`crate::stats::Recorder`] also records
//! into its own [`Shard`] of the current window (the same requests as the
//! totals: those started inside the measurement window). The shard's mutex
//! is only ever taken by its own thread, and by the sampler once per
//! [`SAMPLE_EVERY`] to swap the window's histograms out, so the clients pay
//! one uncontended lock per request and nothing else. The sampler keeps
//! only counts and percentiles, so memory is bounded by the sample count,
//! itself bounded by the run's length ([`Sampler::new`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::histogram::Histogram;
use crate::stats::Op;

/// One sample per this long, counted from the start of the measured window.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One client thread's latencies of the current window, per operation.
#[derive(Default)]
pub struct Shard(Mutex<BTreeMap<Op, Histogram>>);

impl Shard {
    pub fn record(&self, op: Op, nanos: u64) {
        if let Ok(mut ops) = self.0.lock() {
            ops.entry(op).or_default().record(nanos);
        }
    }

    /// The window so far, leaving an empty one in its place.
    fn take(&self) -> BTreeMap<Op, Histogram> {
        self.0
            .lock()
            .map(|mut ops| std::mem::take(&mut *ops))
            .unwrap_or_default()
    }
}

/// Every client thread's [`Shard`] of one run.
#[derive(Default)]
pub struct Windows {
    shards: Mutex<Vec<Arc<Shard>>>,
}

impl Windows {
    /// A new shard for one client thread (registered, so the sampler sees it).
    pub fn shard(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard::default());
        if let Ok(mut shards) = self.shards.lock() {
            shards.push(Arc::clone(&shard));
        }
        shard
    }

    /// The window that just ended, over every thread; each shard starts a new one.
    fn take(&self) -> BTreeMap<Op, Histogram> {
        let shards = self.shards.lock().map(|s| s.clone()).unwrap_or_default();
        let mut merged: BTreeMap<Op, Histogram> = BTreeMap::new();
        for shard in shards {
            for (op, histogram) in shard.take() {
                merged.entry(op).or_default().merge(&histogram);
            }
        }
        merged
    }
}

/// One operation over one window: the requests that completed in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowOp {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What the run's counters say at a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    pub seats_sold: u64,
    pub waiting: u64,
    pub active: u64,
}

/// One point of the timeline (`runs[].timeline[]` in the JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the start of the measured window, at the end of this
    /// sample's window (1, 2, ... give or take the timer; the last one when
    /// the clients ended).
    pub t_s: f64,
    /// Length of this sample's window, s (1 but for the last).
    pub window_s: f64,
    /// Seats in payments acknowledged to the clients so far.
    pub seats_sold: u64,
    /// Users with a place in line (joined, answered, not yet ACTIVE nor gone).
    pub waiting: u64,
    /// Users admitted (or, without a waiting room, started) and not yet done.
    pub active: u64,
    /// Per operation (`runs[].ops` names) with requests completed in the window.
    pub ops: BTreeMap<String, WindowOp>,
}

/// Turns the [`Windows`] and the run's counters into [`Sample`]s.
pub struct Sampler {
    windows: Arc<Windows>,
    start: Instant,
    last: Instant,
    capacity: usize,
    samples: Vec<Sample>,
}

fn ms(nanos: u64) -> f64 {
    (nanos as f64 / 1e6 * 1e3).round() / 1e3
}

impl Sampler {
    /// A sampler from `start` (the measured window's start) for a run that
    /// ends by `deadline`: at most one sample per whole [`SAMPLE_EVERY`]
    /// before it, plus the final one ([`Sampler::capacity`]).
    pub fn new(windows: Arc<Windows>, start: Instant, deadline: Instant) -> Sampler {
        let length = deadline.saturating_duration_since(start);
        let ticks = (length.as_nanos() / SAMPLE_EVERY.as_nanos()) as usize;
        Sampler {
            windows,
            start,
            last: start,
            capacity: ticks + 1,
            samples: Vec::new(),
        }
    }

    /// The most samples this sampler keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// When the `k`-th (from 1) periodic sample is due, if it may still be
    /// taken (one place is always left for the final one).
    pub fn due(&self, k: usize) -> Option<Instant> {
        (k >= 1 && k < self.capacity).then(|| self.start + SAMPLE_EVERY * k as u32)
    }

    /// Closes the window at `now` with the counters `gauges`. Past the
    /// capacity the window is folded into the last sample (never dropped,
    /// so the counts still add up to the totals).
    pub fn sample(&mut self, now: Instant, gauges: Gauges) {
        let ops = self.windows.take();
        let t_s = now.saturating_duration_since(self.start).as_secs_f64();
        let window_s = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        if self.samples.len() >= self.capacity {
            if let Some(last) = self.samples.last_mut() {
                // Percentiles of the merged window are unknown without its
                // histograms: keep the last ones, add the counts.
                for (op, histogram) in ops {
                    last.ops.entry(op.name().to_string()).or_default().count += histogram.count();
                }
                last.t_s = t_s;
                last.window_s += window_s;
                (last.seats_sold, last.waiting, last.active) =
                    (gauges.seats_sold, gauges.waiting, gauges.active);
                return;
            }
        }
        let round = |s: f64| (s * 1e3).round() / 1e3;
        self.samples.push(Sample {
            t_s: round(t_s),
            window_s: round(window_s),
            seats_sold: gauges.seats_sold,
            waiting: gauges.waiting,
            active: gauges.active,
            ops: ops
                .into_iter()
                .filter(|(_, h)| h.count() > 0)
                .map(|(op, h)| {
                    (
                        op.name().to_string(),
                        WindowOp {
                            count: h.count(),
                            p50_ms: ms(h.quantile(0.50)),
                            p99_ms: ms(h.quantile(0.99)),
                        },
                    )
                })
                .collect(),
        });
    }

    /// The samples so far (the sampler keeps none).
    pub fn take_samples(&mut self) -> Vec<Sample> {
        std::mem::take(&mut self.samples)
    }
}

/// Takes a sample every [`SAMPLE_EVERY`] from the sampler's start, with the
/// counters `gauges()` gives, until the capacity leaves only the final one.
/// The caller aborts it when the clients are done and takes the final
/// sample itself: the sampler is shared for that.
pub async fn tick(sampler: Arc<Mutex<Sampler>>, gauges: impl Fn() -> Gauges) {
    for k in 1.. {
        let Some(due) = sampler.lock().ok().and_then(|s| s.due(k)) else {
            return;
        };
        actix_rt::time::sleep_until(due.into()).await;
        if let Ok(mut sampler) = sampler.lock() {
            sampler.sample(Instant::now(), gauges());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Recorder, Window};

    const MS: u64 = 1_000_000;

    #[test]
    fn counts_add_up_to_the_totals_and_p99_is_the_windows_own() {
        let start = Instant::now();
        let window = Window {
            from: start,
            until: start + Duration::from_secs(3),
        };
        let windows = Arc::new(Windows::default());
        let mut sampler = Sampler::new(Arc::clone(&windows), start, window.until);
        assert_eq!(
            sampler.capacity(),
            4,
            "3 whole seconds and the final sample"
        );
        // Two client threads, each with its recorder and shard.
        let mut threads: Vec<Recorder> = (0..2)
            .map(|_| {
                let mut r = Recorder::new(window);
                r.sample_into(windows.shard());
                r
            })
            .collect();
        // Second 1: fast holds; second 2: slow holds and some pays.
        for (i, r) in threads.iter_mut().enumerate() {
            for _ in 0..50 {
                r.record_latency(Op::Hold, start, MS, Outcome::Ok);
            }
            if i == 0 {
                r.record_latency(Op::Join, start, 2 * MS, Outcome::Ok);
            }
        }
        sampler.sample(start + SAMPLE_EVERY, Gauges::default());
        for r in threads.iter_mut() {
            for _ in 0..100 {
                r.record_latency(Op::Hold, start, 50 * MS, Outcome::Conflict);
            }
            r.record_latency(Op::Pay, start, 3 * MS, Outcome::Ok);
        }
        // Started before the window: in neither the totals nor the timeline.
        threads[1].record_latency(Op::Hold, start - Duration::from_secs(1), MS, Outcome::Ok);
        sampler.sample(
            start + SAMPLE_EVERY * 2,
            Gauges {
                seats_sold: 7,
                waiting: 3,
                active: 2,
            },
        );
        // A last window with nothing in it.
        sampler.sample(start + Duration::from_millis(2_500), Gauges::default());
        let samples = sampler.take_samples();
        assert_eq!(samples.len(), 3);
        assert_eq!(
            samples.iter().map(|s| s.t_s).collect::<Vec<_>>(),
            vec![1.0, 2.0, 2.5]
        );
        assert_eq!(samples[2].window_s, 0.5);
        assert_eq!(
            (samples[1].seats_sold, samples[1].waiting, samples[1].active),
            (7, 3, 2)
        );

        let first = &samples[0].ops["hold"];
        let second = &samples[1].ops["hold"];
        assert_eq!((first.count, second.count), (100, 200));
        assert!((first.p99_ms - 1.0).abs() < 0.02, "{first:?}");
        assert!((second.p50_ms - 50.0).abs() < 1.0, "{second:?}");
        assert!((second.p99_ms - 50.0).abs() < 1.0, "{second:?}");
        assert!(!samples[0].ops.contains_key("pay"));
        assert!(samples[2].ops.is_empty());

        let mut total = Recorder::new(window);
        for r in threads {
            total.merge(r);
        }
        for (op, stats) in &total.ops {
            let sum: u64 = samples
                .iter()
                .filter_map(|s| s.ops.get(op.name()))
                .map(|w| w.count)
                .sum();
            assert_eq!(sum, stats.count(), "{}", op.name());
        }
        assert_eq!(total.ignored, 1);
    }

    #[test]
    fn never_more_samples_than_its_capacity() {
        let start = Instant::now();
        let windows = Arc::new(Windows::default());
        let shard = windows.shard();
        let mut sampler = Sampler::new(
            Arc::clone(&windows),
            start,
            start + Duration::from_millis(1_500),
        );
        assert_eq!(sampler.capacity(), 2);
        assert!(sampler.due(1).is_some() && sampler.due(2).is_none());
        for k in 1..=4u32 {
            shard.record(Op::Poll, MS);
            sampler.sample(start + SAMPLE_EVERY * k, Gauges::default());
        }
        let samples = sampler.take_samples();
        assert_eq!(samples.len(), 2);
        assert_eq!(
            samples[0].ops["queue_poll"].count + samples[1].ops["queue_poll"].count,
            4
        );
        assert_eq!(samples[1].t_s, 4.0);
    }

    #[test]
    fn ticks_once_per_second_until_only_the_final_sample_is_left() {
        let system = actix_rt::System::new();
        let start = Instant::now();
        let windows = Arc::new(Windows::default());
        let shard = windows.shard();
        let sampler = Arc::new(Mutex::new(Sampler::new(
            Arc::clone(&windows),
            start,
            start + Duration::from_millis(2_300),
        )));
        shard.record(Op::Hold, MS);
        system.block_on(tick(Arc::clone(&sampler), || Gauges {
            seats_sold: 1,
            waiting: 0,
            active: 0,
        }));
        let elapsed = start.elapsed();
        assert!(elapsed >= SAMPLE_EVERY * 2, "{elapsed:?}");
        let mut sampler = Arc::try_unwrap(sampler).ok().unwrap().into_inner().unwrap();
        sampler.sample(Instant::now(), Gauges::default());
        let samples = sampler.take_samples();
        assert_eq!(samples.len(), 3);
        assert!((samples[0].t_s - 1.0).abs() < 0.2 && (samples[1].t_s - 2.0).abs() < 0.2);
        assert_eq!(samples[0].ops["hold"].count, 1);
        assert_eq!(samples[0].seats_sold, 1);
    }
}
