//! Load shedding at the door: at most `Settings::max_in_flight_requests`
//! requests are past this point at once; the next one is answered
//! 503 UNAVAILABLE (error shape, `Retry-After: 1`) straight away.
//!
//! Why here (RELIABILITY.md, finding F5): the per-actor in-flight bound
//! (`actors/src/in_flight.rs`) refuses only after the request was routed,
//! its JWT checked and its body read, so under overload that HTTP work itself
//! is the queue. This middleware sits outside all of it: only the request-id
//! middleware (so the 503 carries `X-Request-Id` and a `requestId`) and the
//! metrics middleware (so shed requests are counted) run before it, both a
//! few header reads. Refusing costs a counter check and a small JSON body.
//!
//! It never waits: a try-acquire on an atomic counter, and the permit is
//! given back when the request's future ends (answered or dropped because the
//! client went away). Ops endpoints are exempt, so probes and scrapes keep
//! answering while the API sheds load.

use actix_web::body::EitherBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, ResponseError};
use futures_util::future::LocalBoxFuture;
use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::ApiError;

/// The message of a 503 shed here (the per-actor bound says
/// "overloaded or restarting: try again"; the engine timeout says it timed out).
pub const SHED_MESSAGE: &str = "server busy: too many requests in flight, try again";

/// Paths never refused: liveness, readiness and metrics must answer while the
/// API is shedding, or an orchestrator would restart a healthy server; and
/// the waiting room, which is where a crowd is sent to wait, so it must not
/// refuse the crowd (API.md: "a join or a poll is answered 2xx, never 503").
/// A poll costs a signature check and a few atomic loads; joins are bounded
/// by the queue's own join bound (`QUEUE_JOINS_IN_FLIGHT`) and the
/// connection limits.
pub const EXEMPT_PATHS: [&str; 5] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/queue/tokens",
    "/api/v1/queue/tokens/current",
];

/// The shared counter: one per process, cloned into every worker's app.
#[derive(Debug)]
pub struct LoadShedder {
    limit: usize,
    in_flight: AtomicUsize,
    shed: AtomicU64,
}

impl LoadShedder {
    pub fn new(limit: usize) -> Arc<LoadShedder> {
        assert!(limit >= 1, "a limit of 0 would refuse everything");
        Arc::new(LoadShedder {
            limit,
            in_flight: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
        })
    }

    /// Requests let in right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests refused since start.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A permit, or `None` when `limit` requests hold one already.
    fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            });
        match taken {
            Ok(_) => Some(Permit {
                shedder: Arc::clone(self),
            }),
            Err(_) => {
                self.shed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// Held by one request let in until its future ends.
struct Permit {
    shedder: Arc<LoadShedder>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let before = self.shedder.in_flight.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before >= 1, "load-shedding permit returned twice");
    }
}

/// A queue token's stream is the waiting room too (a poll that stays open),
/// so it is exempt like the polls. A seat stream is not: opening one is an
/// ordinary request, refused 503 under overload (an EventSource retries).
/// Once open, no stream holds a permit: the permit ends with the handler,
/// before the body streams.
fn is_queue_stream(path: &str) -> bool {
    path.strip_prefix("/api/v1/queue/tokens/")
        .and_then(|rest| rest.strip_suffix("/stream"))
        .is_some_and(|token| !token.is_empty() && !token.contains('/'))
}

fn exempt(path: &str) -> bool {
    EXEMPT_PATHS.contains(&path) || is_queue_stream(path)
}

/// The middleware factory: `App::wrap(ShedLoad::new(shedder))`.
pub struct ShedLoad {
    shedder: Arc<LoadShedder>,
}

impl ShedLoad {
    pub fn new(shedder: Arc<LoadShedder>) -> Self {
        ShedLoad { shedder }
    }
}

impl<S, B> Transform<S, ServiceRequest> for ShedLoad
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = ShedLoadService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ShedLoadService {
            service: Rc::new(service),
            shedder: Arc::clone(&self.shedder),
        }))
    }
}

pub struct ShedLoadService<S> {
    service: Rc<S>,
    shedder: Arc<LoadShedder>,
}

