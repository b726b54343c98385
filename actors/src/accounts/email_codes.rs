//! Mailed codes: password reset and e-mail verification (API.md, "E-mail").
//!
//! A code is [`CODE_BYTES`] bytes from the engine's (seeded) random source,
//! shown as Crockford base32 in groups (`7K3M-Q9XD-…`). Only its SHA-256 is
//! stored: with 80 random bits there is nothing to guess or precompute, so
//! a slow salted hash (what passwords need) would add cost without adding
//! safety, and a plain hash lets a presented code be found by one map
//! look-up. Codes are single-use and live [`CODE_TTL_MS`] by the injected
//! clock; expired ones are dropped whenever a new one is issued, so the
//! live set stays bounded by the issue rate (and each account keeps at most
//! [`MAX_LIVE_CODES_PER_USER`] per purpose).
//!
//! Stored in the accounts' log and snapshot (`AccountsState::email_codes`),
//! with the accounts whose address is verified.

use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// How long a code works (API.md: 30 minutes).
pub const CODE_TTL_MS: i64 = 30 * 60 * 1_000;
/// Random bytes in a code (80 bits).
pub const CODE_BYTES: usize = 10;
/// Live codes of one purpose one account keeps; a new one drops the oldest.
pub const MAX_LIVE_CODES_PER_USER: usize = 3;
/// Longest code text a request may present (the code with any separators).
pub const MAX_CODE_CHARS: usize = 64;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// What a code is for. Stored: new variants go LAST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CodePurpose {
    PasswordReset,
    VerifyEmail,
}

/// The SHA-256 of a code's canonical form.
pub type CodeHash = [u8; 32];

/// One live code, under its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCode {
    pub user_id: UserId,
    pub purpose: CodePurpose,
    pub expires_at: Timestamp,
}

/// The live codes and the verified addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailCodes {
    pub live: HashMap<CodeHash, EmailCode>,
    pub verified: BTreeSet<UserId>,
}

impl EmailCodes {
    /// A code is issued at `at`: expired codes go, and the account's oldest
    /// of this purpose past the bound.
    pub fn issue(&mut self, hash: CodeHash, code: EmailCode, at: Timestamp) {
        self.live.retain(|_, c| c.expires_at > at);
        loop {
            let mine: Vec<(CodeHash, Timestamp)> = self
                .live
                .iter()
                .filter(|(_, c)| c.user_id == code.user_id && c.purpose == code.purpose)
                .map(|(h, c)| (*h, c.expires_at))
                .collect();
            if mine.len() < MAX_LIVE_CODES_PER_USER {
                break;
            }
            if let Some((oldest, _)) = mine.iter().min_by_key(|(h, at)| (*at, *h)) {
                self.live.remove(oldest);
            }
        }
        self.live.insert(hash, code);
    }

    /// The live code with this hash for `purpose` at `now`, if any.
    pub fn usable(
        &self,
        hash: &CodeHash,
        purpose: CodePurpose,
        now: Timestamp,
    ) -> Option<&EmailCode> {
        self.live
            .get(hash)
            .filter(|c| c.purpose == purpose && c.expires_at > now)
    }
}

/// The text of a code made of `bytes`: Crockford base32 in groups of four.
pub fn code_text(bytes: [u8; CODE_BYTES]) -> String {
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let symbols = CODE_BYTES * 8 / 5;
    let mut out = String::new();
    for i in 0..symbols {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 5 * (symbols - 1 - i);
        out.push(CROCKFORD[((bits >> shift) & 31) as usize] as char);
    }
    out
}

/// The hash of a presented code: separators and spaces dropped, case and
/// Crockford's look-alikes (O→0, I/L→1) folded, so a code copied by hand works.
pub fn code_hash(presented: &str) -> CodeHash {
    let canonical: String = presented
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    Sha256::digest(canonical.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_in_groups_and_hash_forgivingly() {
        let text = code_text([0xAB; CODE_BYTES]);
        assert_eq!(text.len(), 16 + 3);
        assert_eq!(
            code_hash(&text),
            code_hash(&text.to_lowercase().replace('-', " "))
        );
        assert_ne!(code_hash(&text), code_hash(&code_text([0xAC; CODE_BYTES])));
    }

    #[test]
    fn issuing_drops_expired_and_the_oldest_past_the_bound() {
        let user = UserId::from_random_bytes([1; 16]);
        let mut codes = EmailCodes::default();
        for i in 0..5u8 {
            codes.issue(
                [i; 32],
                EmailCode {
                    user_id: user,
                    purpose: CodePurpose::PasswordReset,
                    expires_at: Timestamp(1_000 + i64::from(i)),
                },
                Timestamp(0),
            );
        }
        assert_eq!(codes.live.len(), MAX_LIVE_CODES_PER_USER);
        assert!(codes
            .usable(&[4; 32], CodePurpose::PasswordReset, Timestamp(0))
            .is_some());
        assert!(codes
            .usable(&[0; 32], CodePurpose::PasswordReset, Timestamp(0))
            .is_none());
        assert!(codes
            .usable(&[4; 32], CodePurpose::VerifyEmail, Timestamp(0))
            .is_none());
        assert!(codes
            .usable(&[4; 32], CodePurpose::PasswordReset, Timestamp(1_004))
            .is_none());
        codes.issue(
            [9; 32],
            EmailCode {
                user_id: user,
                purpose: CodePurpose::VerifyEmail,
                expires_at: Timestamp(9_000),
            },
            Timestamp(2_000),
        );
        assert_eq!(codes.live.len(), 1, "the expired ones are gone");
    }
}
