//! A schedule's live seat changes: what the seat stream (API.md, "Live
//! updates") sends, kept here so no subscriber ever asks the schedule's actor.
//!
//! Each schedule's handle owns one [`SeatFeed`] (next to its `seat_board`).
//! The schedule actor translates every staged batch of events into seat
//! changes ([`seat_changes`], the one place that knows which event changes
//! which seat) and stages a durable waiter that publishes them: the group
//! commit runs the waiters of one log in log order, and only once a flush
//! covers the record, so a subscriber never sees a change a crash could undo.
//!
//! Publishing costs the flusher thread a short lock and a push into a bounded
//! ring ([`SEAT_FEED_KEPT_EVENTS`], the resume window); waking the
//! subscribers is left to one fan-out thread ([`FANOUT_THREAD_NAME`]) that
//! wakes a feed with news at most once per its wake interval, so 10,000
//! subscribers cost the flush (and so the holds) nothing, and each woken
//! subscriber reads everything new in one go. The interval grows with the
//! feed's subscribers ([`wake_interval`]): every wake-up costs each
//! subscriber a task poll and a socket write on the HTTP workers, the same
//! workers that serve the holds, so a crowd is woken less often and each
//! wake-up carries more events; the stream's promise (a change within 1 s)
//! bounds the interval. A subscriber holds only
//! its position in the ring: one that falls behind by more than the ring is
//! told so ([`Read::Lost`]) and is closed by the HTTP layer, so a reader
//! that stops reading never makes the server buffer for it.
//!
//! Sequence numbers are per feed, in memory: a feed starts after
//! `start_ms * 1000` (the clock when the schedule's actor started), so the
//! numbers of a later process start above every number an earlier one gave
//! (under a million events a second), and a resume point from before a
//! restart is older than anything kept: the subscriber is reset, never
//! handed the new process's events as if they followed its old ones.

use boxoffice_engine::schedule::{Schedule, ScheduleEvent, SeatStatus};
use boxoffice_engine::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// Events a feed keeps for resuming (API.md: at least the last 10,000).
pub const SEAT_FEED_KEPT_EVENTS: usize = 10_240;
const _: () = assert!(SEAT_FEED_KEPT_EVENTS >= 10_000);

/// Concurrent subscribers of one schedule's feed; past it a subscription is refused.
pub const MAX_SUBSCRIBERS_PER_SCHEDULE: usize = 20_000;

/// Most events one read hands a subscriber (the largest chunk it writes at once).
pub const MAX_EVENTS_PER_READ: usize = 512;

/// The fan-out thread wakes a feed's subscribers at most this often: one
/// wake-up carries every change published meanwhile.
pub const FANOUT_INTERVAL_MS: u64 = 10;

/// The wake interval grows by this much per subscriber (see [`wake_interval`]).
pub const FANOUT_INTERVAL_US_PER_SUBSCRIBER: u64 = 20;

/// The longest wake interval, however many subscribers: a fifth of the 1 s
/// within which API.md promises a change is on the stream (500 ms was tried:
/// at 10,000 subscribers the delivery p99 passed 4 s, BENCHMARKS.md).
pub const FANOUT_MAX_INTERVAL_MS: u64 = 200;
const _: () = assert!(FANOUT_MAX_INTERVAL_MS < 1_000);

/// How long after its last wake-up a feed with `subscribers` is woken again:
/// 10 ms up to 500 subscribers, 20 ms at 1,000, 200 ms from 10,000.
pub fn wake_interval(subscribers: usize) -> Duration {
    let grown_us = (subscribers as u64).saturating_mul(FANOUT_INTERVAL_US_PER_SUBSCRIBER);
    Duration::from_micros(
        grown_us.clamp(FANOUT_INTERVAL_MS * 1_000, FANOUT_MAX_INTERVAL_MS * 1_000),
    )
}

/// Name of the thread that wakes subscribers.
pub const FANOUT_THREAD_NAME: &str = "boxoffice-seat-fanout";

/// Sequence numbers of a feed started at `start_ms` begin after this.
const SEQUENCE_PER_MS: u64 = 1_000;

/// One seat's new public status (as the seat map shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatChange {
    pub seat_id: String,
    pub status: SeatStatus,
    pub at: Timestamp,
}

/// A published change with its sequence number; `frame` caches its rendering
/// (the HTTP layer's), so 10,000 subscribers render it once.
#[derive(Debug)]
pub struct FeedEvent {
    pub seq: u64,
    pub change: SeatChange,
    frame: OnceLock<String>,
}

