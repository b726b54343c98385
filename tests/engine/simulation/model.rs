//! The simulation's model: what the engine ACKNOWLEDGED, and nothing else.
//!
//! Every operation is awaited before the next starts, so the model is exact:
//! it changes only when the engine answers (an answer is durable by
//! contract), and after a crash it is the list of things that must have
//! survived. The one operation that was in flight when the store died is kept
//! aside ([`InFlight`]): after the restart it may have happened or not, and the
//! checks adopt whichever the engine shows, after checking it is whole.

use boxoffice_actors::idempotency::Endpoint;
use boxoffice_actors::queue_board::QueuePass;
use boxoffice_actors::receipt::StoredReply;
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::{Money, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// One schedule as the workload sees it.
#[derive(Clone, Debug)]
pub struct ScheduleModel {
    pub id: ScheduleId,
    pub gated: bool,
    /// When the gated schedule's pre-queue is shuffled (booking opens), if it has one.
    pub pre_queue_opens_at: Option<Timestamp>,
    pub seat_ids: Vec<String>,
    pub grades: Vec<String>,
    /// Rows in layout order (best section first, front row first).
    pub rows: Vec<RowModel>,
    pub max_seats_per_user: u32,
}

/// One row: its section's index and grade, and its seat ids left to right.
#[derive(Clone, Debug)]
pub struct RowModel {
    pub section: usize,
    pub grade: String,
    pub seats: Vec<String>,
}

/// A reservation's last acknowledged state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Held,
    Confirmed {
        payment_id: PaymentId,
        tickets: Vec<TicketId>,
    },
    /// `refund`: the payment refunded and how much, for a paid reservation.
    Cancelled {
        refund: Option<(PaymentId, Money)>,
    },
    Expired,
}

#[derive(Clone, Debug)]
pub struct ReservationModel {
    pub schedule: ScheduleId,
    pub user: UserId,
    pub seats: Vec<String>,
    pub amount: Money,
    pub expires_at: Timestamp,
    pub status: Status,
    /// The waiting-room token a gated hold was made under (None: ungated, or unknown).
    pub queue_token: Option<QueueTokenId>,
}

impl ReservationModel {
    /// True while the reservation must own its seats at `now`: a hold past its
    /// deadline may be swept (or its seats taken) at any moment.
    pub fn occupies_seats(&self, now: Timestamp) -> bool {
        match self.status {
            Status::Held => now < self.expires_at,
            Status::Confirmed { .. } => true,
            Status::Cancelled { .. } | Status::Expired => false,
        }
    }
}

/// An idempotency key as the client knows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyId {
    pub user: UserId,
    pub endpoint: Endpoint,
    pub key: String,
}

/// A keyed request as sent, so that it can be sent again word for word.
#[derive(Clone, Debug)]
pub enum KeyedRequest {
    Charge {
        amount: Money,
    },
    Hold {
        schedule: ScheduleId,
        selection: SeatSelection,
    },
    Pay {
        reservation: ReservationId,
        amount: Option<Money>,
    },
}

#[derive(Clone, Debug)]
pub enum KeyState {
    /// The engine decided under this key: the same body must replay `reply`,
    /// any other body is `IdempotencyKeyReused`.
    Decided {
        body: String,
        reply: Box<StoredReply>,
        request: KeyedRequest,
    },
    /// Used by the operation a crash interrupted: its fate is unknown, so the
    /// workload never sends it again.
    Burned,
}

/// The operation in flight when the store died (its answer, if any, was an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InFlight {
    Hold {
        user: UserId,
        schedule: ScheduleId,
    },
    Release(ReservationId),
    Pay(ReservationId),
    CancelPaid(ReservationId),
    Charge {
        user: UserId,
        amount: Money,
    },
    CheckIn(TicketId),
    Join(UserId),
    /// An admin's cancel of the whole schedule: if the schedule shows
    /// cancelled after the restart, every reservation of it must be ended
    /// (the checks adopt the cancellation whole).
    CancelSchedule(ScheduleId),
    Block {
        schedule: ScheduleId,
        seats: Vec<String>,
        reason: String,
    },
    Unblock {
        schedule: ScheduleId,
        seats: Vec<String>,
    },
    Comp {
        schedule: ScheduleId,
        user: UserId,
        seats: Vec<String>,
    },
    /// Clock moves, ticks, expiries, reads and replays: nothing the checks
    /// must adopt beyond what time alone allows.
    NoNewEffect,
}

