//! The injected random source, and the ids drawn from it.
//!
//! Every id the engine creates (reservations, payments, tickets, ledger
//! entries, queue tokens, reservation numbers) comes from an [`IdSource`]. In
//! production it is seeded from the OS; tests and the simulation seed it with a
//! fixed number so a run can be replayed exactly.

use boxoffice_engine::ids::*;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::sync::Mutex;

/// Letters and digits that cannot be misread for each other (no 0/O, 1/I/L).
const NUMBER_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const NUMBER_LEN: usize = 6;

/// A shared source of randomness for ids.
pub struct IdSource {
    rng: Mutex<StdRng>,
}

impl IdSource {
    /// Seeded from the operating system: for production.
    pub fn from_os() -> Self {
        IdSource {
            rng: Mutex::new(StdRng::from_entropy()),
        }
    }

    /// Deterministic: for tests and simulations.
    pub fn seeded(seed: u64) -> Self {
        IdSource {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// `N` random bytes (request ids, token ids, a generated JWT secret: the
    /// rng is `StdRng`, a CSPRNG seeded from the OS in production).
    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        // A poisoned lock only means another thread panicked mid-draw; the rng is still usable.
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.fill_bytes(&mut out);
        out
    }

    fn bytes16(&self) -> [u8; 16] {
        self.bytes()
    }

    pub fn next_u64(&self) -> u64 {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        rng.next_u64()
    }

    pub fn reservation_id(&self) -> ReservationId {
        ReservationId::from_random_bytes(self.bytes16())
    }
    pub fn payment_id(&self) -> PaymentId {
        PaymentId::from_random_bytes(self.bytes16())
    }
    pub fn ticket_id(&self) -> TicketId {
        TicketId::from_random_bytes(self.bytes16())
    }
    pub fn transaction_id(&self) -> TransactionId {
        TransactionId::from_random_bytes(self.bytes16())
    }
    pub fn queue_token_id(&self) -> QueueTokenId {
        QueueTokenId::from_random_bytes(self.bytes16())
    }
    pub fn schedule_id(&self) -> ScheduleId {
        ScheduleId::from_random_bytes(self.bytes16())
    }
    pub fn user_id(&self) -> UserId {
        UserId::from_random_bytes(self.bytes16())
    }

    /// A short human-readable reservation number such as `BX-7K3Q9D`.
    /// Not unique by construction (31^6 ≈ 887M values): it is for people reading
    /// it out at a counter, the reservation id stays the key.
    pub fn reservation_number(&self) -> String {
        let bytes = self.bytes16();
        let mut number = String::with_capacity(3 + NUMBER_LEN);
        number.push_str("BX-");
        for b in bytes.iter().take(NUMBER_LEN) {
            number.push(NUMBER_ALPHABET[*b as usize % NUMBER_ALPHABET.len()] as char);
        }
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sources_repeat_and_differ_by_seed() {
        let a = IdSource::seeded(7);
        let b = IdSource::seeded(7);
        let c = IdSource::seeded(8);
        let ids_a: Vec<_> = (0..5).map(|_| a.reservation_id()).collect();
        let ids_b: Vec<_> = (0..5).map(|_| b.reservation_id()).collect();
        let ids_c: Vec<_> = (0..5).map(|_| c.reservation_id()).collect();
        assert_eq!(ids_a, ids_b);
        assert_ne!(ids_a, ids_c);
    }

    #[test]
    fn reservation_numbers_are_short_and_unambiguous() {
        let ids = IdSource::seeded(1);
        for _ in 0..100 {
            let n = ids.reservation_number();
            assert_eq!(n.len(), 9);
            assert!(n.starts_with("BX-"));
            assert!(n[3..].bytes().all(|b| NUMBER_ALPHABET.contains(&b)));
        }
    }
}
