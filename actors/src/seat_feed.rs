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
//! bounds the interval. A wake-up first seals what was published since the
//! last one into a [`FeedChunk`]: the first subscriber to read it renders it
//! (the HTTP layer's format) and every other caught-up subscriber gets the
//! same bytes by reference count, so 10,000 subscribers cost one rendering
//! per wake-up; only one that resumes inside a chunk renders the rest of it
//! for itself (once: it is aligned from then on). A subscriber holds only
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
use bytes::Bytes;
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

/// Concurrent subscribers of one schedule's feed; past it a subscription is
/// refused (the default of the HTTP layer's per-schedule bound, which tests lower).
pub const MAX_SUBSCRIBERS_PER_SCHEDULE: usize = 20_000;

/// Most events in one chunk: the most one read hands a subscriber (the
/// largest write it makes at once).
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

/// A published change with its sequence number.
#[derive(Debug)]
pub struct FeedEvent {
    pub seq: u64,
    pub change: SeatChange,
}

/// Consecutive events sealed together (those one wake-up announces, at most
/// [`MAX_EVENTS_PER_READ`]), with their rendering made by the first
/// subscriber that reads them and shared, by reference count, with all the
/// others: a caught-up crowd costs one rendering per wake-up, not one per
/// subscriber.
#[derive(Debug)]
pub struct FeedChunk {
    /// Never empty; sequence numbers consecutive.
    events: Vec<FeedEvent>,
    rendered: OnceLock<Bytes>,
}

impl FeedChunk {
    fn first(&self) -> u64 {
        self.events.first().map_or(0, |e| e.seq)
    }

    fn last(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
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
    /// The next events, rendered, oldest first (at most
    /// [`MAX_EVENTS_PER_READ`]), and the number of the last one.
    Chunk { bytes: Bytes, last: u64 },
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
    /// Sealed chunks, consecutive, oldest first; subscribers read only these.
    sealed: VecDeque<Arc<FeedChunk>>,
    /// Published since the last seal, numbered on from the sealed ones; the
    /// next wake-up seals them (so everyone it wakes reads the same chunk).
    open: Vec<FeedEvent>,
    /// Events in `sealed` and `open`.
    kept: usize,
    /// The last number given (the feed's start when none was yet).
    newest: u64,
}

impl Ring {
    /// The oldest number kept (`newest + 1` when none is).
    fn oldest(&self) -> u64 {
        self.newest + 1 - self.kept as u64
    }

    /// The last number a subscriber may read now.
    fn sealed_newest(&self) -> u64 {
        self.newest - self.open.len() as u64
    }

    fn seal(&mut self) {
        if !self.open.is_empty() {
            let events = std::mem::take(&mut self.open);
            self.sealed.push_back(Arc::new(FeedChunk {
                events,
                rendered: OnceLock::new(),
            }));
        }
    }