#[derive(Default)]
pub struct Model {
    pub users: Vec<UserId>,
    pub schedules: Vec<ScheduleModel>,
    pub reservations: BTreeMap<ReservationId, ReservationModel>,
    /// Acknowledged charges by transaction id: (user, amount).
    pub charges: BTreeMap<TransactionId, (UserId, Money)>,
    /// Each user's charges in the UTC day of their latest charge: (day, count),
    /// the wallet's daily charge count as the acknowledged charges left it.
    pub charge_days: BTreeMap<UserId, (i64, u32)>,
    /// Every user's balance as the acknowledged operations left it.
    pub balances: BTreeMap<UserId, Money>,
    /// Payment id → the reservation it confirmed.
    pub payments: BTreeMap<PaymentId, ReservationId>,
    /// Ticket → (reservation, checked in).
    pub tickets: BTreeMap<TicketId, (ReservationId, bool)>,
    /// The gated schedule's waiting-room token of each user who joined.
    pub tokens: BTreeMap<UserId, QueueTokenId>,
    /// What each of those tokens proves (the place a client's signed token carries).
    pub passes: BTreeMap<QueueTokenId, QueuePass>,
    /// The pre-queue's order (join number of each arrival) as first seen
    /// durable after a restart: every later restart must find the same.
    pub shuffled_order: Option<Vec<u64>>,
    /// Tokens a payment ended (or may have: one in flight at a crash). A hold
    /// made under any other admitted token can be paid until it expires.
    pub ended_tokens: BTreeSet<QueueTokenId>,
    pub keys: BTreeMap<KeyId, KeyState>,
    pub in_flight: Option<InFlight>,
    /// Schedules whose cancellation was acknowledged.
    pub cancelled: BTreeSet<ScheduleId>,
    /// Blocked seats of each schedule, with their reasons.
    pub blocked: BTreeMap<ScheduleId, BTreeMap<String, String>>,
}

impl Model {
    pub fn schedule(&self, id: ScheduleId) -> &ScheduleModel {
        self.schedules
            .iter()
            .find(|s| s.id == id)
            .expect("the model knows every schedule")
    }

    pub fn balance(&self, user: UserId) -> Money {
        self.balances.get(&user).copied().unwrap_or(Money::ZERO)
    }

    pub fn add_to_balance(&mut self, user: UserId, delta: Money) {
        let balance = self
            .balance(user)
            .checked_add(delta)
            .expect("model balances stay far from overflow");
        assert!(
            balance >= Money::ZERO,
            "model balance of {user} went negative: {balance}"
        );
        self.balances.insert(user, balance);
    }

    pub fn record_charge(
        &mut self,
        transaction: TransactionId,
        user: UserId,
        amount: Money,
        at: Timestamp,
    ) {
        let previous = self.charges.insert(transaction, (user, amount));
        assert!(
            previous.is_none(),
            "transaction id {transaction} acknowledged twice"
        );
        self.add_to_balance(user, amount);
        let (day, count) = self.charge_window(user, at);
        self.charge_days.insert(user, (day, count + 1));
    }

    /// The UTC day a charge of `user` at `at` counts in and the charges
    /// already in it (a clock stepping back counts in the later day).
    fn charge_window(&self, user: UserId, at: Timestamp) -> (i64, u32) {
        let day = at.0.div_euclid(86_400_000);
        match self.charge_days.get(&user) {
            Some(&(tracked, count)) if tracked >= day => (tracked, count),
            _ => (day, 0),
        }
    }

    /// Charges `user` already made in the day a charge at `at` counts in.
    pub fn charges_today(&self, user: UserId, at: Timestamp) -> u32 {
        self.charge_window(user, at).1
    }

    pub fn record_confirmed(
        &mut self,
        reservation_id: ReservationId,
        payment_id: PaymentId,
        tickets: Vec<TicketId>,
    ) {
        let reservation = self
            .reservations
            .get_mut(&reservation_id)
            .expect("a confirmed reservation is in the model");
        reservation.status = Status::Confirmed {
            payment_id,
            tickets: tickets.clone(),
        };
        let (user, amount) = (reservation.user, reservation.amount);
        self.payments.insert(payment_id, reservation_id);
        for ticket in tickets {
            self.tickets.insert(ticket, (reservation_id, false));
        }
        self.add_to_balance(user, Money(-amount.0));
    }

