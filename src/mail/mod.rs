//! Outgoing mail: the [`Mailer`] trait, an in-memory outbox for tests and examples, and a no-op.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::fields::Email;

/// A message idcore asks the host to deliver.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Mail {
    /// The recipient.
    pub to: Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

impl Mail {
    /// A message to `to`.
    pub fn new(to: Email, subject: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            to,
            subject: subject.into(),
            body: body.into(),
        }
    }
}

pub use crate::error::MailError;

/// The future a [`Mailer`] returns.
pub type MailFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Hands messages over for delivery (SMTP, an e-mail API, a queue …).
///
/// Mail is not on a hot path, so the trait is object-safe (boxed future) and
/// [`Identity`](crate::Identity) holds it as `Arc<dyn Mailer>`.
pub trait Mailer: Send + Sync + 'static {
    /// Accepts one message. Returning `Ok` means the message was queued or sent.
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a>;
}

/// Keeps every message in memory; clones share the outbox. For tests and examples.
#[derive(Clone, Debug, Default)]
pub struct MemoryOutbox {
    sent: Arc<Mutex<Vec<Mail>>>,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far, oldest first.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The newest message to `to` (compared case-insensitively), if any.
    pub fn last_to(&self, to: &Email) -> Option<Mail> {
        let key = to.key();
        let sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.iter().rev().find(|m| m.to.key() == key).cloned()
    }
}

impl Mailer for MemoryOutbox {
    fn send<'a>(&'a self, mail: &'a Mail) -> MailFuture<'a> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail.clone());
        Box::pin(async { Ok(()) })
    }
}

/// Drops every message. The default mailer of [`Identity`](crate::Identity).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopMailer;

impl Mailer for NoopMailer {
    fn send<'a>(&'a self, _mail: &'a Mail) -> MailFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
