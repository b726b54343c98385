//! E-mail (API.md, "E-mail"): the tickets on confirmation, a notice on a
//! refund, and the codes of password reset and e-mail verification.
//!
//! - [`MailSettings`]: `--smtp-url` and `--mail-from`, checked at start-up
//!   (mail is off when they are unset).
//! - [`mailer`]: the transport trait and the one SMTP client (lettre over
//!   tokio; TLS per the URL).
//! - [`compose`]: the mails, rendered from the templates in
//!   `http/templates/mail/` (compiled in), with each ticket's QR code as an
//!   inline PNG ([`qr_png`]).
//! - [`outbox_mail`]: the dispatcher that reads the durable booking events
//!   (`boxoffice_actors::booking_events`) in order from its own durable
//!   cursor and sends what they call for; it advances the cursor only once
//!   the SMTP server accepted the mail, so an outage or a restart delays
//!   mail and never drops it (at least once).
//! - [`code_mail`]: the codes' mails. A code is stored only as its hash, so
//!   its mail cannot come from a durable log: it is sent from memory, with
//!   bounded retries; a mail lost to a crash is replaced by asking again.
//!
//! Everything runs on the mail's own thread ([`MailService::start`]), never
//! on an actor's.

pub mod code_mail;
pub mod compose;
pub mod mailer;
pub mod outbox_mail;
pub mod qr_png;

use lettre::message::Mailbox;
use std::sync::Arc;

use boxoffice_actors::Registry;

use crate::tickets_qr::QrSigner;
pub use code_mail::{CodeMail, CodeMailer};
pub use mailer::{MailTransport, Mailer};

/// The mail configuration: where to send and as whom.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required`
    /// (STARTTLS), `smtps://host:port` (TLS); user and password may be in
    /// the URL (`smtps://user:pass@host`).
    pub smtp_url: String,
    /// The sender, `Box Office <tickets@example.com>` or a bare address.
    pub from: String,
}

impl MailSettings {
    /// Both flags or neither: one alone is a mistake worth refusing to start over.
    pub fn from_flags(
        smtp_url: Option<String>,
        from: Option<String>,
    ) -> Result<Option<MailSettings>, String> {
        match (smtp_url, from) {
            (None, None) => Ok(None),
            (Some(smtp_url), Some(from)) => {
                let settings = MailSettings { smtp_url, from };
                settings.validate()?;
                Ok(Some(settings))
            }
            (Some(_), None) => Err("--smtp-url needs --mail-from (the sender's address)".into()),
            (None, Some(_)) => Err("--mail-from needs --smtp-url (the SMTP server)".into()),
        }
    }

    /// The URL names a scheme lettre speaks and the sender is an address.
    pub fn validate(&self) -> Result<(), String> {
        self.sender()?;
        Mailer::new(&self.smtp_url).map(|_| ())
    }

    pub fn sender(&self) -> Result<Mailbox, String> {
        self.from
            .parse::<Mailbox>()
            .map_err(|e| format!("--mail-from {:?} is not an e-mail address: {e}", self.from))
    }
}

/// The running mail: the code sender handlers use (the outbox dispatcher
/// runs on its own and needs no handle).
pub struct MailService {
    pub codes: CodeMailer,
    thread: actix::ArbiterHandle,
}

impl Drop for MailService {
    /// The server is gone: so is its mail (what was not sent yet is still
    /// after the durable cursor, for the next start).
    fn drop(&mut self) {
        self.thread.stop();
    }
}

impl MailService {
    /// Starts the mail thread: the outbox dispatcher and the code sender.
    pub fn start(
        settings: &MailSettings,
        registry: Arc<Registry>,
        qr: QrSigner,
    ) -> Result<MailService, String> {
        let mailer = Arc::new(Mailer::new(&settings.smtp_url)?);
        let from = settings.sender()?;
        let arbiter = actix::Arbiter::new();
        let (codes, code_queue) = CodeMailer::new();
        let dispatcher = outbox_mail::Dispatcher::new(Arc::clone(&registry), from.clone(), qr)?;
        // Spawned from the thread itself: the feed's read is not `Send`.
        let dispatcher_mailer = Arc::clone(&mailer);
        let started = arbiter.spawn_fn(move || {
            actix::spawn(dispatcher.run(dispatcher_mailer));
            actix::spawn(code_mail::run(code_queue, registry, mailer, from));
        });
        if !started {
            return Err("mail: cannot start its thread".into());
        }
        Ok(MailService {
            codes,
            thread: arbiter.handle(),
        })
    }
}
