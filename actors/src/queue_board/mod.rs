//! The waiting room's public board: what a poll reads without asking anyone.
//!
//! Polls are most of a waiting room's traffic (100,000 users polling every
//! few seconds), so they must not go through the queue actor, the single
//! writer. Instead the queue actor publishes, per schedule, a `QueueBoard`:
//! each join number's status (a slot of two atomics), the count of waiting
//! places per block of join numbers (for positions), the line's length and
//! its admission rate (for the ETA and the pace). A poll carries a
//! [`QueuePass`], the place its signed token proves (the HTTP layer checks
//! the signature), and answers from the board with a few atomic loads and
//! one atomic store (the poll time): no message, no lock.
//!
//! One writer: the board changes only in the callbacks the group commit runs,
//! in log order, once the change is durable (so nobody is shown ACTIVE by an
//! admission a crash could undo), plus the poll times the pollers store. The
//! queue actor reads those poll times back before it drops silent tokens
//! ([`QueueBoard::last_poll`]), so a poll counts without reaching it.
//!
//! After a restart the board is rebuilt from the recovered queue.

mod eta_cell;
mod table;

use boxoffice_engine::ids::*;
use boxoffice_engine::queue::{
    poll_after_ms, EtaModel, PacingWaits, TokenStatus, TokenView, WAITING_DROP_MS,
};
use boxoffice_engine::Timestamp;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use eta_cell::EtaCell;
use table::GrowingTable;
pub use table::CAPACITY as MAX_PLACES;

/// Join numbers per block of the waiting counts: a position sums the blocks
/// ahead (at most a few thousand loads for 2 million waiting) and scans at
/// most one block's slots.
const BLOCK: u64 = 1_024;

/// Where a token's holder stands, as its signed token carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Place {
    /// In the line, with this join number.
    Line(u64),
    /// The n-th to join the pre-queue (0-based); placed in the line by the
    /// shuffle at opening.
    PreQueue(u64),
}

/// What a queue token proves: whose place, in which schedule's line, where.
/// The HTTP layer signs it into the token string and verifies it back; the
/// engine trusts a pass only as far as the board confirms its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueuePass {
    pub schedule_id: ScheduleId,
    pub user: UserId,
    pub token: QueueTokenId,
    pub place: Place,
}

/// A slot's status, in the low 3 bits of its state word; the rest is a time
/// in ms (joined, active until, or ended).
/// (0: never published.)
const WAITING: u64 = 1;
const ACTIVE: u64 = 2;
const ENDED: u64 = 3;
const EXPIRED: u64 = 4;
const STATUS_BITS: u32 = 3;

fn pack(status: u64, at: Timestamp) -> u64 {
    (at.0.max(0) as u64) << STATUS_BITS | status
}

fn unpack(word: u64) -> (u64, Timestamp) {
    (
        word & ((1 << STATUS_BITS) - 1),
        Timestamp((word >> STATUS_BITS) as i64),
    )
}

#[derive(Default)]
struct Slot {
    state: AtomicU64,
    last_poll_ms: AtomicI64,
    /// `place_tag` of the token holding this place.
    tag: AtomicU64,
}

#[derive(Default)]
struct PreQueueEntry {
    state: AtomicU64,
    tag: AtomicU64,
}

/// Binds a place to its token and user. The signature already does, but only
/// as long as the key is secret: checking the tag too means a pass that names
/// someone else's place (forged with a leaked key, or by a bug) still reads
/// nothing. Ids are random, so 64 bits of them are unguessable.
pub fn place_tag(token: QueueTokenId, user: UserId) -> u64 {
    let half = |id: &uuid::Uuid| {
        let bytes = id.as_bytes();
        u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[9], bytes[10],
        ])
    };
    half(&token.0) ^ half(&user.0).rotate_left(32)
}

/// One published change of a join number (or pre-queue arrival).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotChange {
    /// Joined (or placed by the shuffle) with the token whose `place_tag` is `tag`.
    Waiting {
        seq: u64,
        at: Timestamp,
        tag: u64,
    },
    Active {
        seq: u64,
        until: Timestamp,
    },
    Ended {
        seq: u64,
        at: Timestamp,
    },
    Expired {
        seq: u64,
        at: Timestamp,
    },
    /// Joined the pre-queue as its `index`-th arrival.
    PreQueued {
        index: u64,
        tag: u64,
    },
    /// The shuffle put pre-queue arrival `index` at join number `seq`
    /// (which also gets its own `Waiting` change).
    Placed {
        index: u64,
        seq: u64,
    },
}

