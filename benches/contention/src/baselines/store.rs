//! One seat store behind the baseline target ([`super::Baseline`]):
//! PostgreSQL (two styles) or Redis. Every answer is mapped to the harness's
//! [`Outcome`] names (a lost race is `Conflict`, a hold gone before payment
//! is `Expired`), so the baselines' outcome counts read like Boxoffice's.
//!
//! Seats are numbered `0..capacity` in one schedule; rows are runs of
//! consecutive numbers. Holders (users) and their wallets are numbered from 1.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

use super::postgres::PgStore;
use super::redis::RedisStore;
use crate::stats::Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatState {
    Held(i64),
    Sold(i64),
}

/// What the store holds at the end of a run (seats not free, wallets).
#[derive(Clone, Debug, Default)]
pub struct FinalState {
    pub seats: Vec<(i32, SeatState)>,
    pub wallet_total: i64,
    pub wallets: u64,
}

impl FinalState {
    /// (seat, holder) of the seats sold (`sold`) or held (not `sold`).
    pub fn seats_in(&self, sold: bool) -> BTreeSet<(i32, i64)> {
        self.seats
            .iter()
            .filter_map(|(seat, state)| match (state, sold) {
                (SeatState::Sold(h), true) | (SeatState::Held(h), false) => Some((*seat, *h)),
                _ => None,
            })
            .collect()
    }
}

pub enum Store {
    Postgres(PgStore),
    Redis(RedisStore),
}

impl Store {
    /// Seats `0..capacity`, all free (before the clock starts).
    pub async fn create_seats(&self, capacity: u32) -> Result<(), String> {
        match self {
            Store::Postgres(s) => s.create_seats(capacity).await,
            // A seat without a key is free: nothing to create.
            Store::Redis(_) => Ok(()),
        }
    }

    /// Wallets `1..=wallets` with `amount` each (before the clock starts).
    pub async fn fund(&self, wallets: usize, amount: i64) -> Result<(), String> {
        match self {
            Store::Postgres(s) => s.fund(wallets, amount).await,
            Store::Redis(s) => s.fund(wallets, amount).await,
        }
    }

    /// Takes every seat of `seats` for `holder` for `hold_secs`, or none.
    pub async fn hold(&self, holder: i64, seats: &[i32], hold_secs: u32) -> Result<(), Outcome> {
        match self {
            Store::Postgres(s) => s.hold(holder, seats, f64::from(hold_secs)).await,
            Store::Redis(s) => s.hold(holder, seats, hold_secs).await,
        }
    }

    pub async fn release(&self, holder: i64, seats: &[i32]) -> Result<(), Outcome> {
        match self {
            Store::Postgres(s) => s.release(holder, seats).await,
            Store::Redis(s) => s.release(holder, seats).await,
        }
    }

    /// The free seats numbered `from..to`, ascending.
    pub async fn free_in(&self, from: i32, to: i32) -> Result<Vec<i32>, Outcome> {
        match self {
            Store::Postgres(s) => s.free_in(from, to).await,
            Store::Redis(s) => s.free_in(from, to).await,
        }
    }

    pub async fn pay(&self, holder: i64, seats: &[i32], amount: i64) -> Result<(), Outcome> {
        match self {
            Store::Postgres(s) => s.pay(holder, seats, amount).await,
            Store::Redis(s) => s.pay(holder, seats, amount).await,
        }
    }

    pub async fn final_state(&self) -> Result<FinalState, String> {
        match self {
            Store::Postgres(s) => s.final_state().await,
            Store::Redis(s) => s.final_state().await,
        }
    }

    /// Cumulative server counters, to subtract around the measured window.
    pub async fn counters(&self) -> Result<BTreeMap<String, f64>, String> {
        match self {
            Store::Postgres(s) => s.counters().await,
            Store::Redis(s) => s.counters().await,
        }
    }

    /// The server's relevant settings (fsync policy, version, limits).
    pub async fn settings(&self) -> Value {
        match self {
            Store::Postgres(s) => s.settings().await,
            Store::Redis(s) => s.settings().await,
        }
    }

    /// Connections the clients share.
    pub fn connections(&self) -> usize {
        match self {
            Store::Postgres(s) => s.pool_size,
            Store::Redis(s) => s.connections(),
        }
    }
}