impl FeedEvent {
    /// The event as rendered by `render`, rendered at most once.
    pub fn frame(&self, render: impl FnOnce(&FeedEvent) -> String) -> &str {
        self.frame.get_or_init(|| render(self))
    }
}

/// The seat changes `event` makes (applied to `schedule` already, so the
/// reservations it names are there). The one translation from events to the
/// stream: a new event kind is one arm here.
pub fn seat_changes(schedule: &Schedule, event: &ScheduleEvent) -> Vec<SeatChange> {
    let seats_of = |reservation_id| {
        schedule
            .reservation(reservation_id)
            .map(|r| r.seats.clone())
            .unwrap_or_default()
    };
    let (seats, status, at) = match event {
        ScheduleEvent::Held { seats, at, .. } => (seats.clone(), SeatStatus::Held, *at),
        ScheduleEvent::Released { reservation_id, at }
        | ScheduleEvent::Cancelled {
            reservation_id, at, ..
        } => (seats_of(*reservation_id), SeatStatus::Available, *at),
        ScheduleEvent::Expired {
            reservation_ids,
            at,
        } => (
            reservation_ids
                .iter()
                .flat_map(|id| seats_of(*id))
                .collect(),
            SeatStatus::Available,
            *at,
        ),
        ScheduleEvent::Confirmed {
            reservation_id, at, ..
        } => (seats_of(*reservation_id), SeatStatus::Sold, *at),
        // A cancelled date frees its seats as its seat map shows them
        // (AVAILABLE, though no hold is taken any more).
        ScheduleEvent::CancellationBatch {
            released,
            refunded,
            at,
        } => (
            released
                .iter()
                .chain(refunded.iter().map(|(id, _)| id))
                .flat_map(|id| seats_of(*id))
                .collect(),
            SeatStatus::Available,
            *at,
        ),
        // A blocked seat is SOLD to the public (the public map reveals
        // nothing), and a comp of it stays SOLD; the stream is public.
        ScheduleEvent::SeatsBlocked { seats, at, .. } | ScheduleEvent::Comped { seats, at, .. } => {
            (seats.clone(), SeatStatus::Sold, *at)
        }
        ScheduleEvent::SeatsUnblocked { seats, at } => (seats.clone(), SeatStatus::Available, *at),
        // A payment in progress, or aborted, leaves its seats HELD (the seat
        // map shows a pending payment's seats as held); an aborted hold that
        // is already due is freed by the sweep's `Expired`, which appears.
        ScheduleEvent::PaymentBegun { .. }
        | ScheduleEvent::PaymentAborted { .. }
        | ScheduleEvent::RefundSettled { .. }
        | ScheduleEvent::CheckedIn { .. }
        | ScheduleEvent::ScheduleCancelled { .. } => {
            (Vec::new(), SeatStatus::Available, Timestamp(0))
        }
    };
    seats
        .into_iter()
        .map(|seat| SeatChange {
            seat_id: schedule.seat_id(seat),
            status,
            at,
        })
        .collect()
}

/// What a subscriber reading after some sequence number gets.
#[derive(Debug)]
pub enum Read {
    /// The next events, oldest first (at most [`MAX_EVENTS_PER_READ`]).
    Events(Vec<Arc<FeedEvent>>),
    /// Nothing newer yet.
    UpToDate,
    /// Events after that point are no longer kept.
    Lost,
}

/// Where a subscriber asked to start.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// Right after this event (a valid resume point, or the newest).
    After(u64),
    /// The resume point is not usable (older than kept, or ahead of the
    /// newest): refetch, then follow from this newest event.
    Reset(u64),
}

#[derive(Debug)]
struct Ring {
    /// Consecutive sequence numbers ending at `newest`.
    events: VecDeque<Arc<FeedEvent>>,
    /// The last number given (the feed's start when none was yet).
    newest: u64,
}

/// One schedule's feed (see the module doc).
#[derive(Debug)]
pub struct SeatFeed {
    ring: Mutex<Ring>,
    notify: Notify,
    /// The fan-out thread has this feed to wake already.
    wake_pending: AtomicBool,
    subscribers: AtomicUsize,
}

