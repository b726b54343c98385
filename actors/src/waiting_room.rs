//! Waiting-room operations as the API layer calls them.

use boxoffice_engine::ids::*;

use crate::error::{EngineError, EngineResult};
use crate::queue_actor::{JoinQueue, QueueStats, QueueTicket};
use crate::queue_board::QueuePass;
use crate::registry::Registry;
use crate::schedule_actor::{CheckQueueAccess, QueueUse};

impl Registry {
    /// Joins the schedule's waiting room; joining again returns the same place.
    /// `EmailNotVerified` when the schedule requires a verified address
    /// (`queue.requireVerifiedEmail`) and the account has none.
    pub async fn join_queue(
        &self,
        user: UserId,
        schedule_id: ScheduleId,
    ) -> EngineResult<QueueTicket> {
        self.reachable(schedule_id, Some(user))?;
        self.schedule(schedule_id)?;
        if self.drafts().requires_verified_email(schedule_id) {
            let verified = self.account(user).await?.is_some_and(|a| a.email_verified);
            if !verified {
                return Err(EngineError::EmailNotVerified);
            }
        }
        self.queue_joins()
            .command(JoinQueue { schedule_id, user })
            .await
    }

    /// The current status of the place `pass` proves, with a fresh position
    /// and ETA; counts as a poll. Answered from the schedule's board without
    /// a message to the queue actor. `QueueTokenInvalid` unless the pass is
    /// the caller's and its place is still WAITING, ACTIVE (or PRE_QUEUE).
    pub fn poll_queue(&self, user: UserId, pass: &QueuePass) -> EngineResult<QueueTicket> {
        if pass.user != user {
            return Err(EngineError::QueueTokenInvalid);
        }
        self.watch_queue(pass)
    }

    /// Users waiting, over every waiting room.
    pub async fn queue_waiting(&self) -> EngineResult<usize> {
        self.queue().query(QueueStats).await
    }
}

/// What a request under a waiting room's token is about to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueTarget {
    /// Hold seats (or read the seat map) of this schedule.
    Hold(ScheduleId),
    /// Pay for this reservation of the caller's.
    Payment(ReservationId),
}

impl Registry {
    /// API.md's checks that come before a request's body, for an operation
    /// under a waiting room: `NotFound` when the target does not exist (for
    /// this user), `QueueNotActive` when its schedule is gated and `token`
    /// does not admit the user for that use. The decision is the schedule
    /// actor's own (`CheckQueueAccess`), the one a hold or payment applies,
    /// so it is never re-derived elsewhere. The operations check this
    /// themselves; callers ask only when a request fails before reaching them.
    pub async fn check_queue_access(
        &self,
        user: UserId,
        target: QueueTarget,
        token: Option<QueueTokenId>,
    ) -> EngineResult<()> {
        let (schedule, purpose) = match target {
            QueueTarget::Hold(schedule_id) => (self.schedule(schedule_id)?, QueueUse::Hold),
            QueueTarget::Payment(reservation_id) => {
                let view = self.reservation(Some(user), reservation_id).await?;
                (self.schedule(view.schedule_id)?, QueueUse::Payment)
            }
        };
        if !schedule.gated {
            return Ok(());
        }
        let admitted = schedule
            .actor
            .query(CheckQueueAccess {
                user,
                token,
                purpose,
            })
            .await?;
        if admitted {
            Ok(())
        } else {
            Err(EngineError::QueueNotActive)
        }
    }
}

impl Registry {
    /// The caller's current place in a waiting room: a token is bound to its
    /// user, and only a live one is current; anything else (none, another
    /// user's, ended, expired) is `QueueTokenInvalid`.
    pub fn current_queue_token(
        &self,
        user: UserId,
        pass: Option<&QueuePass>,
    ) -> EngineResult<QueueTicket> {
        let pass = pass.ok_or(EngineError::QueueTokenInvalid)?;
        self.poll_queue(user, pass)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::HoldCommand;
    use crate::schedule_actor::ScheduleSpec;
    use crate::{EngineConfig, IdSource, ManualClock};
    use boxoffice_engine::layout::SeatLayout;
    use boxoffice_engine::queue::QueueConfig;
    use boxoffice_engine::schedule::{ScheduleRules, SeatSelection};
    use boxoffice_engine::Timestamp;
    use boxoffice_storage::memory_store::MemoryStore;
    use std::sync::Arc;

    const T0: Timestamp = Timestamp(1_773_568_800_000);

    fn spec(n: u8, gated: bool) -> ScheduleSpec {
        ScheduleSpec {
            schedule_id: ScheduleId::from_random_bytes([n; 16]),
            layout: SeatLayout::uniform(1, 1, 10),
            rules: ScheduleRules {
                max_seats_per_user: 4,
                hold_ms: 300_000,
                booking_opens_at: T0,
                booking_closes_at: T0.plus_millis(86_400_000),
            },
            queue: gated.then(|| QueueConfig {
                enabled: true,
                ..QueueConfig::default()
            }),
        }
    }

    fn user(n: u8) -> UserId {
        UserId::from_random_bytes([n; 16])
    }

    /// The answers a handler gets before a bad body's 400: the schedule
    /// actor's own rule, and never a 403 that would tell a stranger a
    /// reservation exists.
    #[actix_rt::test]
    async fn queue_access_answers_404_then_403_as_the_operations_would() {
        let registry = Registry::start(
            Arc::new(MemoryStore::new()),
            Arc::new(ManualClock::new(T0)),
            Arc::new(IdSource::seeded(3)),
            EngineConfig::default(),
        )
        .await
        .expect("engine starts");
        let open = registry
            .create_schedule(spec(1, false))
            .await
            .expect("open");
        let gated = registry
            .create_schedule(spec(2, true))
            .await
            .expect("gated");
        let access = |target, token| registry.check_queue_access(user(1), target, token);

        assert_eq!(access(QueueTarget::Hold(open), None).await, Ok(()));
        assert_eq!(
            access(QueueTarget::Hold(gated), None).await,
            Err(EngineError::QueueNotActive)
        );
        let stranger = QueueTokenId::from_random_bytes([7; 16]);
        assert_eq!(
            access(QueueTarget::Hold(gated), Some(stranger)).await,
            Err(EngineError::QueueNotActive)
        );
        assert!(matches!(
            access(
                QueueTarget::Hold(ScheduleId::from_random_bytes([9; 16])),
                None
            )
            .await,
            Err(EngineError::NotFound(_))
        ));

        let held = registry
            .hold(
                user(1),
                HoldCommand {
                    schedule_id: open,
                    selection: SeatSelection::BestAvailable {
                        quantity: 1,
                        grade: None,
                        section_id: None,
                    },
                    queue_token: None,
                    idem: None,
                },
            )
            .await
            .expect("held");
        let pay = QueueTarget::Payment(held.reservation_id);
        assert_eq!(access(pay, None).await, Ok(()));
        assert!(matches!(
            registry.check_queue_access(user(2), pay, None).await,
            Err(EngineError::NotFound(_))
        ));
    }
}
