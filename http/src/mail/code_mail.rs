//! The codes' mails: a password-reset code on request, a verification code
//! at registration. Handlers only queue a request ([`CodeMailer::request`])
//! and answer; the mail thread issues the code (durably, stored as its hash:
//! `Registry::issue_email_code`) and mails it.
//!
//! So the answer to a reset request is the same, and takes the same work,
//! whether or not the address has an account: the look-up happens after the
//! answer, on this thread (API.md: no enumeration).
//!
//! The code exists in plain text only here, between its issue and its mail,
//! so the mail is sent from memory: up to [`MAX_CODE_MAIL_ATTEMPTS`] tries
//! with a doubling backoff. A mail lost to a crash or a long outage is
//! replaced by asking again.

use boxoffice_actors::accounts::CodePurpose;
use boxoffice_actors::Registry;
use boxoffice_engine::ids::UserId;
use lettre::message::Mailbox;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

use super::compose::{self, CodeMailKind, Recipient};
use super::mailer::{MailTransport, Mailer};
use boxoffice_actors::accounts::CODE_TTL_MS;

/// Requests waiting for the mail thread; past it a request is dropped (and
/// logged): the caller already had its answer, and may ask again.
pub const MAX_QUEUED_CODE_MAILS: usize = 1_024;
/// Tries of one code mail before it is given up.
pub const MAX_CODE_MAIL_ATTEMPTS: u32 = 6;
/// The wait after the first failed try; doubled after each (about 30 s in all).
pub const FIRST_CODE_RETRY_DELAY: Duration = Duration::from_millis(500);

/// What to mail a code for.
#[derive(Clone, Debug)]
pub enum CodeMail {
    /// A reset of the password of the account with this email, if any.
    PasswordReset { email: String },
    /// The verification of this new account's address.
    VerifyEmail { user_id: UserId },
}

/// The handlers' end of the queue.
#[derive(Clone)]
pub struct CodeMailer {
    queue: mpsc::Sender<CodeMail>,
}

impl CodeMailer {
    pub fn new() -> (CodeMailer, mpsc::Receiver<CodeMail>) {
        let (queue, requests) = mpsc::channel(MAX_QUEUED_CODE_MAILS);
        (CodeMailer { queue }, requests)
    }

    /// Queues `mail` without waiting.
    pub fn request(&self, mail: CodeMail) {
        if let Err(err) = self.queue.try_send(mail) {
            tracing::warn!(%err, "a code mail was not queued");
        }
    }
}

/// The mail thread's loop: one request at a time, in order.
pub async fn run(
    mut requests: mpsc::Receiver<CodeMail>,
    registry: Arc<Registry>,
    mailer: Arc<Mailer>,
    from: Mailbox,
) {
    while let Some(request) = requests.recv().await {
        let (issued, kind) = match request {
            CodeMail::PasswordReset { email } => (
                registry
                    .issue_email_code_for_email(&email, CodePurpose::PasswordReset)
                    .await,
                CodeMailKind::PasswordReset,
            ),
            CodeMail::VerifyEmail { user_id } => (
                registry
                    .issue_email_code(user_id, CodePurpose::VerifyEmail)
                    .await,
                CodeMailKind::VerifyEmail,
            ),
        };
        let (account, code) = match issued {
            Ok(Some(issued)) => issued,
            // No such account (or nothing to verify): nothing to mail.
            Ok(None) => continue,
            Err(err) => {
                tracing::warn!(%err, "a code could not be issued");
                continue;
            }
        };
        let to = Recipient {
            email: account.email,
            name: account.name,
        };
        let message = match compose::code(&from, &to, kind, &code, CODE_TTL_MS / 60_000) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(%err, "a code mail cannot be written");
                continue;
            }
        };
        let mut delay = FIRST_CODE_RETRY_DELAY;
        for attempt in 1..=MAX_CODE_MAIL_ATTEMPTS {
            match mailer.send(message.clone()).await {
                Ok(()) => break,
                Err(err) if err.permanent || attempt == MAX_CODE_MAIL_ATTEMPTS => {
                    tracing::error!(err = %err.message, attempt, "a code mail was given up");
                    break;
                }
                Err(err) => {
                    tracing::warn!(err = %err.message, attempt, "a code mail was not sent: retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
    }
}
