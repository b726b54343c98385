//! Authentication: JWT access and refresh tokens (HS256 only; `alg: none` and
//! every other algorithm are refused), the [`AuthUser`] extractor, and
//! [`Argon2Passwords`], the password hasher the account operations are given
//! (argon2 on the blocking pool, so hashing never stalls a worker or an actor,
//! and behind a semaphore, so a login storm cannot run hashes without bound).
//!
//! Token expiry is checked against the injected clock, not the system clock
//! jsonwebtoken would read, so tests can move time. The role claim in a token
//! is informational only: [`AuthUser::require`] reads the account's current
//! role from the engine's in-memory role board (no actor message, no disk),
//! so a role change applies at once and a token of an account that does not
//! exist is refused (401). Endpoints open to every user check no role and do
//! no lookup.
//!
//! A verified access token is remembered until its own expiry
//! ([`VerifiedTokens`], at most [`VERIFIED_TOKENS_MAX`]), so a client sending
//! the same token again costs a map lookup instead of two base64 decodes, two
//! JSON parses and an HMAC: the hot path of a rush is the same few tokens over
//! and over. Nothing a token says can change while it is valid (the secret is
//! fixed for the process, and the role claim is never trusted), so the cache
//! changes no answer: its expiry is still checked against the clock each time.
//!
//! A refresh token names its login (`sid`) and itself (`jti`); the accounts
//! actor keeps each login's one live refresh token, so refreshing rotates it
//! and logout or reuse ends the login (`boxoffice_actors::accounts::sessions`).
//! Access tokens stay stateless: valid until their own expiry.
//!
//! The login rule itself (per-account turns, throttle, decoy verification)
//! is one operation of the actor layer: `Registry::login`.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use boxoffice_actors::accounts::{SessionGrant, TokenId};
use boxoffice_actors::{EngineError, IdSource, Passwords, Role};
use boxoffice_engine::ids::UserId;
use boxoffice_engine::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub typ: TokenKind,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// A refresh token's login (absent from access tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// A verified refresh token: whose, which login, which token of it.
#[derive(Clone, Copy, Debug)]
pub struct RefreshToken {
    pub user_id: UserId,
    pub session_id: TokenId,
    pub refresh_id: TokenId,
}

pub struct JwtKeys {
    /// Draws each token's `jti` (the injected random source).
    ids: Arc<IdSource>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Access tokens already verified, with their user and expiry.
    verified: VerifiedTokens,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(
        secret: &[u8],
        access_ttl_secs: i64,
        refresh_ttl_secs: i64,
        ids: Arc<IdSource>,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the injected clock in `verify`.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        JwtKeys {
            ids,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: VerifiedTokens::default(),
            access_ttl_secs,
            refresh_ttl_secs,
        }
    }

    pub fn issue(
        &self,
        user: UserId,
        role: Role,
        kind: TokenKind,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let iat = now.0.div_euclid(1_000);
        let ttl = match kind {
            TokenKind::Access => self.access_ttl_secs,
            TokenKind::Refresh => self.refresh_ttl_secs,
        };
        let claims = Claims {
            sub: user.to_string(),
            role,
            typ: kind,
            iat,
            exp: iat + ttl,
            jti: TokenId(self.ids.bytes()).to_string(),
            sid: None,
        };
        self.sign(&claims)
    }

