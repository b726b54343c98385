//! Accounts and tokens: registration, login, refresh, logout, role changes, and the
//! User every one of them answers with.

use boxoffice_actors::accounts::check_new_password;
pub use boxoffice_actors::accounts::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use boxoffice_actors::{Account, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Limit;
use crate::error::{ApiError, ApiResult};
use crate::time_format::rfc3339;

pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_PHONE_CHARS: usize = 32;

const REGISTER: &str = "RegisterRequestBody";

const RESET_CONFIRM: &str = "PasswordResetConfirmBody";

pub const LIMITS: &[Limit] = &[
    Limit::max_length(RESET_CONFIRM, "newPassword", MAX_PASSWORD_CHARS),
    Limit::min_length(RESET_CONFIRM, "newPassword", MIN_PASSWORD_CHARS),
    Limit::max_length(REGISTER, "email", MAX_EMAIL_CHARS),
    Limit::min_length(REGISTER, "password", MIN_PASSWORD_CHARS),
    Limit::max_length(REGISTER, "password", MAX_PASSWORD_CHARS),
    Limit::max_length(REGISTER, "name", MAX_NAME_CHARS),
    Limit::max_length(REGISTER, "phoneNumber", MAX_PHONE_CHARS),
];

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
    /// Whether the owner proved the address is theirs (POST /auth/verify-email).
    pub email_verified: bool,
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
            email_verified: a.email_verified,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequestBody {
    #[schema(format = Email)]
    pub email: String,
    pub password: String,
    #[schema(min_length = 1)]
    pub name: String,
    /// Up to 32 digits, spaces, `+`, `-`, `(` or `)`.
    #[schema(min_length = 1, pattern = r"^[0-9+\-() ]+$")]
    pub phone_number: Option<String>,
}

/// An address with something before the `@` and a dotted domain after it,
/// no spaces or control characters, at most 254 characters.
fn valid_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_CHARS
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

impl RegisterRequestBody {
    /// 400 for a bad email, a password the policy refuses (its message names
    /// the rule), a bad name or phone number.
    pub fn validate(&self) -> ApiResult<()> {
        if !valid_email(&self.email) {
            return Err(ApiError::validation("email is not a valid address"));
        }
        check_new_password(&self.password)?;
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ApiError::validation(format!(
                "name must be 1-{MAX_NAME_CHARS} characters"
            )));
        }
        if let Some(phone) = &self.phone_number {
            if phone.is_empty()
                || phone.len() > MAX_PHONE_CHARS
                || !phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-() ".contains(c))
            {
                return Err(ApiError::validation(format!(
                    "phoneNumber must be up to {MAX_PHONE_CHARS} digits, spaces, +, -, ( or )"
                )));
            }
        }
        Ok(())
    }
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
#[serde(rename_all = "camelCase")]
pub struct LogoutRequestBody {
    /// The refresh token of the login to end.
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleRequestBody {
    #[schema(value_type = RoleName)]
    pub role: Role,
}

/// POST /auth/password-reset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordResetBody {
    #[schema(format = Email)]
    pub email: String,
}

impl PasswordResetBody {
    /// 400 for something that is no address (the same check as register's,
    /// so an answer never depends on whether the address has an account).
    pub fn validate(&self) -> ApiResult<()> {
        if !valid_email(&self.email) {
            return Err(ApiError::validation("email is not a valid address"));
        }
        Ok(())
    }
}

/// POST /auth/password-reset/confirm.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordResetConfirmBody {
    /// The code from the mail (case, spaces and dashes do not matter).
    #[schema(max_length = 64)]
    pub code: String,
    pub new_password: String,
}

/// POST /auth/verify-email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyEmailBody {
    /// The code from the mail sent at registration.
    #[schema(max_length = 64)]
    pub code: String,
}

/// A code too long to be one is refused before any look-up (it is no
/// code: `INVALID_CODE`, like any other wrong one).
pub fn check_code_length(code: &str) -> ApiResult<()> {
    if code.chars().count() > boxoffice_actors::accounts::MAX_CODE_CHARS {
        return Err(boxoffice_actors::EngineError::InvalidCode.into());
    }
    Ok(())
}
