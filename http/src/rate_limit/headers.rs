//! The `X-RateLimit-*` headers, on every answer to a request a limit counted
//! (success or error), from the [`RateLimitInfo`] the [`super::Limited`]
//! extractor left in the request.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use super::RateLimitInfo;

pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let info = res.request().extensions().get::<RateLimitInfo>().copied();
    if let Some(info) = info {
        let headers = res.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", u64::from(info.limit)),
            ("x-ratelimit-remaining", u64::from(info.remaining)),
            ("x-ratelimit-reset", info.reset_secs),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    Ok(res)
}
