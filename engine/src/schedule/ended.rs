//! Ended reservations leaving the live state.
//!
//! A reservation that expired, was released, or was cancelled with its refund
//! settled can never change again. Keeping them all would make the schedule
//! (and so every snapshot of it) grow with its whole history, so the owner
//! takes them out with [`Schedule::forget_ended`] once it has stored them
//! elsewhere (the schedule actor's archive). What stays is bounded by the
//! seats: every remaining reservation holds or bought at least one seat,
//! except cancelled ones whose refund is still on its way to the wallet.
//!
//! Forgetting is not an event: it changes no decision any command can make
//! about a live reservation, and recovery rebuilds the same live state from a
//! snapshot taken after it (or, from an older snapshot, the same live state
//! plus ended reservations, which the next forgetting removes again).

use super::reservation::{Reservation, ReservationStatus};
use super::Schedule;
use crate::ids::ReservationId;
use std::collections::BTreeSet;

impl Reservation {
    /// True when nothing can change it any more: expired, or cancelled with no
    /// refund owed (a released hold) or its refund settled.
    pub fn has_ended(&self) -> bool {
        matches!(
            self.status,
            ReservationStatus::Expired | ReservationStatus::Cancelled
        ) && self.refund.as_ref().is_none_or(|refund| refund.settled)
    }
}

