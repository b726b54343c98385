//! The JSON bodies of the API, one module per resource: what requests send
//! (`...RequestBody`, with their conversion into the actor layer's commands)
//! and what successful responses return (`...Body`, each built from an
//! actor-layer receipt or view), exactly as API.md names their fields
//! (camelCase, RFC 3339 UTC times, integer money).
//!
//! The OpenAPI document is derived from these types, and a schema is named
//! after its Rust type, so two body types must never share a name (the
//! document would silently keep one: `openapi.rs` has the test).
//!
//! The `...Name` enums only describe the closed sets of strings a body's
//! status fields take (the bodies hold `&'static str`s): a response naming
//! anything else fails the fuzzer's schema check.

pub mod admin;
pub mod auth;
pub mod checkins;
pub mod concerts;
pub mod events;
pub mod ops;
pub mod payments;
pub mod queue;
pub mod reservations;
pub mod schedule_admin;
pub mod search;
pub mod seat_map;
pub mod tickets;
pub mod venues;
pub mod wallet;
pub mod webhooks;

/// A bound the actor or engine layer enforces, shown in the document. The
/// number is written once, in that layer, and copied into the schema's
/// property when the document is built (`openapi::completed_document`),
/// because utoipa's attributes take only literals.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub schema: &'static str,
    pub property: &'static str,
    /// A JSON Schema keyword: `maximum`, `minimum`, `maxLength`, `maxItems`.
    pub keyword: &'static str,
    pub value: i64,
}

impl Limit {
    const fn new(
        schema: &'static str,
        property: &'static str,
        keyword: &'static str,
        value: i64,
    ) -> Self {
        Limit {
            schema,
            property,
            keyword,
            value,
        }
    }

    pub const fn max_length(schema: &'static str, property: &'static str, chars: usize) -> Self {
        Limit::new(schema, property, "maxLength", chars as i64)
    }

    pub const fn min_length(schema: &'static str, property: &'static str, chars: usize) -> Self {
        Limit::new(schema, property, "minLength", chars as i64)
    }

    pub const fn max_items(schema: &'static str, property: &'static str, items: usize) -> Self {
        Limit::new(schema, property, "maxItems", items as i64)
    }

    pub const fn minimum(schema: &'static str, property: &'static str, value: i64) -> Self {
        Limit::new(schema, property, "minimum", value)
    }

    pub const fn maximum(schema: &'static str, property: &'static str, value: i64) -> Self {
        Limit::new(schema, property, "maximum", value)
    }
}

/// Every [`Limit`] of every resource.
pub fn limits() -> impl Iterator<Item = &'static Limit> {
    [
        auth::LIMITS,
        venues::LIMITS,
        concerts::LIMITS,
        reservations::LIMITS,
        webhooks::LIMITS,
    ]
    .into_iter()
    .flatten()
}
