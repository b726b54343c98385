//! Password reset and e-mail verification (API.md, "E-mail"). The codes
//! are mailed by `crate::mail::code_mail` and stored only as hashes by the
//! accounts actor (`accounts::email_codes`).
//!
//! A reset request answers 202 `{}` after the same work for every address
//! (parse, check the address's form, queue a request): the account is
//! looked up, and the code issued and mailed, on the mail thread after the
//! answer, so neither the answer nor its timing tells whether the address
//! has an account. With mail off there is nothing to queue and nothing is
//! issued (no code could reach anyone).

use actix_web::{web, HttpResponse};

use super::resource;
use crate::error::ApiResult;
use crate::extract::JsonBody;
use crate::mail::CodeMail;
use crate::rate_limit::{LimitedCaller, RegisterPosts};
use crate::state::AppState;
use crate::views::auth::{
    check_code_length, PasswordResetBody, PasswordResetConfirmBody, UserBody, VerifyEmailBody,
    MAX_PASSWORD_CHARS,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/password-reset").route(web::post().to(request_reset)))
        .service(resource("/auth/password-reset/confirm").route(web::post().to(confirm_reset)))
        .service(resource("/auth/verify-email").route(web::post().to(verify_email)));
}

route_api!(
    /// Password reset and e-mail verification.
    EmailApi: [request_reset, confirm_reset, verify_email]
);

#[utoipa::path(post, path = "/api/v1/auth/password-reset", summary = "Mail a password-reset code", tag = "auth", request_body(content = PasswordResetBody, example = json!({"email": "kim@example.com"})),
    responses(
        (status = 202, description = "`{}`, whether or not an account has this address (no enumeration); if one has, a single-use code valid 30 minutes is mailed to it (when the server has mail)", example = json!({})),
        (status = 400, description = "VALIDATION_ERROR: no email string, or not an address"),
        (status = 429, description = "RATE_LIMITED: past the per-minute limit of the caller's address (shared with register)"),
    ))]
pub async fn request_reset(
    state: web::Data<AppState>,
    _limit: LimitedCaller<RegisterPosts>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let input: PasswordResetBody = body.parse()?;
    input.validate()?;
    if let Some(mail) = &state.mail {
        mail.codes.request(CodeMail::PasswordReset {
            email: input.email.trim().to_string(),
        });
    }
    Ok(HttpResponse::Accepted().json(serde_json::json!({})))
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", summary = "Set a new password with a mailed code", tag = "auth", request_body(content = PasswordResetConfirmBody, example = json!({"code": "7K3M-Q9XD-2HBT-W4RE", "newPassword": "a new long passphrase"})),
    responses(
        (status = 204, description = "the password is changed, the code spent, and every login of the account ended (its refresh tokens are refused)"),
        (status = 400, description = "INVALID_CODE: unknown, used or expired (30 minutes); VALIDATION_ERROR: no code or newPassword string, or a password the policy refuses (shorter than 12 characters, longer than 128, or among the most common leaked passwords; the message names the rule; the code is not spent)"),
        (status = 503, description = "UNAVAILABLE: password hashing is saturated; retry after Retry-After seconds"),
    ))]
pub async fn confirm_reset(state: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let input: PasswordResetConfirmBody = body.parse()?;
    check_code_length(&input.code)?;
    if input.new_password.len() > 4 * MAX_PASSWORD_CHARS {
        return Err(crate::error::ApiError::validation("newPassword too long"));
    }
    state
        .engine(
            state
                .registry
                .reset_password(&input.code, input.new_password, &state.passwords),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/auth/verify-email", summary = "Verify the account's address with the mailed code", tag = "auth", request_body(content = VerifyEmailBody, example = json!({"code": "7K3M-Q9XD-2HBT-W4RE"})),
    responses(
        (status = 200, description = "the account, with `emailVerified: true`; the code is spent. The code is the credential (no token needed), as a link from the mail would use it", body = UserBody, example = json!({"userId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "email": "kim@example.com", "name": "Kim Minji", "role": "USER", "createdAt": "2026-12-01T09:00:00Z", "emailVerified": true})),
        (status = 400, description = "INVALID_CODE: unknown, used or expired (30 minutes); VALIDATION_ERROR: no code string"),
    ))]
pub async fn verify_email(state: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let input: VerifyEmailBody = body.parse()?;
    check_code_length(&input.code)?;
    let account = state
        .engine(state.registry.verify_email(&input.code))
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&account)))
}
