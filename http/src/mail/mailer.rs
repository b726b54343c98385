//! The way mail leaves the process: the [`MailTransport`] trait, and its
//! one real implementation, [`Mailer`], the SMTP client (one lettre
//! transport, tokio, rustls) built from `--smtp-url`. A seeded simulation
//! gives the outbox dispatcher a transport of its own
//! (`tests/engine/simulation/mail.rs`).

use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
/// The mail a transport sends (lettre's; re-exported for other transports).
pub use lettre::Message;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// Longest one SMTP conversation may take (connect, TLS, the transfer):
/// a server that hangs counts as down, and the send is retried.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Hands a mail to the mail server.
pub trait MailTransport {
    /// Sends `message`; Ok once the server accepted it.
    fn send(&self, message: Message) -> LocalBoxFuture<'_, Result<(), SendError>>;
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    /// A client of the server `smtp_url` names (see `MailSettings::smtp_url`);
    /// nothing is connected yet.
    pub fn new(smtp_url: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| format!("--smtp-url is not an SMTP URL (smtp:// or smtps://): {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Mailer { transport })
    }
}

impl MailTransport for Mailer {
    fn send(&self, message: Message) -> LocalBoxFuture<'_, Result<(), SendError>> {
        async move {
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError {
                    permanent: e.is_permanent(),
                    message: e.to_string(),
                })
        }
        .boxed_local()
    }
}

/// Why a mail was not sent.
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    /// The server refused it for good (5xx): sending it again cannot help.
    pub permanent: bool,
}
