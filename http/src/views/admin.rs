//! What the admin lists take and show: the user search's query (`email`
//! exact, `q` a part of an email or name; users render as `auth::UserBody`,
//! as GET /auth/me shows them), and a schedule's reservations, each as GET
//! /reservations/{id} shows it plus its owner's `userId` and `email`.

use boxoffice_actors::accounts::{AccountQuery, MAX_USER_QUERY_CHARS};
use boxoffice_actors::schedule_reservations::OwnedReservation;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::reservations::ReservationBody;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct UserQuery {
    /// The account with exactly this email (compared like a login:
    /// NFKC-normalized, case-folded).
    pub email: Option<String>,
    /// Accounts whose email or name contains this (ignoring case), 1-100 characters.
    pub q: Option<String>,
}

impl UserQuery {
    /// The search asked for; 400 for an empty or over-long value, or both at once.
    pub fn query(self) -> ApiResult<AccountQuery> {
        match (self.email, self.q) {
            (Some(_), Some(_)) => Err(ApiError::validation("give email or q, not both")),
            (Some(email), None) if email.trim().is_empty() => {
                Err(ApiError::validation("email must not be empty"))
            }
            (Some(email), None) => Ok(AccountQuery::Email(email)),
            (None, Some(q)) => {
                let q = q.trim();
                if q.is_empty() || q.chars().count() > MAX_USER_QUERY_CHARS {
                    return Err(ApiError::validation(format!(
                        "q must be 1-{MAX_USER_QUERY_CHARS} characters"
                    )));
                }
                Ok(AccountQuery::Part(q.to_string()))
            }
            (None, None) => Ok(AccountQuery::All),
        }
    }
}

/// A reservation of any user, as its owner reads it, with who owns it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnedReservationBody {
    #[serde(flatten)]
    pub reservation: ReservationBody,
    pub user_id: String,
    /// The owner's email (empty for an account that no longer exists).
    pub email: String,
}

impl From<&OwnedReservation> for OwnedReservationBody {
    fn from(r: &OwnedReservation) -> Self {
        OwnedReservationBody {
            reservation: ReservationBody::from(&r.view),
            user_id: r.view.user.to_string(),
            email: r
                .owner
                .as_ref()
                .map(|a| a.email.clone())
                .unwrap_or_default(),
        }
    }
}
