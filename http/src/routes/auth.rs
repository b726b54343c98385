//! Accounts and tokens: register and login (rate-limited per address; failed
//! logins throttled per account and address: `accounts::throttle`), refresh
//! (rotating), logout, me, and the admin's role changes. Registration and
//! login are one operation each of the actor layer
//! (`Registry::register_account`, `Registry::login_session`), given the argon2
//! hasher of `crate::auth`; refresh and logout are the accounts actor's
//! (`Registry::refresh_session`, `Registry::end_session`), which keeps each
//! login's one live refresh token.

use actix_web::{web, HttpResponse};
use boxoffice_actors::accounts::SessionGrant;
use boxoffice_actors::{Account, Role};
use boxoffice_engine::ids::UserId;

use super::resource;
use crate::auth::{AuthUser, TokenKind};
use crate::checks::body_after;
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ApiResult};
use crate::extract::{path_id, JsonBody};
use crate::rate_limit::{LimitedCaller, LoginPosts, RegisterPosts};
use crate::state::AppState;
use crate::views::auth::{
    LoginRequestBody, LogoutRequestBody, RefreshRequestBody, RegisterRequestBody, RoleRequestBody,
    TokensBody, UserBody, MAX_PASSWORD_CHARS,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/register").route(web::post().to(register)))
        .service(resource("/auth/login").route(web::post().to(login)))
        .service(resource("/auth/refresh").route(web::post().to(refresh)))
        .service(resource("/auth/logout").route(web::post().to(logout)))
        .service(resource("/auth/me").route(web::get().to(me)))
        .service(resource("/admin/users/{userId}/role").route(web::put().to(set_role)));
}

route_api!(
    /// Accounts and tokens.
    AuthApi: [register, login, refresh, logout, me, set_role]
);

#[utoipa::path(post, path = "/api/v1/auth/register", summary = "Register an account", tag = "auth", request_body(content = RegisterRequestBody, example = json!({"email": "kim@example.com", "password": "correct horse battery", "name": "Kim Minji", "phoneNumber": "+82-10-1234-5678"})),
    responses(
        (status = 201, description = "the new account (role USER)", body = UserBody),
        (status = 400, description = "VALIDATION_ERROR: a bad email, name or phone number, or a password that is shorter than 12 characters, longer than 128 or among the most common leaked passwords (the message names the rule)"),
        (status = 409, description = "EMAIL_TAKEN (emails compare after NFKC normalization and case folding)"),
        (status = 503, description = "UNAVAILABLE: password hashing is saturated; retry after Retry-After seconds"),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    _limit: LimitedCaller<RegisterPosts>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let input: RegisterRequestBody = body.parse()?;
    input.validate()?;
    let account = state
        .engine(state.registry.register_account(
            input.email.trim().to_string(),
            input.name.trim().to_string(),
            input.phone_number,
            input.password,
            &state.passwords,
        ))
        .await?;
    // With mail on, the new address gets its verification code (API.md, "E-mail").
    if let Some(mail) = &state.mail {
        mail.codes.request(crate::mail::CodeMail::VerifyEmail {
            user_id: account.user_id,
        });
    }
    Ok(HttpResponse::Created().json(UserBody::from(&account)))
}

/// The refresh tokens' lifetime, as the accounts actor counts it.
fn refresh_ttl_ms(state: &AppState) -> i64 {
    state.jwt.refresh_ttl_secs.saturating_mul(1_000)
}

fn tokens(state: &AppState, account: &Account, grant: &SessionGrant) -> ApiResult<TokensBody> {
    let now = state.now();
    Ok(TokensBody {
        access_token: state
            .jwt
            .issue(account.user_id, account.role, TokenKind::Access, now)?,
        refresh_token: state
            .jwt
            .issue_refresh(account.user_id, account.role, grant, now)?,
        token_type: "Bearer",
        expires_in: state.jwt.access_ttl_secs,
        user: UserBody::from(account),
    })
}

#[utoipa::path(post, path = "/api/v1/auth/login", summary = "Log in: an access and a refresh token", tag = "auth", request_body(content = LoginRequestBody, example = json!({"email": "user@demo.boxoffice", "password": "demo-user-pass"})),
    responses(
        (status = 200, description = "an access and a refresh token", body = TokensBody),
        (status = 400, description = "VALIDATION_ERROR"),
        (status = 401, description = "INVALID_CREDENTIALS: wrong email or password"),
        (status = 429, description = "RATE_LIMITED (header Retry-After): past the per-minute login limit of the caller's address, or too many recent failed logins on this account from this address (10 in 15 minutes; 1 once the account has 100 from all addresses). An address without recent failures on the account is never refused by the failed-login throttle, so guessing elsewhere cannot lock the owner out"),
        (status = 503, description = "UNAVAILABLE: password hashing is saturated; retry after Retry-After seconds"),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    _limit: LimitedCaller<LoginPosts>,
    client: ClientIp,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let input: LoginRequestBody = body.parse()?;
    if input.password.len() > 4 * MAX_PASSWORD_CHARS {
        return Err(ApiError::validation("password too long"));
    }
    // The request timeout bounds the whole login, the wait for the account's
    // turn included; one cut short answers 503 and tells nothing about the password.
    let (account, grant) = state
        .engine(state.registry.login_session(
            &input.email,
            client.0,
            input.password,
            &state.passwords,
            refresh_ttl_ms(&state),
        ))
        .await?;
    Ok(token_answer(tokens(&state, &account, &grant)?))
}