/// Numbers about the whole line, published with each change and each tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LineTotals {
    pub waiting: u64,
    /// How the engine estimates waits now (see `EtaModel`).
    pub eta: EtaModel,
    /// When a pending pre-queue is shuffled, and how many are in it; None
    /// without a pre-queue or once it is shuffled.
    pub pre_queue: Option<(Timestamp, u64)>,
}

/// Pre-queue entries: 0 unknown, 1 waiting for the shuffle, 2 + seq placed.
const PRE_UNKNOWN: u64 = 0;
const PRE_WAITING: u64 = 1;
const PRE_PLACED_BASE: u64 = 2;

#[derive(Default)]
pub struct QueueBoard {
    slots: GrowingTable<Slot>,
    waiting_per_block: GrowingTable<AtomicU32>,
    /// No block before this one has a waiting place (a hint that only grows,
    /// since places only join at the back).
    first_waiting_block: AtomicU64,
    pre_queue: GrowingTable<PreQueueEntry>,
    waiting: AtomicU64,
    /// The `EtaModel`, never read half-written.
    eta: EtaCell,
    /// `i64::MIN` without a pending pre-queue.
    opens_at_ms: AtomicI64,
    pre_queue_len: AtomicU64,
}

impl QueueBoard {
    pub fn new() -> QueueBoard {
        let board = QueueBoard::default();
        board.opens_at_ms.store(i64::MIN, Ordering::Relaxed);
        board
    }

    // ----- the writer (group-commit callbacks, or the actor before serving) -----

    /// Publishes changes in log order. For the board's one writer.
    pub fn apply(&self, changes: &[SlotChange]) {
        for change in changes {
            match *change {
                SlotChange::Waiting { seq, at, tag } => self.set(seq, WAITING, at, Some(tag)),
                SlotChange::Active { seq, until } => self.set(seq, ACTIVE, until, None),
                SlotChange::Ended { seq, at } => self.set(seq, ENDED, at, None),
                SlotChange::Expired { seq, at } => self.set(seq, EXPIRED, at, None),
                SlotChange::PreQueued { index, tag } => {
                    if let Some(entry) = self.pre_queue.get_or_grow(index) {
                        entry.tag.store(tag, Ordering::Relaxed);
                        entry.state.store(PRE_WAITING, Ordering::Release);
                    }
                }
                SlotChange::Placed { index, seq } => {
                    if let Some(entry) = self.pre_queue.get_or_grow(index) {
                        entry.state.store(PRE_PLACED_BASE + seq, Ordering::Release);
                    }
                }
            }
        }
    }

    pub fn publish(&self, totals: LineTotals) {
        self.waiting.store(totals.waiting, Ordering::Relaxed);
        self.eta.store(&totals.eta);
        let (opens_at, pre_queue_len) = totals.pre_queue.unwrap_or((Timestamp(i64::MIN), 0));
        self.opens_at_ms.store(opens_at.0, Ordering::Relaxed);
        self.pre_queue_len.store(pre_queue_len, Ordering::Relaxed);
    }

    /// Sets a place's status (and, when it joins, the tag binding it to its token).
    fn set(&self, seq: u64, status: u64, at: Timestamp, tag: Option<u64>) {
        let Some(slot) = self.slots.get_or_grow(seq) else {
            // 4 billion joins in one schedule: the place cannot be shown, so
            // its polls answer "unknown token" (the engine still has it).
            tracing::error!(seq, "waiting room board is full");
            return;
        };
        let (before, _) = unpack(slot.state.load(Ordering::Relaxed));
        if let Some(tag) = tag {
            slot.tag.store(tag, Ordering::Relaxed);
        }
        if status == WAITING {
            // A join (or a placed pre-queue arrival) counts as a poll.
            slot.last_poll_ms.fetch_max(at.0, Ordering::Relaxed);
        }
        slot.state.store(pack(status, at), Ordering::Release);
        let block = seq / BLOCK;
        match (before == WAITING, status == WAITING) {
            (false, true) => {
                if let Some(count) = self.waiting_per_block.get_or_grow(block) {
                    count.fetch_add(1, Ordering::Release);
                }
                self.first_waiting_block.fetch_min(block, Ordering::Release);
            }
            (true, false) => {
                if let Some(count) = self.waiting_per_block.get(block) {
                    count.fetch_sub(1, Ordering::Release);
                }
                self.advance_first_waiting_block();
            }
            _ => {}
        }
    }

