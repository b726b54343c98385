//! The HTTP API of Boxoffice (the contract: `docs/api.md` for users).
//!
//! - [`startup`]: builds the application (store, engine, server); everything
//!   that runs a server goes through [`startup::Application::build`];
//!   [`secrets`]: the private data dir and the token and QR key files.
//! - [`routes`]: one module per resource; thin handlers over the actor layer,
//!   each module with its part of the OpenAPI document; [`checks`]: API.md's
//!   order of checks (401, 403, 404, then the body), once.
//! - [`error`]: the one error shape and the mapping of engine errors to codes.
//! - [`auth`], [`idempotency_key`], [`extract`], [`pagination`]: extractors.
//! - [`request_id`] (and the access log), [`metrics`], [`load_shedding`], [`allow_header`], [`head`]: middleware; [`openapi`]: the generated spec.
//! - [`views`]: request and response bodies, one module per resource; [`tickets_qr`]: signed QR codes; [`demo`].
//! - [`mail`]: tickets and notices from the booking events, and the codes of password reset and e-mail verification.

pub mod allow_header;
pub mod auth;
pub mod card_provider;
pub mod checks;
pub mod client_ip;
pub mod cors;
pub mod demo;
pub mod error;
pub mod extract;
pub mod head;
pub mod idempotency_key;
pub mod load_shedding;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod pagination;
pub mod queue_tokens;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod secrets;
pub mod settings;
pub mod shutdown;
pub mod sse;
pub mod startup;
pub mod state;
pub mod tickets_qr;
pub mod time_format;
pub mod views;
pub mod webhook_transport;

pub use settings::Settings;
pub use startup::Application;