impl Schedule {
    /// The reservations [`Self::forget_ended`] would remove, oldest first. A scan.
    pub fn ended_reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.iter().filter(|r| r.has_ended())
    }

    /// Removes every ended reservation and its (void) tickets; returns how many
    /// reservations left. O(reservations + tickets + seats held or sold).
    ///
    /// Panics if what remains is not bounded by the seats (held + paid
    /// reservations ≤ seats, tickets of live reservations ≤ seats): that would
    /// be a broken seat invariant, not a load the schedule should carry.
    pub fn forget_ended(&mut self) -> usize {
        self.forget_ended_where(|_| true)
    }

    /// [`Self::forget_ended`], for the ended reservations among `ids` only
    /// (those an archive batch wrote; others may have ended since).
    pub fn forget_ended_among(&mut self, ids: &BTreeSet<ReservationId>) -> usize {
        self.forget_ended_where(|r| ids.contains(&r.id))
    }

    /// Keeps the id indexes in place (their entries move slot, forgotten
    /// ones leave) rather than rebuilding them: this runs on the schedule
    /// actor's thread for every archive batch written, over every
    /// reservation in memory, and a rebuild (collect and sort) took 17-32 ms
    /// there in issue 21's hold storm.
    fn forget_ended_where(&mut self, chosen: impl Fn(&Reservation) -> bool) -> usize {
        let before = self.reservations.len();
        let old = std::mem::take(&mut self.reservations);
        // Old slot -> new slot, for the kept ones.
        let mut moved_to = vec![u32::MAX; before];
        let mut forgotten = BTreeSet::new();
        for (old_slot, reservation) in old.into_iter().enumerate() {
            if reservation.has_ended() && chosen(&reservation) {
                forgotten.insert(reservation.id);
                continue;
            }
            let new_slot =
                u32::try_from(self.reservations.len()).expect("slots only shrink when forgetting");
            if reservation.status.is_live() {
                for &seat in &reservation.seats {
                    self.seats.rehome(seat, old_slot as u32, new_slot);
                }
            }
            moved_to[old_slot] = new_slot;
            self.reservations.push(reservation);
        }
        if forgotten.is_empty() {
            return 0;
        }
        self.comps.retain(|id| !forgotten.contains(id));
        for id in &forgotten {
            self.reservation_slots.remove(id);
        }
        for slot in self.reservation_slots.values_mut() {
            *slot = moved_to[*slot as usize];
            debug_assert_ne!(*slot, u32::MAX, "a kept reservation's slot");
        }
        let old_tickets = std::mem::take(&mut self.tickets);
        let mut ticket_moved_to = vec![u32::MAX; old_tickets.len()];
        for (old_slot, ticket) in old_tickets.into_iter().enumerate() {
            if forgotten.contains(&ticket.reservation_id) {
                self.ticket_slots.remove(&ticket.id);
                continue;
            }
            ticket_moved_to[old_slot] = self.tickets.len() as u32;
            self.tickets.push(ticket);
        }
        for slot in self.ticket_slots.values_mut() {
            *slot = ticket_moved_to[*slot as usize];
            debug_assert_ne!(*slot, u32::MAX, "a kept ticket's slot");
        }
        self.assert_bounded_by_seats();
        before - self.reservations.len()
    }

    /// Held + paid reservations ≤ seats; their tickets ≤ seats.
    fn assert_bounded_by_seats(&self) {
        let seats = self.seat_count() as usize;
        let occupying = self
            .reservations
            .iter()
            .filter(|r| r.status.is_live())
            .count();
        assert!(
            occupying <= seats,
            "{occupying} live reservations on {seats} seats"
        );
        let live_tickets: usize = self
            .reservations
            .iter()
            .filter(|r| r.status.is_live())
            .map(|r| r.tickets.len())
            .sum();
        assert!(
            live_tickets <= seats,
            "{live_tickets} live tickets on {seats} seats"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixture::*;
    use super::super::*;

    /// One of each fate on a 6-seat schedule: held, paid, released, expired,
    /// cancelled with refund owed, cancelled with refund settled.
    fn every_fate() -> Schedule {
        let mut s = uniform_schedule(1, 1, 6);
        let t = |ms: i64| Timestamp(T0.0 + ms);
        hold_ids(&mut s, 1, user(1), &["S0-1-1"], T0).expect("hold 1");
        hold_ids(&mut s, 2, user(1), &["S0-1-2"], T0).expect("hold 2");
        hold_ids(&mut s, 3, user(2), &["S0-1-3"], T0).expect("hold 3");
        hold_ids(&mut s, 4, user(2), &["S0-1-4"], T0).expect("hold 4");
        hold_ids(&mut s, 5, user(3), &["S0-1-5"], T0).expect("hold 5");
        hold_ids(&mut s, 6, user(3), &["S0-1-6"], T0).expect("hold 6");
        for n in [2, 5, 6] {
            s.begin_payment(
                rid(n),
                s.reservation(rid(n)).unwrap().user,
                pid(n),
                None,
                t(1),
            )
            .expect("begin");
            s.confirm(rid(n), pid(n), vec![tid(n, 0)], t(2))
                .expect("confirm");
        }
        s.cancel(rid(3), user(2), t(3)).expect("release");
        s.cancel(rid(5), user(3), t(3)).expect("cancel paid 5");
        s.cancel(rid(6), user(3), t(3)).expect("cancel paid 6");
        s.settle_refund(rid(6), t(4)).expect("settle 6");
        // Only 4 is still held past its deadline: it expires.
        s.begin_payment(rid(1), user(1), pid(1), None, t(5))
            .expect("pin 1");
        let expiry = s.rules().hold_ms;
        s.expire_due(t(expiry + 10)).expect("one due");
        s
    }

    #[test]
    fn ended_reservations_and_their_tickets_leave_and_the_rest_stays_intact() {
        let mut s = every_fate();
        s.check_invariants().expect("before");
        let ended: Vec<_> = s.ended_reservations().map(|r| r.id).collect();
        assert_eq!(ended, vec![rid(3), rid(4), rid(6)]);
        let counts = s.counts();
        assert_eq!(s.forget_ended(), 3);
        s.check_invariants().expect("after");
        assert_eq!(s.counts(), counts, "seats do not move");
        for n in [3, 4, 6] {
            assert!(s.reservation(rid(n)).is_none(), "{n} forgotten");
        }
        assert!(s.ticket(tid(6, 0)).is_none(), "void ticket of 6 forgotten");
        assert!(s.ticket(tid(5, 0)).is_some(), "5's refund is still owed");
        assert_eq!(s.reservations().count(), 3);
        // The live ones still work: pay 1's pending payment, cancel 2, settle 5.
        s.confirm(rid(1), pid(1), vec![tid(1, 0)], Timestamp(T0.0 + 9))
            .expect("1 confirms after forgetting");
        s.cancel(rid(2), user(1), Timestamp(T0.0 + 9))
            .expect("2 cancels after forgetting");
        s.settle_refund(rid(5), Timestamp(T0.0 + 9))
            .expect("settle 5");
        s.check_invariants().expect("after more commands");
        assert_eq!(
            s.forget_ended(),
            1,
            "5 ended since; 2 still owes its refund"
        );
        assert!(s.reservation(rid(2)).is_some());
        s.check_invariants().expect("after the second forgetting");
        // A freed seat can be held again under a new slot.
        hold_ids(&mut s, 7, user(4), &["S0-1-3"], Timestamp(T0.0 + 9)).expect("rehold");
        s.check_invariants().expect("after a new hold");
    }

    /// A reservation's ordinal is its place in creation order for good:
    /// forgetting reservations made before or after it does not move it, and
    /// the next one made continues the count.
    #[test]
    fn ordinals_stay_put_when_others_are_forgotten() {
        let mut s = every_fate();
        let before: Vec<(ReservationId, u64)> =
            s.reservations().map(|r| (r.id, r.ordinal)).collect();
        assert_eq!(
            before.iter().map(|&(_, o)| o).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5]
        );
        s.forget_ended();
        let after: Vec<(ReservationId, u64)> =
            s.reservations().map(|r| (r.id, r.ordinal)).collect();
        assert!(after.iter().all(|kept| before.contains(kept)), "{after:?}");
        assert_eq!(s.reservations_made(), 6);
        hold_ids(&mut s, 7, user(4), &["S0-1-3"], Timestamp(T0.0 + 9)).expect("rehold");
        assert_eq!(s.reservation(rid(7)).map(|r| r.ordinal), Some(6));
        assert_eq!(s.reservations_made(), 7);
        s.check_invariants().expect("after a new hold");
    }

    /// A schedule stored before ordinals loads with the ordinals the archive
    /// gave then: the archived count plus the position in memory.
    #[test]
    fn a_schedule_stored_before_ordinals_loads_with_them() {
        let s = every_fate();
        let older = s.as_format_before_ordinals();
        assert_eq!(older.clone().upgrade(0), s, "nothing archived: the same");
        let upgraded = older.upgrade(40);
        upgraded.check_invariants().expect("upgraded");
        assert_eq!(upgraded.reservations_made(), 46);
        assert_eq!(
            upgraded
                .reservations()
                .map(|r| r.ordinal)
                .collect::<Vec<_>>(),
            (40..46).collect::<Vec<_>>()
        );
    }

    #[test]
    fn forgetting_twice_is_a_no_op_and_replay_after_it_matches() {
        let mut s = every_fate();
        s.forget_ended();
        let once = s.clone();
        assert_eq!(s.forget_ended(), 0);
        assert_eq!(s, once);
    }
}
