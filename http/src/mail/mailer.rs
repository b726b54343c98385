//! The SMTP client: one lettre transport (tokio, rustls) built from
//! `--smtp-url`, and the one way mail leaves the process, [`Mailer::send`].

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Longest one SMTP conversation may take (connect, TLS, the transfer):
/// a server that hangs counts as down, and the send is retried.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

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

    /// Sends `message`; Ok once the server accepted it.
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            })
    }
}

/// Why a mail was not sent.
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    /// The server refused it for good (5xx): sending it again cannot help.
    pub permanent: bool,
}
