//! Server-Sent Events: the bodies of the two live-update streams (API.md,
//! "Live updates") and the bound on how many are open.
//!
//! A stream is a long-lived response body. Its handler (`routes::streams`)
//! authenticates and subscribes like any request, then returns at once, so
//! the load-shedding permit and the metrics' latency cover only that set-up;
//! the body then runs on its worker with nothing but its subscription: a seat
//! stream reads its schedule's `SeatFeed` ring (never the schedule's actor),
//! a queue stream reads its waiting room's board (never the queue actor).
//!
//! Memory per subscriber is bounded: a seat stream holds its position in the
//! shared ring and at most one chunk of [`MAX_EVENTS_PER_READ`] rendered
//! events (a reference to the chunk every caught-up subscriber shares); actix polls a body only while its write buffer has room, so a
//! reader that stops reading stops being fed, falls behind the ring, and gets
//! `event: reset` and the end of the stream when it next reads.
//!
//! [`MAX_EVENTS_PER_READ`]: boxoffice_actors::seat_feed::MAX_EVENTS_PER_READ

use actix_web::web::Bytes;
use boxoffice_actors::queue_actor::QueueTicket;
use boxoffice_actors::queue_board::QueuePass;
use boxoffice_actors::seat_feed::{FeedEvent, Read, Subscription, MAX_SUBSCRIBERS_PER_SCHEDULE};
use boxoffice_actors::Registry;
use boxoffice_engine::queue::TokenStatus;
use boxoffice_engine::schedule::SeatStatus;
use futures_util::Stream;
use serde_json::json;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::Sleep;

use crate::time_format::rfc3339;
use crate::views::queue::QueueTokenBody;

/// A comment line goes out after this long without an event (API.md: every 15 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// Streams of every kind open at once in the process; past it, 503.
pub const MAX_OPEN_STREAMS: usize = 50_000;

/// How often a queue stream looks at its token's place on the board (a
/// poll: a few atomic loads); it sends only on a change, or when
/// `pollAfterMs` passed since its last event.
pub const QUEUE_STREAM_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// What a new `EventSource` waits before reconnecting, sent first (ms).
const RECONNECT_MS: u32 = 1_000;

/// How often an open seat stream of a gated schedule re-checks that its
/// queue admission is still ACTIVE (on the queue's board: a few atomic loads).
pub const GATE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The bounds on open streams (`Settings::stream_limits`); tests lower them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Streams of every kind open at once in the process.
    pub max_open: usize,
    /// Seat streams of one schedule.
    pub max_per_schedule: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_open: MAX_OPEN_STREAMS,
            max_per_schedule: MAX_SUBSCRIBERS_PER_SCHEDULE,
        }
    }
}

/// Open streams, counted until each one's body is dropped.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Arc<AtomicUsize>,
    limits: StreamLimits,
}

/// One open stream's place in [`StreamSlots`].
#[derive(Debug)]
pub struct StreamSlot {
    open: Arc<AtomicUsize>,
}

