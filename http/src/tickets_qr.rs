//! Ticket QR codes: a signed string that cannot be forged, and its SVG.
//!
//! The payload is `BXT1.<ticketId>.<signature>`, the signature an HMAC-SHA256
//! of `BXT1.<ticketId>` under the QR key, base64url without padding. Check-in
//! verifies the signature before it looks anything up, so a forged code never
//! reaches the engine. The code proves which ticket it is; whether that
//! ticket is still valid (not void, not used) is the schedule actor's answer
//! at the door.
//!
//! The QR key is its own secret, independent of the token secret (see
//! `crate::secrets`): a sold ticket must outlive any rotation of the token
//! secret. Data dirs from before the split keep the key their codes were
//! signed with, [`QrSigner::legacy_key`] of their token secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use boxoffice_engine::ids::TicketId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "BXT1";

pub struct QrSigner {
    key: Vec<u8>,
}

impl QrSigner {
    /// A signer with this QR key.
    pub fn new(key: &[u8]) -> Self {
        QrSigner { key: key.to_vec() }
    }

    /// The key QR codes were signed with before the QR key was a secret of
    /// its own: derived from the token secret under a purpose label (so a QR
    /// signature was never a valid JWT signature). A data dir from then keeps
    /// it as its QR key, so the tickets it sold stay valid.
    pub fn legacy_key(token_secret: &[u8]) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(token_secret).expect("HMAC takes keys of any length");
        mac.update(b"boxoffice ticket qr v1");
        mac.finalize().into_bytes().to_vec()
    }

    fn signature(&self, body: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn code(&self, ticket: TicketId) -> String {
        let body = format!("{PREFIX}.{ticket}");
        let signature = self.signature(&body);
        format!("{body}.{signature}")
    }

    /// The ticket a code names, if its signature is ours.
    pub fn verify(&self, code: &str) -> Option<TicketId> {
        if code.len() > 256 {
            return None;
        }
        let (body, signature) = code.rsplit_once('.')?;
        let (prefix, ticket) = body.split_once('.')?;
        if prefix != PREFIX {
            return None;
        }
        let expected = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(body.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&expected).ok()?;
        TicketId::parse(ticket)
    }
}

/// The QR code of `text` as an SVG document.
pub fn svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(240, 240)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_and_forgeries_do_not() {
        let signer = QrSigner::new(b"secret");
        let ticket = TicketId::from_random_bytes([3; 16]);
        let code = signer.code(ticket);
        assert_eq!(signer.verify(&code), Some(ticket));
        let other = TicketId::from_random_bytes([4; 16]);
        let forged = code.replace(&ticket.to_string(), &other.to_string());
        assert_eq!(signer.verify(&forged), None);
        assert_eq!(QrSigner::new(b"other secret").verify(&code), None);
        assert_eq!(signer.verify("BXT1.nonsense"), None);
        assert_eq!(signer.verify(""), None);
        assert!(svg(&code).is_some_and(|s| s.starts_with("<?xml") || s.contains("<svg")));
    }

    #[test]
    fn the_legacy_key_verifies_codes_signed_before_the_split() {
        // What the signer before the split issued for this ticket under the
        // token secret "secret" (its key was derived from that secret).
        let before =
            "BXT1.03030303-0303-4303-8303-030303030303.zmuIfCfEeLYWbeHTsStDTyNiPSUd9vUwm6ZrhZcm3lc";
        let ticket = TicketId::from_random_bytes([3; 16]);
        let signer = QrSigner::new(&QrSigner::legacy_key(b"secret"));
        assert_eq!(signer.verify(before), Some(ticket));
        assert_eq!(signer.code(ticket), before);
        assert_eq!(
            QrSigner::new(b"secret").verify(before),
            None,
            "not the raw secret"
        );
    }
}