impl SeatFeed {
    /// A feed whose first event is numbered `start_ms * 1000 + 1`.
    pub fn new(start: Timestamp) -> Arc<SeatFeed> {
        let base = u64::try_from(start.0)
            .unwrap_or(0)
            .saturating_mul(SEQUENCE_PER_MS);
        Arc::new(SeatFeed {
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                newest: base,
            }),
            notify: Notify::new(),
            wake_pending: AtomicBool::new(false),
            subscribers: AtomicUsize::new(0),
        })
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic under this lock leaves whole entries only: go on with it.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `changes` (durable, in log order) and has the subscribers woken.
    pub fn publish(self: &Arc<Self>, changes: Vec<SeatChange>) {
        if changes.is_empty() {
            return;
        }
        {
            let mut ring = self.ring();
            for change in changes {
                ring.newest += 1;
                let seq = ring.newest;
                ring.events.push_back(Arc::new(FeedEvent {
                    seq,
                    change,
                    frame: OnceLock::new(),
                }));
            }
            let excess = ring.events.len().saturating_sub(SEAT_FEED_KEPT_EVENTS);
            ring.events.drain(..excess);
        }
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            fanout().wake(Arc::downgrade(self));
        }
    }

    /// The newest sequence number given.
    pub fn newest(&self) -> u64 {
        self.ring().newest
    }

    /// Where a subscriber resuming after `resume` (None: live only) starts.
    pub fn start(&self, resume: Option<u64>) -> Start {
        let ring = self.ring();
        let oldest = ring.newest + 1 - ring.events.len() as u64;
        match resume {
            None => Start::After(ring.newest),
            Some(after) if after <= ring.newest && after + 1 >= oldest => Start::After(after),
            Some(_) => Start::Reset(ring.newest),
        }
    }

    /// The events after `after`, at most [`MAX_EVENTS_PER_READ`].
    pub fn read_after(&self, after: u64) -> Read {
        let ring = self.ring();
        if after >= ring.newest {
            return Read::UpToDate;
        }
        let oldest = ring.newest + 1 - ring.events.len() as u64;
        if after + 1 < oldest {
            return Read::Lost;
        }
        let from = (after + 1 - oldest) as usize;
        Read::Events(
            ring.events
                .range(from..)
                .take(MAX_EVENTS_PER_READ)
                .cloned()
                .collect(),
        )
    }

    /// Resolves at the next wake-up after it is enabled (see
    /// [`Notified::enable`]): enable it, read, then await it if there was
    /// nothing to read.
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }

    /// A subscription, or None when [`MAX_SUBSCRIBERS_PER_SCHEDULE`] are open.
    pub fn subscribe(self: &Arc<Self>) -> Option<Subscription> {
        self.subscribers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_SUBSCRIBERS_PER_SCHEDULE).then_some(n + 1)
            })
            .ok()?;
        Some(Subscription {
            feed: Arc::clone(self),
        })
    }

    /// Subscriptions open now.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }
}

/// One open subscription; counted until dropped.
#[derive(Debug)]
pub struct Subscription {
    feed: Arc<SeatFeed>,
}

impl Subscription {
    pub fn feed(&self) -> &Arc<SeatFeed> {
        &self.feed
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feed.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The fan-out thread's inbox: feeds with news to wake.
struct Fanout {
    tx: Mutex<mpsc::Sender<Weak<SeatFeed>>>,
}

impl Fanout {
    fn wake(&self, feed: Weak<SeatFeed>) {
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(feed.clone());
        if sent.is_err() {
            // The thread is gone (it never exits, short of a panic): wake here.
            if let Some(feed) = feed.upgrade() {
                feed.wake_pending.store(false, Ordering::Release);
                feed.notify.notify_waiters();
            }
        }
    }
}

/// The one fan-out thread of the process, started on first use.
fn fanout() -> &'static Fanout {
    static FANOUT: OnceLock<Fanout> = OnceLock::new();
    FANOUT.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Weak<SeatFeed>>();
        let spawned = std::thread::Builder::new()
            .name(FANOUT_THREAD_NAME.into())
            .spawn(move || run_fanout(rx));
        if let Err(err) = spawned {
            // Without the thread every send fails and publishers wake themselves.
            tracing::error!(%err, "the seat fan-out thread could not start");
        }
        Fanout { tx: Mutex::new(tx) }
    })
}

