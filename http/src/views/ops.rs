//! The operations endpoints' bodies.

use utoipa::ToSchema;

/// What the probes answer (the document's view of their `json!` bodies).
#[derive(ToSchema)]
pub struct ProbeBody {
    /// "ok" (healthz), "ready" or "unavailable" (readyz).
    #[schema(example = "ok")]
    pub status: String,
    /// readyz only, when unavailable because the store is poisoned: why.
    pub reason: Option<String>,
}
