//! Waiting-room tokens: the signed string that carries its holder's place.
//!
//! A token is `BXQ1.<payload>.<signature>`: the payload is the
//! [`QueuePass`] (schedule, user, token id, place) in 57 bytes, the signature
//! an HMAC-SHA256 of `BXQ1.<payload>` under a key derived from the server
//! secret, both base64url without padding. A poll verifies the signature and
//! then reads the schedule's board (`boxoffice_actors::queue_board`): the
//! token itself says where to look, so no lookup table and no message to the
//! queue actor is needed, and an altered place fails the signature.
//!
//! The same pass always signs to the same string, so joining again returns
//! the very token the user already has, also after a restart (the secret is
//! kept in the data directory or given in the settings).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use boxoffice_actors::queue_board::{Place, QueuePass};
use boxoffice_engine::ids::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

const PREFIX: &str = "BXQ1";
/// Schedule, user and token ids (16 bytes each), place kind, place number.
const PAYLOAD_BYTES: usize = 16 * 3 + 1 + 8;
/// Longer than any token we sign; anything longer is refused unread.
const MAX_TOKEN_CHARS: usize = 200;
const LINE: u8 = 0;
const PRE_QUEUE: u8 = 1;

pub struct QueueTokenSigner {
    key: Vec<u8>,
}

impl QueueTokenSigner {
    /// Derives the key from the server secret with its own purpose label, so
    /// a queue token's signature is never valid as a QR code's or a JWT's.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"boxoffice queue token v1");
        QueueTokenSigner {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    pub fn sign(&self, pass: &QueuePass) -> String {
        let mut payload = [0u8; PAYLOAD_BYTES];
        payload[..16].copy_from_slice(pass.schedule_id.0.as_bytes());
        payload[16..32].copy_from_slice(pass.user.0.as_bytes());
        payload[32..48].copy_from_slice(pass.token.0.as_bytes());
        let (kind, number) = match pass.place {
            Place::Line(seq) => (LINE, seq),
            Place::PreQueue(index) => (PRE_QUEUE, index),
        };
        payload[48] = kind;
        payload[49..].copy_from_slice(&number.to_be_bytes());
        let body = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{signature}")
    }

    /// The pass a token proves, if we signed it; None for anything else.
    pub fn verify(&self, token: &str) -> Option<QueuePass> {
        if token.len() > MAX_TOKEN_CHARS {
            return None;
        }
        let (body, signature) = token.rsplit_once('.')?;
        let (prefix, payload) = body.split_once('.')?;
        if prefix != PREFIX {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&signature).ok()?;
        let payload: [u8; PAYLOAD_BYTES] = URL_SAFE_NO_PAD.decode(payload).ok()?.try_into().ok()?;
        let id = |at: usize| -> Option<Uuid> { Uuid::from_slice(&payload[at..at + 16]).ok() };
        let number = u64::from_be_bytes(payload[49..].try_into().ok()?);
        let place = match payload[48] {
            LINE => Place::Line(number),
            PRE_QUEUE => Place::PreQueue(number),
            _ => return None,
        };
        Some(QueuePass {
            schedule_id: ScheduleId(id(0)?),
            user: UserId(id(16)?),
            token: QueueTokenId(id(32)?),
            place,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(place: Place) -> QueuePass {
        QueuePass {
            schedule_id: ScheduleId::from_random_bytes([1; 16]),
            user: UserId::from_random_bytes([2; 16]),
            token: QueueTokenId::from_random_bytes([3; 16]),
            place,
        }
    }

    #[test]
    fn a_pass_round_trips_and_signs_the_same_every_time() {
        let signer = QueueTokenSigner::new(b"secret");
        for place in [Place::Line(0), Place::Line(u64::MAX), Place::PreQueue(41)] {
            let token = signer.sign(&pass(place));
            assert_eq!(signer.sign(&pass(place)), token);
            assert!(token.len() <= MAX_TOKEN_CHARS);
            assert_eq!(signer.verify(&token), Some(pass(place)));
        }
    }

    #[test]
    fn altered_forged_or_foreign_tokens_are_refused() {
        let signer = QueueTokenSigner::new(b"secret");
        let token = signer.sign(&pass(Place::Line(500)));
        // Another place, signed by someone without the key.
        let other = QueueTokenSigner::new(b"guess").sign(&pass(Place::Line(1)));
        assert_eq!(signer.verify(&other), None);
        // This server's signature, glued to a payload with another place.
        let (_, signature) = token.rsplit_once('.').expect("signed");
        let (body, _) = other.rsplit_once('.').expect("signed");
        assert_eq!(signer.verify(&format!("{body}.{signature}")), None);
        // Any flipped character.
        for at in [5, 40, token.len() - 3] {
            let mut bytes = token.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).expect("ascii");
            assert_eq!(signer.verify(&altered), None, "flipped at {at}");
        }
        for junk in ["", "BXQ1", "BXQ1..", "not a token", &"x".repeat(10_000)] {
            assert_eq!(signer.verify(junk), None);
        }
        let uuid = QueueTokenId::from_random_bytes([3; 16]).to_string();
        assert_eq!(signer.verify(&uuid), None, "a bare token id is not a token");
    }
}
