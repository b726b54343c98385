//! Prometheus metrics: request counts and latencies by route (the route
//! pattern, not the raw path, so ids do not explode the label set), and the
//! engine's own gauges, refreshed on each scrape.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry as PromRegistry, TextEncoder,
};
use std::time::Instant;

use crate::state::AppState;

pub struct Metrics {
    registry: PromRegistry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub holds_live: IntGauge,
    pub seats_sold: IntGauge,
    pub queue_waiting: IntGauge,
    pub flushes: IntGauge,
    pub flush_last_batch: IntGauge,
    pub flush_max_batch: IntGauge,
    pub log_records: IntGauge,
    /// The engine's heavy single pieces of work (`work_times`), by kind:
    /// how many, their total and the longest, since start.
    pub work_count: IntGaugeVec,
    pub work_seconds_total: GaugeVec,
    pub work_seconds_longest: GaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = PromRegistry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "boxoffice_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "boxoffice_http_request_duration_seconds",
                "HTTP request latency by route and method",
            )
            .buckets(vec![
                // 20 and 40 ms: the hold and payment p99 targets (BENCHMARKS.md).
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.04, 0.05, 0.1, 0.25, 0.5, 1.0,
                2.5, 10.0,
            ]),
            &["route", "method"],
        )?;
        let gauge = |name: &str, help: &str| IntGauge::new(name, help);
        let metrics = Metrics {
            holds_live: gauge(
                "boxoffice_holds_live_seats",
                "seats currently held (unpaid or paying)",
            )?,
            seats_sold: gauge("boxoffice_seats_sold", "seats sold")?,
            queue_waiting: gauge("boxoffice_queue_waiting", "users waiting in waiting rooms")?,
            flushes: gauge(
                "boxoffice_storage_flushes",
                "group-commit flushes since start",
            )?,
            flush_last_batch: gauge(
                "boxoffice_storage_flush_batch_records",
                "log records covered by the last flush",
            )?,
            flush_max_batch: gauge(
                "boxoffice_storage_flush_batch_records_max",
                "most log records covered by one flush",
            )?,
            log_records: gauge(
                "boxoffice_storage_records",
                "log records appended since start",
            )?,
            work_count: IntGaugeVec::new(
                Opts::new(
                    "boxoffice_engine_work_count",
                    "flushes, snapshots (and their encodings and log trims), key-store writes and archive writes since start",
                ),
                &["work"],
            )?,
            work_seconds_total: GaugeVec::new(
                Opts::new(
                    "boxoffice_engine_work_seconds_total",
                    "time spent in each kind of engine work since start",
                ),
                &["work"],
            )?,
            work_seconds_longest: GaugeVec::new(
                Opts::new(
                    "boxoffice_engine_work_seconds_longest",
                    "the longest single piece of each kind of engine work since start",
                ),
                &["work"],
            )?,
            registry,
            requests,
            latency,
        };
        metrics
            .registry
            .register(Box::new(metrics.requests.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.latency.clone()))?;
        for g in [
            &metrics.holds_live,
            &metrics.seats_sold,
            &metrics.queue_waiting,
            &metrics.flushes,
            &metrics.flush_last_batch,
            &metrics.flush_max_batch,
            &metrics.log_records,
        ] {
            metrics.registry.register(Box::new(g.clone()))?;
        }
        metrics
            .registry
            .register(Box::new(metrics.work_count.clone()))?;
        for g in [&metrics.work_seconds_total, &metrics.work_seconds_longest] {
            metrics.registry.register(Box::new(g.clone()))?;
        }
        Ok(metrics)
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The method as a label: a standard method, or `OTHER`. Any token is a
/// valid HTTP method, so the raw one let any client add series to
/// `/metrics` without bound (issue 20: 5,000 junk methods took it from 66 KB
/// to 25 MB). Routes are already bounded: the matched pattern, or `unmatched`.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        M::CONNECT => "CONNECT",
        M::TRACE => "TRACE",
        _ => "OTHER",
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        // `as_str` is the code's digits without a new string per request.
        let status = response.status();
        state
            .metrics
            .requests
            .with_label_values(&[&route, method, status.as_str()])
            .inc();
        state
            .metrics
            .latency
            .with_label_values(&[&route, method])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
