//! Webhook signatures in Stripe's scheme: the header
//! `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
//! The key is the webhook secret's UTF-8 bytes, as Stripe's libraries use it.
//!
//! The mock signs what it sends with [`sign`]; the server's webhook endpoint
//! checks what it receives with [`verify`] against the injected clock's now.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header the signature travels in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";
/// Largest difference between the signed timestamp and now that is accepted
/// (API.md: "a timestamp more than 5 minutes off" is refused).
pub const SIGNATURE_TOLERANCE_S: i64 = 5 * 60;
/// Longest header read; a longer one is malformed, not parsed.
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 4_096;
/// Most `v1` signatures one header may carry (Stripe sends one per active secret).
pub const MAX_SIGNATURES_PER_HEADER: usize = 8;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature header")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature does not match")]
    Mismatch,
    #[error("the signature's timestamp {timestamp_s} is more than {SIGNATURE_TOLERANCE_S} s off now ({now_s})")]
    Stale { timestamp_s: i64, now_s: i64 },
}

fn mac(secret: &str, timestamp_s: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC hashes a long key and pads a short one: no length is refused.
        Err(_) => unreachable!("HMAC takes a key of any length"),
    };
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The hex HMAC-SHA256 of `"<timestamp_s>.<body>"` under `secret`.
pub fn signature_hex(secret: &str, timestamp_s: i64, body: &[u8]) -> String {
    to_hex(&mac(secret, timestamp_s, body).finalize().into_bytes())
}

/// The header value for `body` signed at `timestamp_s`.
pub fn sign(secret: &str, timestamp_s: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp_s},v1={}",
        signature_hex(secret, timestamp_s, body)
    )
}

/// Checks `header` (the `Stripe-Signature` value, `None` when absent) for the
/// raw `body`: one `t`, at least one `v1` that matches (compared in constant
/// time), and `t` within [`SIGNATURE_TOLERANCE_S`] of `now_s`. Other schemes
/// (`v0`) are ignored, as Stripe's libraries do.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now_s: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    if header.len() > MAX_SIGNATURE_HEADER_BYTES {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp_s = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                let parsed = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed)?;
                if timestamp_s.replace(parsed).is_some() {
                    return Err(SignatureError::Malformed);
                }
            }
            "v1" => {
                if signatures.len() == MAX_SIGNATURES_PER_HEADER {
                    return Err(SignatureError::Malformed);
                }
                signatures.push(from_hex(value).ok_or(SignatureError::Malformed)?);
            }
            _ => {}
        }
    }
    let timestamp_s = timestamp_s.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, timestamp_s, body);
    // verify_slice compares in constant time.
    let matches = signatures
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok());
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    if now_s.abs_diff(timestamp_s) > SIGNATURE_TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::Stale { timestamp_s, now_s });
    }
    Ok(())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

/// 32 bytes from 64 hex digits (either case); anything else is `None`.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    const T: i64 = 1_700_000_000;
    /// Python: hmac.new(b'whsec_test_secret', b'1700000000.{"id":"evt_1"}', sha256).hexdigest()
    const VECTOR: &str = "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a";

    #[test]
    fn the_hmac_is_rfc_4231_case_2() {
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            to_hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signing_matches_an_independent_vector() {
        assert_eq!(signature_hex(SECRET, T, BODY), VECTOR);
        assert_eq!(sign(SECRET, T, BODY), format!("t={T},v1={VECTOR}"));
    }

    #[test]
    fn a_good_signature_verifies_within_the_tolerance() {
        let header = sign(SECRET, T, BODY);
        assert_eq!(verify(Some(&header), BODY, SECRET, T), Ok(()));
        assert_eq!(verify(Some(&header), BODY, SECRET, T + 300), Ok(()));
        assert_eq!(verify(Some(&header), BODY, SECRET, T - 300), Ok(()));
        // Upper-case hex, spaces, a v0 and a second (rotated-out) v1 are fine.
        let rotated = format!(
            "t={T}, v0=abc, v1={}, v1={}",
            "0".repeat(64),
            VECTOR.to_uppercase()
        );
        assert_eq!(verify(Some(&rotated), BODY, SECRET, T), Ok(()));
    }

    #[test]
    fn verify_refuses_what_it_must() {
        let header = sign(SECRET, T, BODY);
        assert_eq!(verify(None, BODY, SECRET, T), Err(SignatureError::Missing));
        assert_eq!(
            verify(Some(&header), br#"{"id":"evt_2"}"#, SECRET, T),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), BODY, "whsec_other", T),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), BODY, SECRET, T + 301),
            Err(SignatureError::Stale {
                timestamp_s: T,
                now_s: T + 301
            })
        );
        assert!(matches!(
            verify(Some(&header), BODY, SECRET, T - 301),
            Err(SignatureError::Stale { .. })
        ));
        // A signature over another timestamp does not verify under this one.
        let moved = format!("t={},v1={VECTOR}", T + 1);
        assert_eq!(
            verify(Some(&moved), BODY, SECRET, T),
            Err(SignatureError::Mismatch)
        );
        for garbled in [
            "",
            "garbage",
            "t=abc,v1=00",
            &format!("v1={VECTOR}"),
            &format!("t={T}"),
            &format!("t={T},t={T},v1={VECTOR}"),
            &format!("t={T},v1={}", &VECTOR[..63]),
            &format!("t={T},v1={}zz", &VECTOR[..62]),
            &format!("t={T},v1=é{}", &VECTOR[..62]),
            &format!(
                "t={T},v1={VECTOR},{}",
                "x".repeat(MAX_SIGNATURE_HEADER_BYTES)
            ),
        ] {
            assert_eq!(
                verify(Some(garbled), BODY, SECRET, T),
                Err(SignatureError::Malformed),
                "{garbled:?}"
            );
        }
    }
}
