//! Messages that exist only for tests, compiled only with the `test-hooks`
//! feature (the root package's tests enable it; the shipped binaries do not).
//!
//! They reach into the actor in ways no client may: running the expiry sweep
//! on demand (tests on a manual clock), injecting a panic into engine code,
//! and lowering the archiving threshold. Kept apart from `messages` and
//! `handlers` so a production build cannot even name them.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::ScheduleActor;
use crate::journal::Pending;

/// Runs the expiry sweep now, to the end (the timer does this by itself, a
/// batch per turn; tests on a manual clock call it). Replies with how many
/// reservations expired.
pub struct ExpireNow;
impl Message for ExpireNow {
    type Result = Pending<u32>;
}

impl Handler<ExpireNow> for ScheduleActor {
    type Result = MessageResult<ExpireNow>;

    fn handle(&mut self, _: ExpireNow, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        // Everything due, in one turn: tests on a manual clock count on it.
        let expired = self.sweep(ctx, usize::MAX);
        self.arm_timer(ctx);
        self.finish(ctx, tx, Vec::new(), Ok(expired), None);
        MessageResult(rx)
    }
}

/// Fault injection: panics inside the engine call, as a bug would.
pub struct InjectPanic;
impl Message for InjectPanic {
    type Result = Pending<()>;
}

impl Handler<InjectPanic> for ScheduleActor {
    type Result = MessageResult<InjectPanic>;

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        let outcome = self.guarded(|_| -> () { panic!("injected fault") });
        self.finish(ctx, tx, Vec::new(), outcome, None);
        MessageResult(rx)
    }
}

/// From now on, snapshots archive ended reservations once this many (at
/// least 1) have piled up, instead of `EngineConfig::archive_after_ended`.
/// Kept across actor restarts, not across process restarts.
pub struct SetArchiveThreshold(pub usize);
impl Message for SetArchiveThreshold {
    type Result = ();
}

impl Handler<SetArchiveThreshold> for ScheduleActor {
    type Result = ();

    fn handle(&mut self, msg: SetArchiveThreshold, _: &mut Context<Self>) {
        self.archive_threshold = msg.0.max(1);
    }
}