    /// The refresh token of a login the accounts actor granted: its ids, and
    /// its expiry (the login's).
    pub fn issue_refresh(
        &self,
        user: UserId,
        role: Role,
        grant: &SessionGrant,
        now: Timestamp,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user.to_string(),
            role,
            typ: TokenKind::Refresh,
            iat: now.0.div_euclid(1_000),
            exp: grant.expires_at.0.div_euclid(1_000),
            jti: grant.refresh_id.to_string(),
            sid: Some(grant.session_id.to_string()),
        };
        self.sign(&claims)
    }

    fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("token signing failed: {e}")))
    }

    /// The claims and user of a valid, unexpired token of `kind`.
    fn decode(
        &self,
        token: &str,
        kind: TokenKind,
        now: Timestamp,
    ) -> Result<(UserId, Claims), ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::unauthorized("invalid token"))?;
        let claims = data.claims;
        if claims.typ != kind {
            return Err(ApiError::unauthorized("wrong kind of token"));
        }
        if now.0.div_euclid(1_000) >= claims.exp {
            return Err(ApiError::unauthorized("token expired"));
        }
        let user = UserId::parse(&claims.sub)
            .ok_or_else(|| ApiError::unauthorized("invalid token subject"))?;
        Ok((user, claims))
    }

    /// The token's user, if it is a valid, unexpired token of `kind`. Its
    /// role claim is not returned: it is never trusted. An access token
    /// verified before answers from [`VerifiedTokens`] (its expiry checked
    /// again); refresh tokens are rare and always decoded.
    pub fn verify(&self, token: &str, kind: TokenKind, now: Timestamp) -> Result<UserId, ApiError> {
        if kind != TokenKind::Access {
            return self.decode(token, kind, now).map(|(user, _)| user);
        }
        if let Some(known) = self.verified.get(token, now) {
            return known;
        }
        let (user, claims) = self.decode(token, kind, now)?;
        self.verified.insert(
            token,
            VerifiedToken {
                user,
                exp: claims.exp,
            },
        );
        Ok(user)
    }

    /// Access tokens remembered as verified (for tests and diagnostics).
    pub fn verified_tokens(&self) -> usize {
        self.verified.len()
    }

    /// A valid, unexpired refresh token's login and id. Whether it is still
    /// that login's live token is the accounts actor's to say.
    pub fn verify_refresh(&self, token: &str, now: Timestamp) -> Result<RefreshToken, ApiError> {
        let (user_id, claims) = self.decode(token, TokenKind::Refresh, now)?;
        let unknown = || ApiError::unauthorized("not a refresh token of a login");
        let session_id = claims
            .sid
            .as_deref()
            .and_then(TokenId::parse)
            .ok_or_else(unknown)?;
        let refresh_id = TokenId::parse(&claims.jti).ok_or_else(unknown)?;
        Ok(RefreshToken {
            user_id,
            session_id,
            refresh_id,
        })
    }
}

/// Most verified access tokens remembered at once (about 300 bytes each:
/// 2-3 MB). Past it the cache starts again empty: a crowd larger than this
/// costs the verification it cost before the cache, never unbounded memory.
pub const VERIFIED_TOKENS_MAX: usize = 8_192;

/// What verifying an access token established: whose it is, and when it
/// stops being valid (`exp`, seconds since the epoch).
#[derive(Clone, Copy, Debug)]
struct VerifiedToken {
    user: UserId,
    exp: i64,
}

/// The access tokens whose signature, kind and subject were verified, keyed
/// by the whole token text (so only the very same signed bytes hit). Only
/// tokens that verified are ever added, so a client cannot fill it with
/// junk; an expired one is refused and dropped when it is next seen, and a
/// full cache is cleared (amortised O(1) per insert, bounded by
/// [`VERIFIED_TOKENS_MAX`]). One mutex: it is held for one hash lookup,
/// far shorter than the request around it.
#[derive(Default)]
struct VerifiedTokens {
    map: Mutex<HashMap<Box<str>, VerifiedToken>>,
}

impl VerifiedTokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, VerifiedToken>> {
        // Every operation is a single get/insert/remove/clear: a panic
        // elsewhere while holding it leaves a consistent map.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for a token verified before: its user, or 401 "token
    /// expired" as `decode` would say; `None` if it was never verified.
    fn get(&self, token: &str, now: Timestamp) -> Option<Result<UserId, ApiError>> {
        let mut map = self.lock();
        let known = *map.get(token)?;
        if now.0.div_euclid(1_000) >= known.exp {
            map.remove(token);
            return Some(Err(ApiError::unauthorized("token expired")));
        }
        Some(Ok(known.user))
    }

    fn insert(&self, token: &str, verified: VerifiedToken) {
        let mut map = self.lock();
        if map.len() >= VERIFIED_TOKENS_MAX {
            map.clear();
        }
        map.insert(token.into(), verified);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The authenticated caller of a request: who, from a valid access token,
/// and nothing else (extracting it costs no lookup; see [`AuthUser::require`]).
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    pub user_id: UserId,
}

impl AuthUser {
    /// The caller's account must exist (else 401) and have `role` or a
    /// higher one (ADMIN > STAFF > USER; else 403), as it is now: one
    /// in-memory lookup, never the token's claim.
    pub fn require(&self, state: &AppState, role: Role) -> Result<(), ApiError> {
        let rank = |r: Role| match r {
            Role::User => 0,
            Role::Staff => 1,
            Role::Admin => 2,
        };
        let current = state
            .registry
            .role_of(self.user_id)
            .ok_or_else(|| ApiError::unauthorized("account no longer exists"))?;
        if rank(current) >= rank(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden("this action needs a higher role"))
        }
    }
}

pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let outcome = (|| {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("app state missing"))?;
            let token =
                bearer(req).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
            let user_id = state.jwt.verify(token, TokenKind::Access, state.now())?;
            Ok(AuthUser { user_id })
        })();
        ready(outcome)
    }
}

/// The caller, if a valid access token was sent (public endpoints that say more to a signed-in user).
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if bearer(req).is_none() {
            return ready(Ok(MaybeAuthUser(None)));
        }
        match AuthUser::from_request(req, payload).into_inner() {
            Ok(user) => ready(Ok(MaybeAuthUser(Some(user)))),
            Err(err) => ready(Err(err)),
        }
    }
}

/// Longest a register or login waits for a hashing permit before it is
/// answered 503 UNAVAILABLE with `Retry-After`. Short: at tens of milliseconds
/// a hash, a second's queue is already dozens of hashes deep, and a client
/// told to come back soon costs nothing while it waits.
pub const HASH_PERMIT_WAIT: Duration = Duration::from_secs(1);

/// argon2id with the crate's defaults (19 MiB, 2 passes): never weaker in
/// production. Each hash or verification runs on actix's blocking pool
/// (`web::block`), so it stalls neither an HTTP worker nor an actor.
///
/// At most `permits` of them run at once, process-wide (issue 20, item 4:
/// without a bound, 500 concurrent logins ran 500 hashes at 19 MiB each on
/// 310 threads, and `/healthz` took 1.8 s). One past that waits up to
/// [`HASH_PERMIT_WAIT`], then is refused with `Unavailable` (503). The permit
/// travels into the blocking task, so a hash whose client went away still
/// counts until it has finished.
#[derive(Clone, Debug)]
pub struct Argon2Passwords {
    permits: Arc<Semaphore>,
}

