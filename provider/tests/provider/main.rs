//! The payment provider crate, one test binary: the Stripe-shaped adapter
//! against the built-in test provider over real HTTP on 127.0.0.1:0, the
//! webhooks it sends to a receiver server in the test (signatures verified),
//! each test switch, and hostile answers from a provider that misbehaves.

mod adapter;
mod hostile;
mod support;
mod switches;
mod webhooks;
