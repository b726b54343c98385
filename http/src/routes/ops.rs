//! Operations endpoints: liveness, readiness, Prometheus metrics.

use actix_web::{web, HttpResponse};
use boxoffice_actors::schedule_actor::GetCounts;
use serde_json::json;

use super::resource;
use crate::state::AppState;
use crate::views::ops::ProbeBody;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").route(web::get().to(healthz)))
        .service(resource("/readyz").route(web::get().to(readyz)))
        .service(resource("/metrics").route(web::get().to(metrics)));
}

route_api!(
    /// The operations endpoints.
    OpsApi: [healthz, readyz, metrics]
);

/// The process is up and answering.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "{\"status\": \"ok\"}", body = ProbeBody)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The engine answers and its store can still commit (recovery finished
/// before the server started listening, so this checks the actors are
/// responsive and no flush hung or failed, not that recovery ran).
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "{\"status\": \"ready\"}", body = ProbeBody),
        (status = 503, description = "{\"status\": \"unavailable\"}: the engine does not answer, or its store is poisoned (a flush failed or hung)", body = ProbeBody),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // A poisoned group commit refuses every write; the wallet query below
    // would not notice, since queries never touch storage.
    if let Err(cause) = state.registry.context().commit.health() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "reason": cause.to_string() }));
    }
    let ready = state
        .engine(
            state
                .registry
                .wallet_view(boxoffice_engine::ids::UserId::from_random_bytes([0; 16])),
        )
        .await
        .is_ok();
    if ready {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" }))
    }
}

/// Prometheus text format: request counts and latencies by route, engine gauges.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (mut held, mut sold) = (0i64, 0i64);
    for id in state.registry.schedule_ids() {
        if let Ok(handle) = state.registry.schedule(id) {
            if let Ok(counts) = handle.actor.query(GetCounts).await {
                held += i64::from(counts.held);
                sold += i64::from(counts.sold);
            }
        }
    }
    let m = &state.metrics;
    m.holds_live.set(held);
    m.seats_sold.set(sold);
    let flush = state.registry.flush_stats();
    m.flushes.set(flush.flushes as i64);
    m.flush_last_batch.set(flush.last_batch_records as i64);
    m.flush_max_batch.set(flush.max_batch_records as i64);
    m.log_records.set(flush.records as i64);
    if let Ok(waiting) = state.registry.queue_waiting().await {
        m.queue_waiting.set(waiting as i64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render())
}
