//! Open-loop pacing (`--rate`): when each request of a client is due.
//!
//! Closed-loop clients (the default, see `crate::clients`) send their next
//! request when the previous one is answered, so a 10 s stall of the server
//! costs each of them one slow sample: the p99 hardly shows it (coordinated
//! omission). Paced clients keep a fixed schedule instead, as an arriving
//! crowd would, and a request's latency runs from when it was *due*, not
//! from when it could be sent: a stall counts for every request that
//! should have been sent during it.
//!
//! The total rate is spread evenly: with `rate` requests/s over `clients`,
//! request `k` of client `i` is the crowd's request `k × clients + i`, due
//! at `start + (k × clients + i) / rate` seconds. The crowd's requests are
//! thus exactly `1 / rate` apart (no burst of every client at once), each
//! client's `clients / rate` apart. A client that falls behind sends its
//! overdue requests at once, one after another, none skipped (a client has
//! one request in flight, as in closed loop); they keep their due times.
//! Integer nanoseconds from `start`, so the schedule never drifts.

use std::cell::Cell;
use std::time::{Duration, Instant};

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// One client's schedule.
#[derive(Debug)]
pub struct Pace {
    start: Instant,
    /// Requests per second of the whole crowd (>= 1).
    rate: u64,
    clients: u64,
    index: u64,
    /// The client's next request (`k`).
    next: Cell<u64>,
}

impl Pace {
    /// Client `index` of `clients`, sharing `rate` requests/s from `start`.
    pub fn new(start: Instant, rate: u64, clients: usize, index: usize) -> Self {
        Pace {
            start,
            rate: rate.max(1),
            clients: clients.max(1) as u64,
            index: index as u64,
            next: Cell::new(0),
        }
    }

    /// When this client's request `k` is due.
    pub fn due(&self, k: u64) -> Instant {
        let nth = u128::from(k) * u128::from(self.clients) + u128::from(self.index);
        let nanos = nth * NANOS_PER_SECOND / u128::from(self.rate);
        self.start + Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
    }

    /// When the next request is due (not taken).
    pub fn next_due(&self) -> Instant {
        self.due(self.next.get())
    }

    /// Takes the next request: its due time, from which it is timed.
    pub fn take(&self) -> Instant {
        let k = self.next.get();
        self.next.set(k + 1);
        self.due(k)
    }

    /// How long to wait at `now` before sending the request due at `due`:
    /// nothing if it is due or overdue (a late client catches up at once).
    pub fn wait_at(due: Instant, now: Instant) -> Duration {
        due.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos_after(start: Instant, at: Instant) -> u128 {
        at.duration_since(start).as_nanos()
    }

    #[test]
    fn the_crowd_is_evenly_spread_over_its_clients() {
        let start = Instant::now();
        // 1,000/s over 4 clients: the crowd 1 ms apart, each client 4 ms apart.
        let clients: Vec<Pace> = (0..4).map(|i| Pace::new(start, 1_000, 4, i)).collect();
        let mut dues: Vec<u128> = Vec::new();
        for pace in &clients {
            for _ in 0..3 {
                dues.push(nanos_after(start, pace.take()));
            }
        }
        assert_eq!(&dues[..3], &[0, 4_000_000, 8_000_000]);
        assert_eq!(&dues[3..6], &[1_000_000, 5_000_000, 9_000_000]);
        dues.sort_unstable();
        let expected: Vec<u128> = (0..12).map(|n| n * 1_000_000).collect();
        assert_eq!(dues, expected);
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        let start = Instant::now();
        // 3/s for one client: 333,333,333.3 ns apart; request 3,000,000 is
        // due at exactly 1,000,000 s, not 999,999.999 s.
        let pace = Pace::new(start, 3, 1, 0);
        assert_eq!(nanos_after(start, pace.due(1)), 333_333_333);
        assert_eq!(nanos_after(start, pace.due(2)), 666_666_666);
        assert_eq!(
            nanos_after(start, pace.due(3_000_000)),
            1_000_000 * NANOS_PER_SECOND
        );
    }

    #[test]
    fn a_late_client_catches_up_without_skipping_and_keeps_due_times() {
        let start = Instant::now();
        // 100/s for one client: one every 10 ms. A 55 ms stall after the
        // first request: requests 1-5 are overdue when it ends.
        let pace = Pace::new(start, 100, 1, 0);
        assert_eq!(pace.take(), start);
        let after_stall = start + Duration::from_millis(55);
        let mut waits = Vec::new();
        let mut late_ms = Vec::new();
        while pace.next_due() <= after_stall {
            let due = pace.take();
            waits.push(Pace::wait_at(due, after_stall));
            late_ms.push(after_stall.duration_since(due).as_millis());
        }
        assert_eq!(waits, vec![Duration::ZERO; 5]);
        // Each is timed from its due time: the stall counts for all five.
        assert_eq!(late_ms, vec![45, 35, 25, 15, 5]);
        // Back on schedule: the next one waits for its own slot.
        let due = pace.take();
        assert_eq!(nanos_after(start, due), 60_000_000);
        assert_eq!(Pace::wait_at(due, after_stall), Duration::from_millis(5));
    }

    #[test]
    fn a_zero_rate_or_no_clients_cannot_divide_by_zero() {
        let start = Instant::now();
        let pace = Pace::new(start, 0, 0, 0);
        assert_eq!(nanos_after(start, pace.due(2)), 2 * NANOS_PER_SECOND);
    }
}