impl Argon2Passwords {
    /// A hasher running at most `permits` hashes at once (at least one).
    pub fn new(permits: usize) -> Self {
        Argon2Passwords {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// A permit to hash, or `Unavailable` after [`HASH_PERMIT_WAIT`].
    async fn permit(&self) -> Result<OwnedSemaphorePermit, EngineError> {
        let waiting = Arc::clone(&self.permits).acquire_owned();
        match tokio::time::timeout(HASH_PERMIT_WAIT, waiting).await {
            Ok(Ok(permit)) => Ok(permit),
            // Timed out, or the semaphore was closed (never done): busy either way.
            _ => Err(EngineError::Unavailable),
        }
    }
}

impl Passwords for Argon2Passwords {
    /// A valid argon2 hash of nothing anyone knows.
    const DECOY_HASH: &'static str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0kG8QOK0MYsXn4A1DJnVDvxoTH0a1TBzn03zFhbTJ0Y";

    /// The salt comes from the caller, drawn from the injected random source
    /// (`IdSource::bytes`, a CSPRNG seeded from the OS in production).
    async fn hash(&self, password: String, salt: [u8; 16]) -> Result<String, EngineError> {
        let permit = self.permit().await?;
        web::block(move || {
            let _permit = permit;
            let salt = SaltString::encode_b64(&salt)?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await
        .map_err(|_| EngineError::Unavailable)?
        .map_err(|e| EngineError::Internal(format!("password hashing failed: {e}")))
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, EngineError> {
        let permit = self.permit().await?;
        web::block(move || {
            let _permit = permit;
            match PasswordHash::new(&hash) {
                Ok(parsed) => Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => false,
            }
        })
        .await
        .map_err(|_| EngineError::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn keys(secret: &[u8]) -> JwtKeys {
        JwtKeys::new(secret, 3_600, 86_400, Arc::new(IdSource::seeded(7)))
    }

    fn refused(outcome: Result<UserId, ApiError>) -> String {
        let err = outcome.expect_err("refused");
        assert_eq!(err.status, actix_web::http::StatusCode::UNAUTHORIZED);
        err.message
    }

    #[test]
    fn a_remembered_token_is_still_refused_once_expired() {
        let keys = keys(b"a secret of the test, 32 bytes..");
        let user = UserId::from_random_bytes([3; 16]);
        let issued = Timestamp(1_000 * HOUR_MS);
        let token = keys
            .issue(user, Role::User, TokenKind::Access, issued)
            .expect("signed");
        for _ in 0..2 {
            assert_eq!(
                keys.verify(&token, TokenKind::Access, issued).ok(),
                Some(user)
            );
        }
        assert_eq!(keys.verified_tokens(), 1);
        // One millisecond before its expiry it is still valid, from the cache.
        let last = issued.plus_millis(HOUR_MS - 1);
        assert_eq!(
            keys.verify(&token, TokenKind::Access, last).ok(),
            Some(user)
        );
        let expired = issued.plus_millis(HOUR_MS);
        assert_eq!(
            refused(keys.verify(&token, TokenKind::Access, expired)),
            "token expired"
        );
        assert_eq!(keys.verified_tokens(), 0, "dropped once seen expired");
        // And again, now decoded: the same answer.
        assert_eq!(
            refused(keys.verify(&token, TokenKind::Access, expired)),
            "token expired"
        );
        assert_eq!(keys.verified_tokens(), 0, "an expired token is never added");
    }

    #[test]
    fn forged_altered_and_wrong_kind_tokens_are_refused_and_never_remembered() {
        let keys = keys(b"a secret of the test, 32 bytes..");
        let user = UserId::from_random_bytes([4; 16]);
        let now = Timestamp(1_000 * HOUR_MS);
        let token = keys
            .issue(user, Role::User, TokenKind::Access, now)
            .expect("signed");
        assert!(keys.verify(&token, TokenKind::Access, now).is_ok());
        assert_eq!(keys.verified_tokens(), 1);

        // Signed with another secret: same claims, another signature.
        let foreign = self::keys(b"another secret, also 32 bytes...")
            .issue(user, Role::Admin, TokenKind::Access, now)
            .expect("signed");
        // The cached token's claims with the first character of its
        // signature changed, or its signature on another payload.
        let (payload_end, signature) = token.rsplit_once('.').expect("three parts");
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        let altered = format!("{payload_end}.{first}{}", &signature[1..]);
        let (header, _) = payload_end.split_once('.').expect("three parts");
        let swapped = format!(
            "{header}.{}.{}",
            foreign.split('.').nth(1).expect("claims"),
            token.rsplit('.').next().expect("signature")
        );
        let refresh = keys
            .issue(user, Role::User, TokenKind::Refresh, now)
            .expect("signed");
        for bad in [
            &foreign,
            &altered,
            &swapped,
            &refresh,
            &"not.a.token".to_string(),
        ] {
            for _ in 0..2 {
                refused(keys.verify(bad, TokenKind::Access, now));
            }
        }
        assert_eq!(
            refused(keys.verify(&refresh, TokenKind::Access, now)),
            "wrong kind of token"
        );
        // A valid refresh token verifies as one, and is not remembered: the
        // cache answers for access tokens only.
        assert!(keys.verify(&refresh, TokenKind::Refresh, now).is_ok());
        refused(keys.verify(&token, TokenKind::Refresh, now));
        assert_eq!(keys.verified_tokens(), 1, "only the valid access token");
    }

    #[test]
    fn the_cache_never_holds_more_than_its_bound() {
        let cache = VerifiedTokens::default();
        let known = VerifiedToken {
            user: UserId::from_random_bytes([5; 16]),
            exp: i64::MAX,
        };
        let now = Timestamp(0);
        for i in 0..(VERIFIED_TOKENS_MAX * 2 + 7) {
            cache.insert(&format!("token-{i}"), known);
            assert!(cache.len() <= VERIFIED_TOKENS_MAX);
        }
        // The newest is always there; the cleared ones are simply unknown
        // again (their next request verifies them in full).
        let newest = format!("token-{}", VERIFIED_TOKENS_MAX * 2 + 6);
        assert!(matches!(cache.get(&newest, now), Some(Ok(_))));
        assert!(cache.get("token-0", now).is_none());
    }

    #[test]
    fn many_users_tokens_stay_within_the_bound_through_verify() {
        let keys = keys(b"a secret of the test, 32 bytes..");
        let now = Timestamp(1_000 * HOUR_MS);
        for i in 0..(VERIFIED_TOKENS_MAX + 100) {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let user = UserId::from_random_bytes(bytes);
            let token = keys
                .issue(user, Role::User, TokenKind::Access, now)
                .expect("signed");
            assert_eq!(keys.verify(&token, TokenKind::Access, now).ok(), Some(user));
        }
        assert!(keys.verified_tokens() <= VERIFIED_TOKENS_MAX);
        assert!(keys.verified_tokens() > 0);
    }

    #[test]
    fn the_decoy_costs_what_a_real_hash_costs() {
        // A malformed or cheaper decoy would answer a login of an unknown
        // email faster, revealing that no account has it.
        let parsed = PasswordHash::new(Argon2Passwords::DECOY_HASH).expect("a well-formed hash");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = argon2::Params::try_from(&parsed).expect("argon2 parameters");
        let real = argon2::Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (real.m_cost(), real.t_cost(), real.p_cost())
        );
    }
}
