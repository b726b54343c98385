//! API.md's order of checks, in one place: authentication (401), permission
//! (403), the resource's existence (404), then the body (400/422).
//!
//! - 401 is the `AuthUser` extractor's: a handler that takes one never runs
//!   for a caller without a valid token.
//! - A role (403; 401 when the account is gone) is one lookup in the engine's
//!   in-memory role board, no message: [`role_then_body`] checks it before the
//!   body is looked at.
//! - What needs the engine (that a resource exists, 404; that a waiting room
//!   admits the caller, 403) the operation checks itself, on its way to
//!   succeeding, at no extra cost. A bad body stops the request before the
//!   operation is sent, so [`body_after`] asks those earlier checks then, and
//!   only then, and their answer comes first. A valid request pays no extra
//!   round trip for the order.

use boxoffice_actors::Role;
use serde::de::DeserializeOwned;
use std::future::Future;

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::state::AppState;

/// The body as `T`, once the caller's account is known to have `role` now (403 first).
pub fn role_then_body<T: DeserializeOwned>(
    state: &AppState,
    user: &AuthUser,
    role: Role,
    body: &JsonBody,
) -> ApiResult<T> {
    user.require(state, role)?;
    body.parse()
}

/// `body` (what the handler made of the request's body), or, when it is an
/// error, the answer of the `earlier` checks if they fail, else the body's
/// error. `earlier` is a future, so it costs nothing when not awaited: it is
/// asked only for a bad body, because the operation a good body goes on to
/// makes the same checks itself.
pub async fn body_after<T, E>(
    body: ApiResult<T>,
    earlier: impl Future<Output = ApiResult<E>>,
) -> ApiResult<T> {
    match body {
        Ok(body) => Ok(body),
        Err(invalid) => {
            earlier.await?;
            Err(invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use std::cell::Cell;

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        actix_web::rt::System::new().block_on(future)
    }

    #[test]
    fn earlier_checks_are_asked_only_for_a_bad_body_and_then_answer_first() {
        let asked = Cell::new(0);
        let earlier = |outcome: ApiResult<()>| {
            let asked = &asked;
            async move {
                asked.set(asked.get() + 1);
                outcome
            }
        };
        assert_eq!(block_on(body_after(Ok(7), earlier(Ok(())))).ok(), Some(7));
        assert_eq!(asked.get(), 0, "a good body costs no extra check");

        let bad = || Err::<u32, _>(ApiError::validation("bad"));
        let status = |r: ApiResult<u32>| r.err().map(|e| e.status.as_u16());
        assert_eq!(
            status(block_on(body_after(bad(), earlier(Ok(()))))),
            Some(400)
        );
        let forbidden = Err(ApiError::forbidden("no"));
        assert_eq!(
            status(block_on(body_after(bad(), earlier(forbidden)))),
            Some(403)
        );
        assert_eq!(asked.get(), 2);
    }
}