/// Tokens are credentials: no cache, shared or private, may keep them
/// (API.md, "Account and token rules").
fn token_answer(body: TokensBody) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", summary = "Swap a refresh token for a new pair", tag = "auth", request_body(content = RefreshRequestBody, example = json!({"refreshToken": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"})),
    responses(
        (status = 200, description = "a new pair, with the account's current role; the refresh token sent is spent", body = TokensBody),
        (status = 400, description = "VALIDATION_ERROR"),
        (status = 401, description = "UNAUTHORIZED: not the live refresh token of a login (forged, expired, unknown, logged out, or spent; a spent one also ends its login and every token of it)"),
    ))]
pub async fn refresh(state: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let input: RefreshRequestBody = body.parse()?;
    let token = state
        .jwt
        .verify_refresh(&input.refresh_token, state.now())?;
    // The account as it is now: a changed role applies to the new tokens.
    let (account, grant) = state
        .engine(state.registry.refresh_session(
            token.user_id,
            token.session_id,
            token.refresh_id,
            refresh_ttl_ms(&state),
        ))
        .await?;
    Ok(token_answer(tokens(&state, &account, &grant)?))
}

#[utoipa::path(post, path = "/api/v1/auth/logout", summary = "End a login (spend its refresh token)", tag = "auth", request_body(content = LogoutRequestBody, example = json!({"refreshToken": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"})),
    responses(
        (status = 204, description = "the login is ended: its refresh token is refused from now on (access tokens already issued run until their own expiry)"),
        (status = 400, description = "VALIDATION_ERROR: no refreshToken string"),
        (status = 401, description = "UNAUTHORIZED: not the live refresh token of a login (forged, expired, unknown, already logged out, or spent; a spent one also ends its login)"),
    ))]
pub async fn logout(state: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let input: LogoutRequestBody = body.parse()?;
    let token = state
        .jwt
        .verify_refresh(&input.refresh_token, state.now())?;
    state
        .engine(
            state
                .registry
                .end_session(token.user_id, token.session_id, token.refresh_id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The token's account as it is now; a token of a vanished account is no longer valid.
async fn current_account(state: &AppState, user_id: UserId) -> ApiResult<Account> {
    state
        .engine(state.registry.account(user_id))
        .await?
        .ok_or_else(|| ApiError::unauthorized("account no longer exists"))
}

#[utoipa::path(get, path = "/api/v1/auth/me", summary = "The caller's account", tag = "auth",
    responses(
        (status = 200, description = "the caller's account", body = UserBody, example = json!({"userId": "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12", "email": "user@demo.boxoffice", "name": "Demo User", "role": "USER", "createdAt": "2026-12-01T09:00:00Z"})),
        (status = 401, description = "UNAUTHORIZED (also when the account no longer exists)"),
    ),
    security(("bearer" = [])))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let account = current_account(&state, user.user_id).await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&account)))
}

#[utoipa::path(put, path = "/api/v1/admin/users/{userId}/role", summary = "Set an account's role (ADMIN)", tag = "auth", request_body(content = RoleRequestBody, example = json!({"role": "STAFF"})),
    params(("userId" = String, Path, example = "7f3c2a10-5b6e-4c1d-9a8b-2e4f6d8c0a12")),
    responses(
        (status = 200, description = "the account with its new role, in force at once (also for tokens already issued); the change is logged with who made it", body = UserBody),
        (status = 400, description = "VALIDATION_ERROR: not USER, STAFF or ADMIN"),
        (status = 401, description = "UNAUTHORIZED: no valid access token, or its account does not exist"),
        (status = 403, description = "FORBIDDEN: the caller's account is not ADMIN now (the token's role claim is not trusted)"),
        (status = 404, description = "NOT_FOUND: no such user"),
        (status = 409, description = "CONFLICT: the last ADMIN cannot be demoted"),
    ),
    security(("bearer" = [])))]
pub async fn set_role(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    user.require(&state, Role::Admin)?;
    let target = path_id(&path, UserId::parse, "user")?;
    // The user's existence (404) before the body (400); the change checks it too.
    let input: RoleRequestBody = body_after(body.parse(), async {
        state
            .engine(state.registry.account(target))
            .await?
            .ok_or_else(|| ApiError::not_found("user not found"))
    })
    .await?;
    let account = state
        .engine(state.registry.set_role(target, input.role, user.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(UserBody::from(&account)))
}