impl StreamSlots {
    pub fn new(limits: StreamLimits) -> Self {
        StreamSlots {
            open: Arc::default(),
            limits,
        }
    }

    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    /// A slot, or None when `max_open` (normally [`MAX_OPEN_STREAMS`]) are open.
    pub fn take(&self) -> Option<StreamSlot> {
        let max = self.limits.max_open;
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(StreamSlot {
            open: Arc::clone(&self.open),
        })
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a seat stream starts over (the `reason` of `event: reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetReason {
    /// The resume point is older than the events kept.
    TooOld,
    /// The resume point is not a number.
    Unreadable,
    /// The resume point is ahead of the newest event (e.g. given before a restart).
    Ahead,
    /// The subscriber fell behind by more than the kept events; the stream ends.
    SlowSubscriber,
    /// The gated schedule's queue admission the stream was opened with is no
    /// longer ACTIVE (expired, or ended by a payment); the stream ends, and
    /// reconnecting without a new ACTIVE token is 403 QUEUE_NOT_ACTIVE.
    QueueNotActive,
}

impl ResetReason {
    fn code(self) -> &'static str {
        match self {
            ResetReason::TooOld => "TOO_OLD",
            ResetReason::Unreadable => "UNREADABLE_LAST_EVENT_ID",
            ResetReason::Ahead => "AHEAD_OF_NEWEST",
            ResetReason::SlowSubscriber => "SLOW_SUBSCRIBER",
            ResetReason::QueueNotActive => "QUEUE_NOT_ACTIVE",
        }
    }
}

fn seat_status(status: SeatStatus) -> &'static str {
    match status {
        SeatStatus::Available => "AVAILABLE",
        SeatStatus::Held => "HELD",
        SeatStatus::Sold => "SOLD",
        // The feed never publishes it (a blocked seat is SOLD to the
        // public), but the stream is public: never reveal a block.
        SeatStatus::Blocked => "SOLD",
    }
}

/// Appends `event: seat` for one change.
fn push_seat_frame(out: &mut String, event: &FeedEvent) {
    let data = json!({
        "seatId": event.change.seat_id,
        "status": seat_status(event.change.status),
        "at": rfc3339(event.change.at),
    });
    // Writing to a String cannot fail.
    let _ = write!(out, "id: {}\nevent: seat\ndata: {data}\n\n", event.seq);
}

/// The frames of consecutive events as one chunk: what the seat feed shares
/// among every subscriber it wakes (see `seat_feed::FeedChunk`).
pub fn seat_chunk(events: &[FeedEvent]) -> Bytes {
    let mut chunk = String::with_capacity(events.len() * 112);
    for event in events {
        push_seat_frame(&mut chunk, event);
    }
    Bytes::from(chunk)
}

/// `event: reset`, carrying the newest id so a reconnecting client resumes from there.
pub fn reset_frame(reason: ResetReason, newest: u64) -> String {
    let data = json!({"reason": reason.code(), "lastEventId": newest.to_string()});
    format!("id: {newest}\nevent: reset\ndata: {data}\n\n")
}

/// `event: queue` with the token answer.
pub fn queue_frame(body: &QueueTokenBody) -> String {
    let data = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    format!("event: queue\ndata: {data}\n\n")
}

const HEARTBEAT: &str = ": heartbeat\n\n";

type Chunk = Result<Bytes, Infallible>;

struct SeatStream {
    subscription: Subscription,
    _slot: StreamSlot,
    /// The last event sent (or the point the stream started after).
    after: u64,
    /// A reset to send first.
    reset: Option<(ResetReason, u64)>,
    /// When the last chunk went out: the heartbeat is due 15 s after it.
    last_sent: tokio::time::Instant,
    /// Fires no earlier than the heartbeat is due. Made once per stream and
    /// re-armed only when it fires: re-arming it on every wake-up cost each
    /// subscriber a timer-wheel removal and insertion per event chunk.
    heartbeat: Pin<Box<Sleep>>,
    /// On a gated schedule, the admission that must stay ACTIVE.
    gate: Option<Gate>,
    started: bool,
    done: bool,
}

/// A gated stream's admission, re-checked every [`GATE_CHECK_INTERVAL`].
struct Gate {
    registry: Arc<Registry>,
    pass: QueuePass,
    next_check: Pin<Box<Sleep>>,
}

impl Gate {
    fn due(&self) -> bool {
        self.next_check.deadline() <= tokio::time::Instant::now()
    }

    /// Whether the admission is still ACTIVE; arms the next check.
    fn still_active(&mut self) -> bool {
        let next = tokio::time::Instant::now() + GATE_CHECK_INTERVAL;
        self.next_check.as_mut().reset(next);
        self.registry.admission_active(&self.pass)
    }
}

/// The body of a seat stream: events after `after` (a reset first when
/// given), heartbeats while idle, and a reset and the end when the
/// subscriber falls behind the ring, or, when `gate` names a gated
/// schedule's admission, once that admission is no longer ACTIVE (checked
/// every [`GATE_CHECK_INTERVAL`], so within about a second).
pub fn seat_stream(
    subscription: Subscription,
    slot: StreamSlot,
    after: u64,
    reset: Option<(ResetReason, u64)>,
    gate: Option<(Arc<Registry>, QueuePass)>,
) -> impl Stream<Item = Chunk> {
    let stream = SeatStream {
        subscription,
        _slot: slot,
        after,
        reset,
        last_sent: tokio::time::Instant::now(),
        heartbeat: Box::pin(tokio::time::sleep(HEARTBEAT_INTERVAL)),
        gate: gate.map(|(registry, pass)| Gate {
            registry,
            pass,
            next_check: Box::pin(tokio::time::sleep(GATE_CHECK_INTERVAL)),
        }),
        started: false,
        done: false,
    };
    futures_util::stream::unfold(stream, |mut s| async move {
        if s.done {
            return None;
        }
        if !s.started {
            s.started = true;
            let mut first = format!("retry: {RECONNECT_MS}\n\n");
            if let Some((reason, newest)) = s.reset.take() {
                first.push_str(&reset_frame(reason, newest));
            }
            return Some((Ok(Bytes::from(first)), s));
        }
        let feed = Arc::clone(s.subscription.feed());
        loop {
            if let Some(gate) = s.gate.as_mut().filter(|gate| gate.due()) {
                if !gate.still_active() {
                    s.done = true;
                    let reset = reset_frame(ResetReason::QueueNotActive, s.after);
                    return Some((Ok(Bytes::from(reset)), s));
                }
            }
            let notified = feed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match feed.read_after(s.after, seat_chunk) {
                Read::Chunk { bytes, last } => {
                    s.after = last;
                    s.last_sent = tokio::time::Instant::now();
                    return Some((Ok(bytes), s));
                }
                Read::Lost => {
                    s.done = true;
                    let reset = reset_frame(ResetReason::SlowSubscriber, feed.newest());
                    return Some((Ok(Bytes::from(reset)), s));
                }
                Read::UpToDate => {
                    let gate_check = async {
                        match s.gate.as_mut() {
                            Some(gate) => gate.next_check.as_mut().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = &mut notified => continue,
                        _ = gate_check => continue,
                        _ = s.heartbeat.as_mut() => {
                            let due = s.last_sent + HEARTBEAT_INTERVAL;
                            let now = tokio::time::Instant::now();
                            if now < due {
                                // Events went out since it was armed.
                                s.heartbeat.as_mut().reset(due);
                                continue;
                            }
                            s.last_sent = now;
                            s.heartbeat.as_mut().reset(now + HEARTBEAT_INTERVAL);
                            return Some((Ok(Bytes::from_static(HEARTBEAT.as_bytes())), s));
                        }
                    }
                }
            }
        }
    })
}

struct QueueStream {
    registry: Arc<Registry>,
    pass: QueuePass,
    token: String,
    _slot: StreamSlot,
    /// What the last event said, and when it went.
    last: Option<(TokenStatus, Option<u64>, Instant)>,
    done: bool,
}

/// The body of a queue-token stream: `first` (the answer at subscription),
/// then one event whenever status or position changes, and at least every
/// `pollAfterMs`; it ends after ACTIVE is sent, or when the place ends.
pub fn queue_stream(
    registry: Arc<Registry>,
    first: QueueTicket,
    token: String,
    slot: StreamSlot,
) -> impl Stream<Item = Chunk> {
    let stream = QueueStream {
        registry,
        pass: first.pass,
        token,
        _slot: slot,
        last: None,
        done: false,
    };
    let first = Some(first);
    futures_util::stream::unfold((stream, first), |(mut s, mut first)| async move {
        if s.done {
            return None;
        }
        loop {
            let ticket = match first.take() {
                Some(ticket) => ticket,
                // Each look is a poll, so an open stream keeps its place.
                None => match s.registry.watch_queue(&s.pass) {
                    Ok(ticket) => ticket,
                    // Expired, ended or dropped: nothing more to say.
                    Err(_) => return None,
                },
            };
            let body = QueueTokenBody::new(&ticket, s.token.clone());
            let (status, position) = (ticket.view.status, body.position);
            let pace = Duration::from_millis(u64::try_from(body.poll_after_ms).unwrap_or(0));
            let due = match s.last {
                None => true,
                Some((last_status, last_position, at)) => {
                    last_status != status || last_position != position || at.elapsed() >= pace
                }
            };
            if due {
                let frame = match s.last {
                    None => format!("retry: {RECONNECT_MS}\n\n{}", queue_frame(&body)),
                    Some(_) => queue_frame(&body),
                };
                s.last = Some((status, position, Instant::now()));
                s.done = status == TokenStatus::Active;
                return Some((Ok(Bytes::from(frame)), (s, None)));
            }
            tokio::time::sleep(QUEUE_STREAM_CHECK_INTERVAL.min(pace)).await;
        }
    })
}
