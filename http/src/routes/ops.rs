//! Operations endpoints: liveness, readiness, Prometheus metrics.

use actix_web::{web, HttpResponse};
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
#[utoipa::path(get, path = "/healthz", summary = "Liveness probe", tag = "ops",
    responses((status = 200, description = "{\"status\": \"ok\"}", body = ProbeBody, example = json!({"status": "ok"}))))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The engine answers and its store can still commit (recovery finished
/// before the server started listening, so this checks the actors are
/// responsive and no flush hung or failed, not that recovery ran).
#[utoipa::path(get, path = "/readyz", summary = "Readiness probe", tag = "ops",
    responses(
        (status = 200, description = "{\"status\": \"ready\"}", body = ProbeBody, example = json!({"status": "ready"})),
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
#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", example = "# TYPE boxoffice_http_requests_total counter\n")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let gauges = state.registry.gauges().await;
    let m = &state.metrics;
    m.holds_live.set(gauges.seats_held);
    m.seats_sold.set(gauges.seats_sold);
    m.flushes.set(gauges.flush.flushes as i64);
    m.flush_last_batch
        .set(gauges.flush.last_batch_records as i64);
    m.flush_max_batch.set(gauges.flush.max_batch_records as i64);
    m.log_records.set(gauges.flush.records as i64);
    let times = &state.registry.context().work_times;
    for (work, reading) in times.readings(&gauges.flush) {
        m.work_count
            .with_label_values(&[work])
            .set(i64::try_from(reading.count).unwrap_or(i64::MAX));
        m.work_seconds_total
            .with_label_values(&[work])
            .set(reading.total_us as f64 / 1e6);
        m.work_seconds_longest
            .with_label_values(&[work])
            .set(reading.longest_us as f64 / 1e6);
    }
    if let Some(waiting) = gauges.queue_waiting {
        m.queue_waiting.set(waiting as i64);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(m.render())
}
