//! Property tests of the engine's aggregates, one test binary: random command
//! sequences against the schedule, the wallet and the waiting room, checking
//! every invariant after each step and that a replay rebuilds an equal state.

mod queue;
mod schedule;
mod wallet;
