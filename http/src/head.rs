//! HEAD on every GET route (RFC 9110 §9.3.2): the same status and headers as
//! the GET, without the body.
//!
//! The request is routed as a GET; actix's HTTP/1 encoder remembers that the
//! request on the wire was HEAD and writes the response's headers (with the
//! GET body's `Content-Length`) but not its body. A HEAD on a path with no
//! GET is 405 like any other method it does not support, and `Allow` lists
//! HEAD wherever it lists GET (`allow_header`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::Error;

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