impl<S, B> Service<ServiceRequest> for ShedLoadService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let permit = if exempt(req.path()) {
            None
        } else {
            match self.shedder.try_acquire() {
                Some(permit) => Some(permit),
                None => {
                    let refusal = ApiError::unavailable(SHED_MESSAGE).error_response();
                    let response = req.into_response(refusal).map_into_right_body();
                    return Box::pin(async move {
                        // Answer on the next poll, not this one: meanwhile
                        // actix decodes the rest of the request body if it is
                        // already buffered, and a request whose body was read
                        // to the end keeps its keep-alive connection (one
                        // answered while its body is unread closes it). A
                        // body still in transit is not waited for.
                        actix_web::rt::task::yield_now().await;
                        Ok(response)
                    });
                }
            }
        };
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            let response = service.call(req).await;
            // The permit covers the whole handling, however it ends.
            drop(permit);
            response.map(ServiceResponse::map_into_left_body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;
    use actix_web::{test, web, App, HttpResponse};
    use tokio::sync::Semaphore;

    /// A handler that waits until the test releases it, so requests stay in flight.
    async fn parked(release: web::Data<Semaphore>) -> HttpResponse {
        let _ = release.acquire().await.map(|p| p.forget());
        HttpResponse::Ok().finish()
    }

    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    #[actix_web::test]
    async fn past_the_limit_requests_are_refused_at_once_and_ops_paths_are_exempt() {
        let shedder = LoadShedder::new(2);
        let release = web::Data::new(Semaphore::new(0));
        let app = Rc::new(
            test::init_service(
                App::new()
                    .app_data(release.clone())
                    .wrap(ShedLoad::new(Arc::clone(&shedder)))
                    .route("/parked", web::get().to(parked))
                    .route("/healthz", web::get().to(ok))
                    .route("/metrics", web::get().to(ok))
                    .route("/other", web::get().to(ok)),
            )
            .await,
        );
        // Two requests take both permits and wait inside the handler.
        let parked_requests: Vec<_> = (0..2)
            .map(|_| {
                let app = Rc::clone(&app);
                actix_web::rt::spawn(async move {
                    let req = test::TestRequest::get().uri("/parked").to_request();
                    test::call_service(&*app, req).await.status()
                })
            })
            .collect();
        while shedder.in_flight() < 2 {
            actix_web::rt::task::yield_now().await;
        }

        let refused =
            test::call_service(&*app, test::TestRequest::get().uri("/other").to_request()).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            refused
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let body: serde_json::Value = test::read_body_json(refused).await;
        assert_eq!(body["error"]["code"], "UNAVAILABLE", "{body}");
        assert_eq!(body["error"]["message"], SHED_MESSAGE, "{body}");
        assert_eq!(shedder.shed(), 1);

        for path in ["/healthz", "/metrics"] {
            let probe =
                test::call_service(&*app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(probe.status(), StatusCode::OK, "{path} is exempt");
        }
        assert_eq!(shedder.in_flight(), 2, "exempt paths take no permit");

        release.add_permits(2);
        for request in parked_requests {
            assert_eq!(request.await.expect("parked request"), StatusCode::OK);
        }
        assert_eq!(shedder.in_flight(), 0, "permits are given back");
        let let_in =
            test::call_service(&*app, test::TestRequest::get().uri("/other").to_request()).await;
        assert_eq!(let_in.status(), StatusCode::OK);
    }

    #[actix_web::test]
    async fn a_dropped_request_gives_its_permit_back() {
        let shedder = LoadShedder::new(1);
        let release = web::Data::new(Semaphore::new(0));
        let app = test::init_service(
            App::new()
                .app_data(release.clone())
                .wrap(ShedLoad::new(Arc::clone(&shedder)))
                .route("/parked", web::get().to(parked)),
        )
        .await;
        let pending = app.call(test::TestRequest::get().uri("/parked").to_request());
        // Poll once so the request is let in and parked, then drop it, as
        // actix does when the client disconnects.
        let mut pending = Box::pin(pending);
        assert!(futures_util::poll!(pending.as_mut()).is_pending());
        assert_eq!(shedder.in_flight(), 1);
        drop(pending);
        assert_eq!(shedder.in_flight(), 0);
    }
}