    fn advance_first_waiting_block(&self) {
        let mut block = self.first_waiting_block.load(Ordering::Relaxed);
        // Bounded by the blocks that exist: `get` is None past the last one.
        while let Some(count) = self.waiting_per_block.get(block) {
            if count.load(Ordering::Relaxed) > 0 {
                break;
            }
            match self.waiting_per_block.get(block + 1) {
                Some(_) => block += 1,
                None => break,
            }
        }
        self.first_waiting_block.store(block, Ordering::Release);
    }

    // ----- readers (any thread) -----

    /// When the holder of join number `seq` last polled (or joined).
    pub fn last_poll(&self, seq: u64) -> Option<Timestamp> {
        let slot = self.slots.get(seq)?;
        let at = slot.last_poll_ms.load(Ordering::Relaxed);
        (at > 0).then_some(Timestamp(at))
    }

    /// Waiting places ahead of `seq`, plus one.
    fn position(&self, seq: u64) -> u64 {
        let block = seq / BLOCK;
        let first = self.first_waiting_block.load(Ordering::Acquire).min(block);
        let mut ahead: u64 = (first..block)
            .filter_map(|b| self.waiting_per_block.get(b))
            .map(|count| u64::from(count.load(Ordering::Acquire)))
            .sum();
        for earlier in block * BLOCK..seq {
            if let Some(slot) = self.slots.get(earlier) {
                if unpack(slot.state.load(Ordering::Acquire)).0 == WAITING {
                    ahead += 1;
                }
            }
        }
        ahead + 1
    }

    /// The holder of `pass` polls at `now`: their place as the API shows it,
    /// and the poll recorded. None when the board knows no such live place
    /// (never joined, or ended, expired, dropped out).
    pub fn poll(&self, pass: &QueuePass, now: Timestamp) -> Option<TokenView> {
        let tag = place_tag(pass.token, pass.user);
        let seq = match pass.place {
            Place::Line(seq) => seq,
            Place::PreQueue(index) => {
                let entry = self.pre_queue.get(index)?;
                let state = entry.state.load(Ordering::Acquire);
                if entry.tag.load(Ordering::Relaxed) != tag {
                    return None;
                }
                match state {
                    PRE_UNKNOWN => return None,
                    PRE_WAITING => return Some(self.pre_queue_view(pass, now)),
                    placed => placed - PRE_PLACED_BASE,
                }
            }
        };
        let slot = self.slots.get(seq)?;
        let (status, at) = unpack(slot.state.load(Ordering::Acquire));
        if slot.tag.load(Ordering::Relaxed) != tag {
            return None;
        }
        match status {
            WAITING => {
                slot.last_poll_ms.fetch_max(now.0, Ordering::Relaxed);
                let position = self.position(seq);
                let model = self.eta.load();
                let (eta, pacing_waits) = model.wait_at(position, now);
                let waiting = self.waiting.load(Ordering::Relaxed);
                Some(TokenView {
                    token: pass.token,
                    user: pass.user,
                    status: TokenStatus::Waiting,
                    position,
                    estimated_wait_seconds: eta,
                    expires_at: now.plus_millis(WAITING_DROP_MS),
                    poll_after_ms: poll_after_ms(TokenStatus::Waiting, pacing_waits, waiting, 0),
                })
            }
            ACTIVE if now < at => Some(TokenView {
                token: pass.token,
                user: pass.user,
                status: TokenStatus::Active,
                position: 0,
                estimated_wait_seconds: 0,
                expires_at: at,
                poll_after_ms: poll_after_ms(TokenStatus::Active, PacingWaits::default(), 0, 0),
            }),
            _ => None,
        }
    }