/// The fan-out thread's loop: feeds with news wait in `due` until their
/// wake interval since their last wake-up has passed. `wake_pending` keeps a
/// feed in `due` at most once, so `due` is bounded by the number of schedules.
fn run_fanout(rx: mpsc::Receiver<Weak<SeatFeed>>) {
    let mut due: Vec<(Instant, Arc<SeatFeed>)> = Vec::new();
    let mut last_wake: HashMap<usize, Instant> = HashMap::new();
    loop {
        let received = match due.iter().map(|(at, _)| *at).min() {
            None => match rx.recv() {
                Ok(feed) => Some(feed),
                Err(_) => return,
            },
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(feed) => Some(feed),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            },
        };
        let now = Instant::now();
        for feed in received.into_iter().chain(rx.try_iter()) {
            if let Some(feed) = feed.upgrade() {
                let key = Arc::as_ptr(&feed) as usize;
                let at = last_wake
                    .get(&key)
                    .map_or(now, |last| *last + wake_interval(feed.subscribers()));
                due.push((at, feed));
            }
        }
        due.retain(|(at, feed)| {
            if *at > now {
                return true;
            }
            // Cleared before waking: a publish from now on queues another wake.
            feed.wake_pending.store(false, Ordering::Release);
            feed.notify.notify_waiters();
            last_wake.insert(Arc::as_ptr(feed) as usize, now);
            false
        });
        // Forget feeds not woken for a while (and so dropped schedules):
        // their next wake-up is due at once anyway.
        if last_wake.len() > due.len() * 2 + 1_024 {
            let horizon = Duration::from_millis(FANOUT_MAX_INTERVAL_MS);
            last_wake.retain(|_, last| now.duration_since(*last) < horizon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(n: u32) -> SeatChange {
        SeatChange {
            seat_id: format!("A-1-{n}"),
            status: SeatStatus::Held,
            at: Timestamp(n.into()),
        }
    }

    #[test]
    fn numbers_follow_the_start_and_resume_points_are_judged() {
        let feed = SeatFeed::new(Timestamp(5));
        assert_eq!(feed.newest(), 5_000);
        assert_eq!(feed.start(None), Start::After(5_000));
        assert_eq!(feed.start(Some(5_000)), Start::After(5_000));
        assert_eq!(feed.start(Some(5_001)), Start::Reset(5_000));
        feed.publish(vec![change(1), change(2)]);
        assert_eq!(feed.newest(), 5_002);
        assert_eq!(feed.start(Some(5_000)), Start::After(5_000));
        assert_eq!(feed.start(Some(4_999)), Start::Reset(5_002));
        assert_eq!(feed.start(Some(5_003)), Start::Reset(5_002));
        match feed.read_after(5_000) {
            Read::Events(events) => {
                let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
                assert_eq!(seqs, vec![5_001, 5_002]);
                assert_eq!(events[1].change, change(2));
            }
            other => panic!("expected events, got {other:?}"),
        }
        assert!(matches!(feed.read_after(5_002), Read::UpToDate));
    }

    #[test]
    fn the_ring_keeps_the_last_events_and_a_reader_behind_it_is_lost() {
        let feed = SeatFeed::new(Timestamp(0));
        let total = SEAT_FEED_KEPT_EVENTS as u32 + 100;
        feed.publish((1..=total).map(change).collect());
        assert_eq!(feed.newest(), u64::from(total));
        assert!(matches!(feed.read_after(0), Read::Lost));
        assert!(matches!(feed.read_after(99), Read::Lost));
        assert_eq!(feed.start(Some(99)), Start::Reset(u64::from(total)));
        assert_eq!(feed.start(Some(100)), Start::After(100));
        match feed.read_after(100) {
            Read::Events(events) => {
                assert_eq!(events.len(), MAX_EVENTS_PER_READ);
                assert_eq!(events[0].seq, 101);
            }
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[test]
    fn a_crowd_is_woken_less_often_but_within_the_streams_promise() {
        assert_eq!(wake_interval(0), Duration::from_millis(FANOUT_INTERVAL_MS));
        assert_eq!(wake_interval(500), Duration::from_millis(10));
        assert_eq!(wake_interval(1_000), Duration::from_millis(20));
        assert_eq!(wake_interval(10_000), Duration::from_millis(200));
        assert_eq!(
            wake_interval(usize::MAX),
            Duration::from_millis(FANOUT_MAX_INTERVAL_MS)
        );
    }

    #[test]
    fn subscriptions_are_bounded_and_counted_until_dropped() {
        let feed = SeatFeed::new(Timestamp(0));
        let subs: Vec<_> = (0..MAX_SUBSCRIBERS_PER_SCHEDULE)
            .map(|_| feed.subscribe().expect("room"))
            .collect();
        assert!(feed.subscribe().is_none());
        drop(subs);
        assert_eq!(feed.subscribers(), 0);
        assert!(feed.subscribe().is_some());
    }

    #[actix_rt::test]
    async fn a_publish_wakes_a_waiting_subscriber() {
        let feed = SeatFeed::new(Timestamp(0));
        let waiting = {
            let feed = Arc::clone(&feed);
            actix_rt::spawn(async move {
                let notified = feed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if matches!(feed.read_after(0), Read::UpToDate) {
                    notified.await;
                }
                matches!(feed.read_after(0), Read::Events(_))
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        feed.publish(vec![change(1)]);
        let woke = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("woken within 2 s")
            .expect("task ran");
        assert!(woke);
    }
}
