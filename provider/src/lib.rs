//! The payment provider (issue 18): what the payment saga asks of a card
//! processor, and the pieces that speak Stripe's wire format.
//!
//! - [`payment_provider`]: the [`PaymentProvider`] trait (create, retrieve and
//!   cancel a payment intent, refund it in full, its checkout URL) and its
//!   typed [`ProviderError`]. The saga holds a `dyn PaymentProvider`.
//! - [`stripe`]: [`StripeAdapter`], the trait over HTTP in Stripe's shape
//!   (form-encoded requests, `Idempotency-Key`, Bearer secret key, JSON answers),
//!   with timeouts and bounded answers.
//! - [`signature`]: `Stripe-Signature: t=…,v1=…` signing and verification.
//! - [`webhook_event`]: a webhook body parsed into a typed [`ProviderEvent`].
//! - [`mock`]: the built-in test provider, an actix-web service speaking the
//!   same wire format, with a hosted checkout page, webhooks it retries, and
//!   switches for tests (`boxoffice mock-provider` runs it as its own process).
//!
//! Nothing here knows reservations or wallets: metadata carries their ids.

pub mod mock;
pub mod payment_provider;
pub mod signature;
pub mod stripe;
pub mod webhook_event;
mod wire;

pub use payment_provider::{
    Intent, IntentStatus, Metadata, NewIntent, NewRefund, PaymentProvider, ProviderError, Refund,
};
pub use stripe::{StripeAdapter, StripeConfig};
pub use webhook_event::{EventKind, IntentFacts, ProviderEvent, RefundFacts};

use std::sync::Arc;

/// The injected clock, in Unix milliseconds. A closure rather than the actors
/// crate's `Clock` so that this crate does not depend on the actors crate
/// (which will call into it): the binary passes the system clock, tests one
/// they move by hand.
pub type NowMs = Arc<dyn Fn() -> i64 + Send + Sync>;