    /// As the engine shows a pre-queue token (`Queue::view`).
    fn pre_queue_view(&self, pass: &QueuePass, now: Timestamp) -> TokenView {
        let opens_at = Timestamp(self.opens_at_ms.load(Ordering::Relaxed));
        let in_pre_queue = self.pre_queue_len.load(Ordering::Relaxed);
        let until_opening_ms = opens_at.millis_since(now).max(0);
        TokenView {
            token: pass.token,
            user: pass.user,
            status: TokenStatus::PreQueue,
            position: 0,
            estimated_wait_seconds: 0,
            expires_at: opens_at.plus_millis(WAITING_DROP_MS),
            poll_after_ms: poll_after_ms(
                TokenStatus::PreQueue,
                PacingWaits::default(),
                in_pre_queue,
                until_opening_ms,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(seq: u64) -> QueuePass {
        QueuePass {
            schedule_id: ScheduleId::from_random_bytes([1; 16]),
            user: UserId::from_random_bytes([2; 16]),
            token: QueueTokenId::from_random_bytes([3; 16]),
            place: Place::Line(seq),
        }
    }

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    fn tag() -> u64 {
        place_tag(pass(0).token, pass(0).user)
    }

    #[test]
    fn a_pass_for_someone_elses_place_reads_nothing() {
        let board = QueueBoard::new();
        board.apply(&[SlotChange::Waiting {
            seq: 0,
            at: T0,
            tag: tag(),
        }]);
        assert!(board.poll(&pass(0), T0).is_some());
        let other_token = QueuePass {
            token: QueueTokenId::from_random_bytes([9; 16]),
            ..pass(0)
        };
        let other_user = QueuePass {
            user: UserId::from_random_bytes([9; 16]),
            ..pass(0)
        };
        assert!(board.poll(&other_token, T0).is_none());
        assert!(board.poll(&other_user, T0).is_none());
    }

    #[test]
    fn positions_count_waiting_places_ahead_across_blocks() {
        let board = QueueBoard::new();
        let seqs: Vec<u64> = (0..5_000).collect();
        let changes: Vec<_> = seqs
            .iter()
            .map(|&seq| SlotChange::Waiting {
                seq,
                at: T0,
                tag: tag(),
            })
            .collect();
        board.apply(&changes);
        assert_eq!(board.poll(&pass(0), T0).map(|v| v.position), Some(1));
        assert_eq!(
            board.poll(&pass(4_999), T0).map(|v| v.position),
            Some(5_000)
        );
        // Admit the first 2,000 and drop one further back.
        let mut gone: Vec<_> = (0..2_000)
            .map(|seq| SlotChange::Active {
                seq,
                until: T0.plus_millis(60_000),
            })
            .collect();
        gone.push(SlotChange::Expired { seq: 3_000, at: T0 });
        board.apply(&gone);
        assert_eq!(board.first_waiting_block.load(Ordering::Relaxed), 1);
        assert_eq!(board.poll(&pass(2_000), T0).map(|v| v.position), Some(1));
        assert_eq!(
            board.poll(&pass(4_999), T0).map(|v| v.position),
            Some(2_999)
        );
        let active = board.poll(&pass(5), T0).expect("active");
        assert_eq!((active.status, active.position), (TokenStatus::Active, 0));
        assert!(board.poll(&pass(3_000), T0).is_none(), "dropped out");
        assert!(board.poll(&pass(9_999), T0).is_none(), "never joined");
        assert!(
            board.poll(&pass(5), T0.plus_millis(60_000)).is_none(),
            "active time over"
        );
    }

    #[test]
    fn a_poll_is_recorded_for_the_queue_actor() {
        let board = QueueBoard::new();
        board.apply(&[SlotChange::Waiting {
            seq: 7,
            at: T0,
            tag: tag(),
        }]);
        assert_eq!(board.last_poll(7), Some(T0));
        board.poll(&pass(7), T0.plus_millis(5_000));
        assert_eq!(board.last_poll(7), Some(T0.plus_millis(5_000)));
        board.poll(&pass(7), T0.plus_millis(1_000));
        assert_eq!(
            board.last_poll(7),
            Some(T0.plus_millis(5_000)),
            "never back"
        );
    }

    #[test]
    fn pre_queue_places_resolve_after_the_shuffle() {
        let board = QueueBoard::new();
        board.publish(LineTotals {
            waiting: 0,
            eta: EtaModel {
                room: 0,
                batch_per_sec: 10.0,
                room_limited_per_sec: 10.0,
                forecast: None,
            },
            pre_queue: Some((T0, 1)),
        });
        let early = QueuePass {
            place: Place::PreQueue(0),
            ..pass(0)
        };
        assert!(board.poll(&early, T0).is_none());
        board.apply(&[SlotChange::PreQueued {
            index: 0,
            tag: tag(),
        }]);
        let before = board
            .poll(&early, T0.plus_millis(-1_000))
            .expect("pre-queued");
        assert_eq!(before.status, TokenStatus::PreQueue);
        board.apply(&[
            SlotChange::Placed { index: 0, seq: 3 },
            SlotChange::Waiting {
                seq: 3,
                at: T0,
                tag: tag(),
            },
        ]);
        let view = board.poll(&early, T0).expect("placed");
        assert_eq!((view.status, view.position), (TokenStatus::Waiting, 1));
    }
}
