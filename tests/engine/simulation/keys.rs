//! Idempotency keys as the simulated clients use them: a few keys per user
//! and endpoint, so requests are replayed (same body) and keys reused
//! (another body); what the model expects of each; and the two checks that
//! a decided key survived: a word-for-word replay must return the first
//! reply, and a probe with another body must be refused.

use boxoffice_actors::idempotency::{Endpoint, IdemKey, IdemTag, RequestDigest};
use boxoffice_actors::receipt::StoredReply;
use boxoffice_actors::{EngineError, EngineResult, HoldCommand, PayCommand};
use boxoffice_engine::ids::*;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::Money;
use rand::Rng;
use std::fmt::Debug;

use super::model::*;
use super::workload::lost;
use super::world::{World, KEYS_PER_USER};

/// The idempotency tag of a request: key plus a digest of its body. Not
/// `support::tag`, whose digest collides for bodies of equal length that
/// differ only at a byte index ≡ 31 (mod 32): a seeded workload finds such
/// pairs (two holds of seats "S0-1-4" and "S0-1-6"), and the engine then
/// rightly replays the first reply to the second request.
pub fn tag(user: UserId, endpoint: Endpoint, key: &str, body: &str) -> IdemTag {
    let mut digest = [0u8; 32];
    for (lane, chunk) in digest.chunks_mut(8).enumerate() {
        // FNV-1a, one lane per offset basis, over the lane number and the body.
        let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ (lane as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for byte in body.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        chunk.copy_from_slice(&hash.to_le_bytes());
    }
    IdemTag {
        key: IdemKey {
            user,
            endpoint,
            key: key.to_string(),
        },
        digest: RequestDigest(digest),
    }
}

/// The idempotency key an operation is sent with, and what the model expects of it.
pub struct Keyed {
    pub id: KeyId,
    pub body: String,
    pub expect: KeyExpect,
}

pub enum KeyExpect {
    /// New (or freed) key: the request runs.
    Proceed,
    /// Same key, same body: the stored reply, nothing else.
    Replay(StoredReply),
    /// Same key, another body: refused.
    Reused,
}

impl Keyed {
    pub fn tag(&self) -> IdemTag {
        tag(self.id.user, self.id.endpoint, &self.id.key, &self.body)
    }
}

/// Half the requests carry a key, drawn from a few per user, so keys are
/// replayed (same body) and reused (another body) often.
pub fn choose_key(w: &mut World, user: UserId, endpoint: Endpoint, body: String) -> Option<Keyed> {
    if w.rng.gen_bool(0.5) {
        return None;
    }
    let id = KeyId {
        user,
        endpoint,
        key: format!("k{}", w.rng.gen_range(0..KEYS_PER_USER)),
    };
    if w.model.is_burned(&id) {
        return None;
    }
    let expect = match w.model.decided_key(&id) {
        Some((stored_body, reply)) if stored_body == body => KeyExpect::Replay(reply.clone()),
        Some(_) => KeyExpect::Reused,
        None => KeyExpect::Proceed,
    };
    Some(Keyed { id, body, expect })
}

/// Checks a keyed answer against the expectation and records a decided key.
/// Returns true when the request ran (its effect, if any, is new).
pub fn settle_key<T: Clone + Debug>(
    w: &mut World,
    keyed: Option<Keyed>,
    answer: &EngineResult<T>,
    wrap: fn(EngineResult<T>) -> StoredReply,
    request: KeyedRequest,
) -> bool {
    let Some(keyed) = keyed else {
        return true;
    };
    match keyed.expect {
        KeyExpect::Replay(stored) => {
            let got = wrap(answer.clone());
            assert_eq!(
                got, stored,
                "key {:?} replayed a different reply than the first time",
                keyed.id
            );
            false
        }
        KeyExpect::Reused => {
            assert!(
                matches!(answer, Err(EngineError::IdempotencyKeyReused)),
                "key {:?} reused with another body answered {answer:?}",
                keyed.id
            );
            false
        }
        KeyExpect::Proceed => {
            let decided = match answer {
                Ok(_) => true,
                Err(err) => err.is_engine_decided(),
            };
            if decided {
                w.model.keys.insert(
                    keyed.id,
                    KeyState::Decided {
                        body: keyed.body,
                        reply: Box::new(wrap(answer.clone())),
                        request,
                    },
                );
            }
            true
        }
    }
}

/// Replays one decided key; `Some(why)` if the reply differs from the first.
pub async fn replay_key(w: &mut World, id: &KeyId) -> Option<String> {
    let Some(KeyState::Decided {
        body,
        reply,
        request,
    }) = w.model.keys.get(id).cloned()
    else {
        return None;
    };
    let tag = Some(tag(id.user, id.endpoint, &id.key, &body));
    let token = w.model.tokens.get(&id.user).copied();
    let got = match request {
        KeyedRequest::Charge { amount } => w
            .run("replayed charge", w.registry.charge(id.user, amount, tag))
            .await
            .map(StoredReply::Charge),
        KeyedRequest::Hold {
            schedule,
            selection,
        } => {
            let command = HoldCommand {
                schedule_id: schedule,
                selection,
                queue_token: token,
                idem: tag,
            };
            w.run("replayed hold", w.registry.hold(id.user, command))
                .await
                .map(StoredReply::Hold)
        }
        KeyedRequest::Pay {
            reservation,
            amount,
        } => {
            let command = PayCommand {
                reservation_id: reservation,
                amount,
                queue_token: token,
                idem: tag,
            };
            w.run("replayed payment", w.registry.pay(id.user, command))
                .await
                .map(StoredReply::Payment)
        }
    };
    match got {
        // A replay touches no actor; if the store died meanwhile it says nothing.
        None => {
            lost(w, InFlight::NoNewEffect, None);
            None
        }
        Some(got) if got == *reply => None,
        Some(got) => Some(format!(
            "key {id:?} replayed {got:?}, but the first reply was {reply:?}"
        )),
    }
}

/// Sends a harmless request (invalid, so it would change nothing even if it
/// ran) under a decided key with another body: the key must be remembered,
/// so the answer is `IdempotencyKeyReused`. Unlike a replay, this cannot be
/// fooled by a lost key whose request, run again, decides the same way.
pub async fn probe_key(w: &mut World, id: &KeyId) -> Option<String> {
    let tag = Some(tag(
        id.user,
        id.endpoint,
        &id.key,
        "a probe with another body",
    ));
    let schedule = w.model.schedules[0].id;
    let answer = match id.endpoint {
        Endpoint::Charges => w
            .run("key probe", w.registry.charge(id.user, Money(0), tag))
            .await
            .map(|r| r.map(|_| ())),
        Endpoint::Reservations => {
            let command = HoldCommand {
                schedule_id: schedule,
                selection: SeatSelection::Ids(vec!["NO-SUCH-SEAT".into()]),
                queue_token: None,
                idem: tag,
            };
            w.run("key probe", w.registry.hold(id.user, command))
                .await
                .map(|r| r.map(|_| ()))
        }
        Endpoint::Payments => {
            let command = PayCommand {
                reservation_id: ReservationId::from_random_bytes([0xEE; 16]),
                amount: None,
                queue_token: None,
                idem: tag,
            };
            w.run("key probe", w.registry.pay(id.user, command))
                .await
                .map(|r| r.map(|_| ()))
        }
    };
    match answer {
        None => {
            lost(w, InFlight::NoNewEffect, None);
            None
        }
        Some(Err(EngineError::IdempotencyKeyReused)) => None,
        Some(other) => Some(format!(
            "key {id:?} was forgotten: a request with another body answered {other:?}"
        )),
    }
}
