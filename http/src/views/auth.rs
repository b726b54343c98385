//! Accounts and tokens: registration, login, refresh, role changes, and the
//! User every one of them answers with.

use boxoffice_actors::{Account, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time_format::rfc3339;

/// A role, as the API names it (the document's view of `Role`).
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoleName {
    User,
    Staff,
    Admin,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    pub user_id: String,
    pub email: String,
    pub name: String,
    #[schema(value_type = RoleName)]
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Account> for UserBody {
    fn from(a: &Account) -> Self {
        UserBody {
            user_id: a.user_id.to_string(),
            email: a.email.clone(),
            name: a.name.clone(),
            role: a.role,
            phone_number: a.phone_number.clone(),
            created_at: rfc3339(a.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequestBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Up to 32 digits, spaces, `+`, `-`, `(` or `)`.
    #[schema(min_length = 1, max_length = 32, pattern = r"^[0-9+\-() ]+$")]
    pub phone_number: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokensBody {
    pub access_token: String,
    pub refresh_token: String,
    #[schema(value_type = String, pattern = "^Bearer$", example = "Bearer")]
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: i64,
    pub user: UserBody,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequestBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequestBody {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequestBody {
    #[schema(value_type = RoleName)]
    pub role: Role,
}
