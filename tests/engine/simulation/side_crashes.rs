//! The crash schedule of a side simulation (the webhook and mail
//! dispatchers', `webhooks.rs` and `mail.rs`): 1-3 crash moments at seeded
//! operations; at each, either the main simulation's crash plan
//! (`crash::choose_plan`) or, one time in [`Aim::one_in`], a crash aimed at
//! the side's own store writes right after the next operation; and when to
//! kill: once the store died, or an armed point waited
//! [`ARMED_PATIENCE_OPS`] operations.

use rand::Rng;
use std::ops::RangeInclusive;

use super::crash::{choose_plan, CrashPlan, CrashPoint, ARMED_PATIENCE_OPS};
use super::world::World;

/// Planned crashes per seed (a final kill and check always follows).
const CRASHES_PER_SEED: RangeInclusive<usize> = 1..=3;
/// No crash is planned before this many operations.
const FIRST_CRASH_AFTER: usize = 5;

/// How a side simulation aims crashes at its own writes.
pub struct Aim {
    /// One planned crash in this many is aimed at the side's writes.
    pub one_in: u32,
    /// It dies after the n-th store write after arming, n drawn from here.
    pub writes: RangeInclusive<u64>,
    /// What the writes are, for the trace ("the next dispatcher pass").
    pub what: &'static str,
}

pub struct SideCrashes {
    crash_at: Vec<usize>,
    armed_at: Option<usize>,
    /// The crash point to arm inside the next payment (the workload's).
    pub pay_crash: Option<CrashPoint>,
    aimed: Option<CrashPoint>,
    aim: Aim,
}

impl SideCrashes {
    /// Draws the crash moments of a seed of `operations` operations.
    pub fn plan(w: &mut World, operations: usize, aim: Aim) -> SideCrashes {
        let crashes = w.rng.gen_range(CRASHES_PER_SEED);
        let mut crash_at: Vec<usize> = (0..crashes)
            .map(|_| w.rng.gen_range(FIRST_CRASH_AFTER..operations))
            .collect();
        crash_at.sort_unstable();
        SideCrashes {
            crash_at,
            armed_at: None,
            pay_crash: None,
            aimed: None,
            aim,
        }
    }

    /// Before operation `op`: plans what falls due (one crash point at a
    /// time; a moment that falls while one is armed merges with it).
    /// Returns whether a crash was aimed at the side's writes.
    pub fn before(&mut self, w: &mut World, op: usize) -> bool {
        let mut aimed = false;
        while self.crash_at.first().is_some_and(|&at| at <= op) {
            self.crash_at.remove(0);
            if self.armed_at.is_some() {
                continue;
            }
            if w.rng.gen_range(0..self.aim.one_in) == 0 {
                let point = CrashPoint::Writes(w.rng.gen_range(self.aim.writes.clone()));
                w.trace
                    .push(format!("  plan: {point} inside {}", self.aim.what));
                self.aimed = Some(point);
                aimed = true;
            } else {
                match choose_plan(&mut w.rng) {
                    CrashPlan::Point(point) => w.arm(point),
                    CrashPlan::DuringPayment(point) => self.pay_crash = Some(point),
                }
            }
            self.armed_at = Some(op);
        }
        aimed
    }

    /// Arms the crash aimed at the side's writes, if one is planned: right
    /// before them.
    pub fn arm_aimed(&mut self, w: &mut World) {
        if let Some(point) = self.aimed.take() {
            w.arm(point);
        }
    }

    /// After operation `op` and the side's writes: whether to kill and
    /// restart now (the store died, or an armed point waited long
    /// enough); if so, the plans armed are over.
    pub fn kill_now(&mut self, w: &World, op: usize) -> bool {
        let patience_over = self
            .armed_at
            .is_some_and(|at| op - at >= ARMED_PATIENCE_OPS);
        if !(w.store.is_dead() || patience_over) {
            return false;
        }
        self.armed_at = None;
        self.pay_crash = None;
        self.aimed = None;
        true
    }
}