    /// Drops the oldest chunks while at least [`SEAT_FEED_KEPT_EVENTS`]
    /// remain without them.
    fn trim(&mut self) {
        while let Some(front) = self.sealed.front() {
            let without = self.kept - front.events.len();
            if without < SEAT_FEED_KEPT_EVENTS {
                break;
            }
            self.kept = without;
            self.sealed.pop_front();
        }
    }
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
                sealed: VecDeque::new(),
                open: Vec::new(),
                kept: 0,
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
                ring.open.push(FeedEvent { seq, change });
                ring.kept += 1;
                if ring.open.len() >= MAX_EVENTS_PER_READ {
                    ring.seal();
                }
            }
            ring.trim();
        }
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            fanout().wake(Arc::downgrade(self));
        }
    }

    /// Seals what was published since the last wake-up and wakes every
    /// waiting subscriber: they all read that one chunk.
    fn wake(&self) {
        self.ring().seal();
        self.notify.notify_waiters();
    }

    /// The newest sequence number given.
    pub fn newest(&self) -> u64 {
        self.ring().newest
    }

    /// Where a subscriber resuming after `resume` (None: live only) starts.
    pub fn start(&self, resume: Option<u64>) -> Start {
        let ring = self.ring();
        match resume {
            None => Start::After(ring.newest),
            Some(after) if after <= ring.newest && after + 1 >= ring.oldest() => {
                Start::After(after)
            }
            Some(_) => Start::Reset(ring.newest),
        }
    }

    /// The events after `after` that the last wake-up announced, at most one
    /// chunk. A subscriber at a chunk's start (every caught-up one) gets that
    /// chunk's shared rendering, `render` running once per chunk; one that
    /// starts inside a chunk (a resume, or a subscription made between two
    /// wake-ups) has the rest of that chunk rendered for it alone, and is at
    /// a chunk's start from then on.
    pub fn read_after(&self, after: u64, render: impl FnOnce(&[FeedEvent]) -> Bytes) -> Read {
        let chunk = {
            let ring = self.ring();
            if after >= ring.sealed_newest() {
                return Read::UpToDate;
            }
            if after + 1 < ring.oldest() {
                return Read::Lost;
            }
            let at = ring.sealed.partition_point(|chunk| chunk.last() <= after);
            match ring.sealed.get(at) {
                Some(chunk) => Arc::clone(chunk),
                // Unreachable: `after` is below the sealed newest and not
                // below the oldest, so a sealed chunk holds `after + 1`.
                None => return Read::UpToDate,
            }
        };
        let last = chunk.last();
        let skip = (after + 1).saturating_sub(chunk.first()) as usize;
        let bytes = if skip == 0 {
            chunk.rendered.get_or_init(|| render(&chunk.events)).clone()
        } else {
            render(&chunk.events[skip.min(chunk.events.len())..])
        };
        Read::Chunk { bytes, last }
    }

    /// Resolves at the next wake-up after it is enabled (see
    /// [`Notified::enable`]): enable it, read, then await it if there was
    /// nothing to read.
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }

    /// A subscription, or None when `max` are open (normally
    /// [`MAX_SUBSCRIBERS_PER_SCHEDULE`]).
    pub fn subscribe(self: &Arc<Self>, max: usize) -> Option<Subscription> {
        self.subscribers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
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
                feed.wake();
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
            feed.wake();
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

    /// A test rendering: the sequence numbers, one a line.
    fn render(events: &[FeedEvent]) -> Bytes {
        Bytes::from(
            events
                .iter()
                .map(|e| format!("{}\n", e.seq))
                .collect::<String>(),
        )
    }

    fn seqs(read: Read) -> Vec<u64> {
        match read {
            Read::Chunk { bytes, last } => {
                let seqs: Vec<u64> = std::str::from_utf8(&bytes)
                    .expect("utf-8")
                    .lines()
                    .map(|l| l.parse().expect("a number"))
                    .collect();
                assert_eq!(seqs.last(), Some(&last));
                seqs
            }
            other => panic!("expected a chunk, got {other:?}"),
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
        // (Whether a read before the wake-up sees nothing depends on the
        // fan-out thread, which may wake this feed at any moment: not asserted.)
        feed.wake();
        assert_eq!(seqs(feed.read_after(5_000, render)), vec![5_001, 5_002]);
        assert!(matches!(feed.read_after(5_002, render), Read::UpToDate));
    }

    #[test]
    fn caught_up_subscribers_share_one_rendering_and_a_late_one_gets_its_own() {
        let feed = SeatFeed::new(Timestamp(0));
        feed.publish(vec![change(1), change(2), change(3)]);
        feed.wake();
        let renders = AtomicUsize::new(0);
        let counted = |events: &[FeedEvent]| {
            renders.fetch_add(1, Ordering::Relaxed);
            render(events)
        };
        let reads: Vec<Bytes> = (0..100)
            .map(|_| match feed.read_after(0, counted) {
                Read::Chunk { bytes, .. } => bytes,
                other => panic!("expected a chunk, got {other:?}"),
            })
            .collect();
        assert_eq!(renders.load(Ordering::Relaxed), 1);
        // The same bytes, not copies.
        assert!(reads.iter().all(|b| b.as_ptr() == reads[0].as_ptr()));
        // One resuming inside the chunk gets the rest of it, then is aligned.
        assert_eq!(seqs(feed.read_after(1, counted)), vec![2, 3]);
        assert_eq!(renders.load(Ordering::Relaxed), 2);
        feed.publish(vec![change(4)]);
        feed.publish(vec![change(5)]);
        feed.wake();
        assert_eq!(seqs(feed.read_after(3, counted)), vec![4, 5]);
        assert_eq!(seqs(feed.read_after(3, counted)), vec![4, 5]);
        assert_eq!(renders.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_ring_keeps_the_last_events_and_a_reader_behind_it_is_lost() {
        let feed = SeatFeed::new(Timestamp(0));
        let total = 2 * SEAT_FEED_KEPT_EVENTS as u32 + 100;
        feed.publish((1..=total).map(change).collect());
        feed.wake();
        assert_eq!(feed.newest(), u64::from(total));
        let oldest = match feed.start(Some(0)) {
            Start::Reset(_) => {
                // The first kept event: the first resume point not reset, minus one.
                (1..=u64::from(total))
                    .find(|after| feed.start(Some(*after)) != Start::Reset(u64::from(total)))
                    .expect("some kept")
                    + 1
            }
            Start::After(_) => panic!("the first events are no longer kept"),
        };
        let kept = u64::from(total) + 1 - oldest;
        assert!(kept >= SEAT_FEED_KEPT_EVENTS as u64, "{kept} kept");
        assert!(kept < (SEAT_FEED_KEPT_EVENTS + MAX_EVENTS_PER_READ) as u64);
        assert!(matches!(feed.read_after(0, render), Read::Lost));
        assert!(matches!(feed.read_after(oldest - 2, render), Read::Lost));
        let first = seqs(feed.read_after(oldest - 1, render));
        assert_eq!(first[0], oldest);
        assert!(first.len() <= MAX_EVENTS_PER_READ);
        // Chunk by chunk to the newest, every number once.
        let mut after = oldest - 1;
        let mut read = 0u64;
        while let Read::Chunk { bytes: _, last } = feed.read_after(after, render) {
            read += last - after;
            after = last;
        }
        assert_eq!(after, u64::from(total));
        assert_eq!(read, kept);
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
            .map(|_| feed.subscribe(MAX_SUBSCRIBERS_PER_SCHEDULE).expect("room"))
            .collect();
        assert!(feed.subscribe(MAX_SUBSCRIBERS_PER_SCHEDULE).is_none());
        drop(subs);
        assert_eq!(feed.subscribers(), 0);
        assert!(feed.subscribe(MAX_SUBSCRIBERS_PER_SCHEDULE).is_some());
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
                if matches!(feed.read_after(0, render), Read::UpToDate) {
                    notified.await;
                }
                matches!(feed.read_after(0, render), Read::Chunk { .. })
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