    pub fn record_paid_cancel(&mut self, reservation_id: ReservationId) {
        let reservation = self
            .reservations
            .get_mut(&reservation_id)
            .expect("a cancelled reservation is in the model");
        let Status::Confirmed { payment_id, .. } = reservation.status else {
            panic!("record_paid_cancel on {reservation_id} that is not confirmed");
        };
        reservation.status = Status::Cancelled {
            refund: Some((payment_id, reservation.amount)),
        };
        let (user, amount) = (reservation.user, reservation.amount);
        self.add_to_balance(user, amount);
    }

    /// An acknowledged cancellation of `schedule`, once its driver has run:
    /// every hold released, every paid reservation (comps too, at 0)
    /// refunded in full. The workload sweeps due holds just before it
    /// cancels, so every `Held` one in the model is live and released.
    pub fn record_schedule_cancelled(&mut self, schedule: ScheduleId) {
        assert!(
            self.cancelled.insert(schedule),
            "{schedule} cancelled twice"
        );
        let ids = self.reservations_where(|r| r.schedule == schedule);
        for id in ids {
            match self.reservations[&id].status {
                Status::Held => {
                    self.reservations.get_mut(&id).expect("in the model").status =
                        Status::Cancelled { refund: None };
                }
                Status::Confirmed { .. } => self.record_paid_cancel(id),
                Status::Cancelled { .. } | Status::Expired => {}
            }
        }
    }

    /// Seats of `schedule` taken now: held (live), sold, comped or blocked.
    pub fn taken_seats(&self, schedule: ScheduleId, now: Timestamp) -> BTreeSet<String> {
        let mut taken: BTreeSet<String> = self
            .blocked
            .get(&schedule)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default();
        for r in self.reservations.values() {
            if r.schedule == schedule && r.occupies_seats(now) {
                taken.extend(r.seats.iter().cloned());
            }
        }
        taken
    }

    pub fn is_blocked(&self, schedule: ScheduleId, seat: &str) -> bool {
        self.blocked
            .get(&schedule)
            .is_some_and(|b| b.contains_key(seat))
    }

    /// The blocked seats of `schedule` in the engine's order (seat order) with reasons.
    pub fn blocks_of(&self, schedule: ScheduleId) -> Vec<(String, String)> {
        let seat_order = &self.schedule(schedule).seat_ids;
        let blocked = self.blocked.get(&schedule);
        seat_order
            .iter()
            .filter_map(|seat| {
                blocked
                    .and_then(|b| b.get(seat))
                    .map(|reason| (seat.clone(), reason.clone()))
            })
            .collect()
    }

    /// An acknowledged comp: `comp` is the new reservation, `Confirmed`
    /// and free, on seats that were blocked.
    pub fn record_comp(&mut self, reservation_id: ReservationId, comp: ReservationModel) {
        let Status::Confirmed {
            payment_id,
            tickets,
        } = comp.status.clone()
        else {
            panic!("a comp is confirmed, not {:?}", comp.status);
        };
        assert_eq!(comp.amount, Money::ZERO, "a comp is free");
        let blocked = self.blocked.entry(comp.schedule).or_default();
        for seat in &comp.seats {
            assert!(
                blocked.remove(seat).is_some(),
                "comped {seat} was not blocked"
            );
        }
        let previous = self.reservations.insert(
            reservation_id,
            ReservationModel {
                status: Status::Held,
                ..comp
            },
        );
        assert!(
            previous.is_none(),
            "reservation id {reservation_id} handed out twice"
        );
        self.record_confirmed(reservation_id, payment_id, tickets);
    }

    /// An acknowledged expiry sweep at `now` on `schedule`: every hold due by then is expired.
    pub fn record_expiry(&mut self, schedule: ScheduleId, now: Timestamp) {
        for reservation in self.reservations.values_mut() {
            if reservation.schedule == schedule
                && reservation.status == Status::Held
                && reservation.expires_at <= now
            {
                reservation.status = Status::Expired;
            }
        }
    }

    pub fn decided_key(&self, key: &KeyId) -> Option<(&str, &StoredReply)> {
        match self.keys.get(key) {
            Some(KeyState::Decided { body, reply, .. }) => Some((body, reply)),
            _ => None,
        }
    }

    pub fn is_burned(&self, key: &KeyId) -> bool {
        matches!(self.keys.get(key), Some(KeyState::Burned))
    }

    /// Reservations in `status`-class `pick`, sorted by id, for seeded choices.
    pub fn reservations_where(
        &self,
        pick: impl Fn(&ReservationModel) -> bool,
    ) -> Vec<ReservationId> {
        self.reservations
            .iter()
            .filter(|(_, r)| pick(r))
            .map(|(id, _)| *id)
            .collect()
    }
}
