//! Accounts under injected crashes: the accounts actor's durable steps
//! (registrations, logins and their rotating refresh tokens, logouts, a
//! reused token ending its login, ending all of a user's logins, role changes
//! with who made them, password changes, mailed codes: issued, spent on a
//! password reset (which ends every login) or an e-mail verification, and
//! spent or unknown ones presented again) driven by a seeded workload, with
//! the crash points of `crash.rs` armed at random moments, a seeded part of
//! the unflushed tail kept at each kill, and a restart on the same store.
//!
//! Why a second workload: the main one (`workload.rs`) books seats for bare
//! user ids and never touches accounts, so none of its crashes lands on the
//! accounts log, its snapshots or its trims. This one does nothing else.
//!
//! The workload is sequential, so at a crash at most one operation is
//! unacknowledged. After each restart, `check` reads the recovered state and:
//! 1. settles that one operation: its effect is there entirely or not at
//!    all (a login that rotated is rotated; a role is the old or the new);
//!    whichever it is becomes the shadow's truth;
//! 2. requires every acknowledged change in the shadow, and nothing else:
//!    the same accounts with the same emails, roles and password hashes, the
//!    same live logins with the same live refresh tokens, the same live code
//!    hashes (only hashes are stored) and verified addresses;
//! 3. asks the role board (what requests check) for every account's role;
//! 4. probes by behaviour: a live login's refresh token still refreshes, an
//!    ended login's last token and a spent token are refused; a spent mailed
//!    code is refused.
//!
//! Seeds: `BOXOFFICE_SIM_ACCOUNT_SEEDS=N` (default [`DEFAULT_SEEDS`]) or
//! `A..B`; a failure prints its seed and the last operations, and
//! `BOXOFFICE_SIM_ACCOUNT_SEED=n` replays it.
//!
//! Not covered here: logins expiring (the clock stands still; expiry is
//! pruning, tested in `actors/src/accounts/sessions.rs`), and the move of
//! secrets out of the store (HTTP layer; `tests/process/secrets_at_rest.rs`
//! kills the binary around it).

use boxoffice_actors::accounts::email_codes::{code_hash, EmailCodes};
use boxoffice_actors::accounts::{
    AccountsState, CodePurpose, ExportAccounts, Passwords, TokenId, MAX_SESSIONS_PER_USER,
};
use boxoffice_actors::error::{EngineError, Missing};
use boxoffice_actors::{Clock, Role};
use boxoffice_engine::ids::UserId;
use rand::Rng;
use std::collections::BTreeMap;
use std::ops::{Range, RangeInclusive};
use std::time::Instant;

use super::crash::{choose_plan, CrashPlan, CRASH_POINT_NAMES};
use super::world::{Trace, World};

/// Seeds run by default: 300 took 7.6 s on 2 busy cores (debug build).
pub const DEFAULT_SEEDS: u64 = 1_000;
/// Account operations per seed.
const OPERATIONS_PER_SEED: RangeInclusive<usize> = 40..=140;
/// Planned crashes per seed (a final kill and check always follows).
const CRASHES_PER_SEED: RangeInclusive<usize> = 1..=3;
/// Distinct emails a seed registers under (some twice: 409 EmailTaken).
const EMAILS_PER_SEED: usize = 10;
/// A refresh token's life: longer than any seed's clock moves (it does not).
const REFRESH_TTL_MS: i64 = 14 * 86_400_000;
/// Operations an armed crash point may wait before the kill comes anyway.
const ARMED_PATIENCE_OPS: usize = 30;
/// Of 100 operations, about this many are about mailed codes.
const CODE_OPERATIONS_PERCENT: u32 = 20;

/// The hasher of a reset's new password: cheap, and its hash names the
/// password, so the shadow knows what a reset stored.
struct SimPasswords;

impl Passwords for SimPasswords {
    const DECOY_HASH: &'static str = "decoy";

    async fn hash(&self, password: String, _salt: [u8; 16]) -> Result<String, EngineError> {
        Ok(format!("reset:{password}"))
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, EngineError> {
        Ok(hash == format!("reset:{password}"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ShadowAccount {
    email: String,
    role: Role,
    password_hash: String,
}

#[derive(Clone, Debug)]
struct ShadowLogin {
    user: UserId,
    /// The live refresh token, when the login is live.
    live: Option<TokenId>,
    /// Every refresh token it had before the live one (spent), and the live
    /// one once the login ended.
    spent: Vec<TokenId>,
    /// Start order: the cap ends a user's oldest login first.
    started: u64,
}

/// The one operation a crash left unacknowledged: its effect may or may not be durable.
#[derive(Clone, Debug)]
enum Unsettled {
    Register {
        email: String,
    },
    Start {
        user: UserId,
    },
    Rotate {
        login: TokenId,
    },
    End {
        login: TokenId,
    },
    EndAll {
        user: UserId,
    },
    Role {
        user: UserId,
        from: Role,
        to: Role,
    },
    Password {
        user: UserId,
        from: String,
        to: String,
    },
    /// The code's text never reached the client: only its hash can be there.
    IssueCode {
        user: UserId,
        purpose: CodePurpose,
    },
    SpendCode {
        user: UserId,
        purpose: CodePurpose,
        text: String,
        /// A reset's new password hash.
        password_hash: Option<String>,
    },
}

/// What the engine acknowledged, as the clients were told.
#[derive(Default)]
struct Shadow {
    accounts: BTreeMap<UserId, ShadowAccount>,
    logins: BTreeMap<TokenId, ShadowLogin>,
    started: u64,
    unsettled: Option<Unsettled>,
    /// The live codes and verified addresses, as the acknowledged operations made them.
    codes: EmailCodes,
    /// Every code text ever issued, with its owner and purpose (the live
    /// ones are in `codes` by hash; the others are spent or dropped).
    issued: Vec<(String, UserId, CodePurpose)>,
}

impl Shadow {
    fn live_logins_of(&self, user: UserId) -> Vec<TokenId> {
        let mut live: Vec<(u64, TokenId)> = self
            .logins
            .iter()
            .filter(|(_, l)| l.user == user && l.live.is_some())
            .map(|(id, l)| (l.started, *id))
            .collect();
        live.sort_unstable();
        live.into_iter().map(|(_, id)| id).collect()
    }

    fn end(&mut self, login: TokenId) {
        if let Some(l) = self.logins.get_mut(&login) {
            if let Some(token) = l.live.take() {
                l.spent.push(token);
            }
        }
    }

    fn start(&mut self, user: UserId, login: TokenId, refresh: TokenId) {
        // The cap ends the oldest live logins first (`Sessions::start`).
        let live = self.live_logins_of(user);
        if live.len() >= MAX_SESSIONS_PER_USER {
            for oldest in &live[..=live.len() - MAX_SESSIONS_PER_USER] {
                self.end(*oldest);
            }
        }
        self.started += 1;
        self.logins.insert(
            login,
            ShadowLogin {
                user,
                live: Some(refresh),
                spent: Vec::new(),
                started: self.started,
            },
        );
    }

    fn admins(&self) -> usize {
        self.accounts
            .values()
            .filter(|a| a.role == Role::Admin)
            .count()
    }
}

#[derive(Default)]
struct AccountStats {
    operations: u64,
    restarts: u64,
    crashes_by_point: [u64; CRASH_POINT_NAMES.len()],
    unsettled_applied: u64,
    unsettled_not_applied: u64,
    accounts: u64,
    logins_ended: u64,
    rotations: u64,
    codes_issued: u64,
    codes_spent: u64,
    codes_refused: u64,
}

fn seeds_from_env() -> Range<u64> {
    super::seed_range(
        "BOXOFFICE_SIM_ACCOUNT_SEED",
        "BOXOFFICE_SIM_ACCOUNT_SEEDS",
        DEFAULT_SEEDS,
    )
}

fn role_from(n: u32) -> Role {
    match n % 3 {
        0 => Role::User,
        1 => Role::Staff,
        _ => Role::Admin,
    }
}

async fn export(w: &World) -> AccountsState {
    w.run(
        "reading the accounts",
        w.registry.accounts().query(ExportAccounts),
    )
    .await
    .expect("the accounts actor answers")
    .expect("the accounts actor is running")
}

/// Runs an account call: `Some(answer)` when acknowledged, `None` when the
/// store died under it (the shadow then records it as unsettled).
async fn call<T>(
    w: &World,
    what: &str,
    future: impl std::future::Future<Output = Result<T, EngineError>>,
) -> Option<Result<T, EngineError>> {
    match w.run(what, future).await {
        Some(Err(_)) if w.store.is_dead() => None,
        other => other,
    }
}

/// A mailed code's operation: issue one, or present one (live, spent,
/// dropped, or of the other purpose) for a reset or a verification.
async fn code_step(w: &mut World, s: &mut Shadow, stats: &mut AccountStats, users: &[UserId]) {
    let purpose = if w.rng.gen_range(0..2) == 0 {
        CodePurpose::PasswordReset
    } else {
        CodePurpose::VerifyEmail
    };
    if s.issued.is_empty() || w.rng.gen_range(0..5) < 2 {
        let user = users[w.rng.gen_range(0..users.len())];
        w.trace.push(format!("issue a {purpose:?} code to {user}"));
        let registry = w.registry.clone();
        let now = w.clock.now();
        let answer = call(w, "issue code", registry.issue_email_code(user, purpose)).await;
        let verified = s.codes.verified.contains(&user);
        match answer {
            None => s.unsettled = Some(Unsettled::IssueCode { user, purpose }),
            Some(Ok(None)) => assert!(
                purpose == CodePurpose::VerifyEmail && verified,
                "no {purpose:?} code for {user}"
            ),
            Some(Ok(Some((account, text)))) => {
                assert_eq!(account.user_id, user);
                assert!(
                    !(purpose == CodePurpose::VerifyEmail && verified),
                    "a verification code for a verified address"
                );
                stats.codes_issued += 1;
                s.codes.issue(
                    code_hash(&text),
                    boxoffice_actors::accounts::email_codes::EmailCode {
                        user_id: user,
                        purpose,
                        expires_at: now.plus_millis(boxoffice_actors::accounts::CODE_TTL_MS),
                    },
                    now,
                );
                s.issued.push((text, user, purpose));
            }
            Some(Err(err)) => panic!("issuing a code to {user}: {err}"),
        }
        return;
    }
    let (text, user, issued_for) = s.issued[w.rng.gen_range(0..s.issued.len())].clone();
    // Mostly as issued; sometimes presented for the other purpose (refused).
    let purpose = if w.rng.gen_range(0..5) == 0 {
        purpose
    } else {
        issued_for
    };
    let live = s
        .codes
        .live
        .get(&code_hash(&text))
        .is_some_and(|c| c.purpose == purpose);
    w.trace.push(format!(
        "spend a {issued_for:?} code of {user} as {purpose:?} ({})",
        if live { "live" } else { "not live" }
    ));
    let registry = w.registry.clone();
    let new_password = format!("a-new-passphrase-{}", w.rng.gen::<u32>());
    let answer = match purpose {
        CodePurpose::PasswordReset => {
            call(
                w,
                "reset password",
                registry.reset_password(&text, new_password.clone(), &SimPasswords),
            )
            .await
        }
        CodePurpose::VerifyEmail => call(w, "verify email", registry.verify_email(&text)).await,
    };
    let password_hash =
        (purpose == CodePurpose::PasswordReset).then(|| format!("reset:{new_password}"));
    match answer {
        None if live => {
            s.unsettled = Some(Unsettled::SpendCode {
                user,
                purpose,
                text,
                password_hash,
            })
        }
        None => {}
        Some(Ok(account)) => {
            assert!(live, "a {purpose:?} code that is not live was accepted");
            assert_eq!(account.user_id, user, "a code spent for another account");
            stats.codes_spent += 1;
            spend(s, user, purpose, &text, password_hash);
        }
        Some(Err(EngineError::InvalidCode)) => {
            assert!(!live, "a live {purpose:?} code was refused");
            stats.codes_refused += 1;
        }
        Some(Err(err)) => panic!("spending a code of {user}: {err}"),
    }
}

/// A code spent: the shadow takes its effect.
fn spend(s: &mut Shadow, user: UserId, purpose: CodePurpose, text: &str, hash: Option<String>) {
    s.codes.live.remove(&code_hash(text));
    match purpose {
        CodePurpose::PasswordReset => {
            let hash = hash.expect("a reset has a new password");
            s.accounts.get_mut(&user).expect("shadowed").password_hash = hash;
            for login in s.live_logins_of(user) {
                s.end(login);
            }
        }
        CodePurpose::VerifyEmail => {
            s.codes.verified.insert(user);
        }
    }
}

async fn step(w: &mut World, s: &mut Shadow, stats: &mut AccountStats) {
    let users: Vec<UserId> = s.accounts.keys().copied().collect();
    if !users.is_empty() && w.rng.gen_range(0..100) < CODE_OPERATIONS_PERCENT {
        code_step(w, s, stats, &users).await;
        return;
    }
    let choice = if users.is_empty() {
        0
    } else {
        w.rng.gen_range(0..100)
    };
    match choice {
        0..=9 => {
            let email = format!("fan{}@sim.test", w.rng.gen_range(0..EMAILS_PER_SEED));
            let role = role_from(w.rng.gen());
            let hash = format!("hash-{}", w.rng.gen::<u32>());
            w.trace.push(format!("register {email} as {role:?}"));
            let taken = s.accounts.values().any(|a| a.email == email);
            let registry = w.registry.clone();
            let answer = call(
                w,
                "register",
                registry.register(email.clone(), "Fan".into(), None, hash.clone(), role),
            )
            .await;
            match answer {
                None => s.unsettled = Some(Unsettled::Register { email }),
                Some(Ok(account)) => {
                    assert!(!taken, "{email} registered twice");
                    s.accounts.insert(
                        account.user_id,
                        ShadowAccount {
                            email,
                            role,
                            password_hash: hash,
                        },
                    );
                }
                Some(Err(EngineError::EmailTaken)) => assert!(taken, "{email} refused as taken"),
                Some(Err(err)) => panic!("register {email}: {err}"),
            }
        }
        10..=34 => {
            let user = users[w.rng.gen_range(0..users.len())];
            w.trace.push(format!("login {user}"));
            let registry = w.registry.clone();
            match call(w, "login", registry.start_session(user, REFRESH_TTL_MS)).await {
                None => s.unsettled = Some(Unsettled::Start { user }),
                Some(Ok(grant)) => s.start(user, grant.session_id, grant.refresh_id),
                Some(Err(err)) => panic!("login of {user}: {err}"),
            }
        }
        35..=59 => {
            let Some((login, user, token, live)) = pick_token(w, s) else {
                return;
            };
            w.trace.push(format!(
                "refresh {login} ({})",
                if live { "live" } else { "spent" }
            ));
            let registry = w.registry.clone();
            let answer = call(
                w,
                "refresh",
                registry.refresh_session(user, login, token, REFRESH_TTL_MS),
            )
            .await;
            match (answer, live) {
                (None, true) => s.unsettled = Some(Unsettled::Rotate { login }),
                (None, false) => s.unsettled = Some(Unsettled::End { login }),
                (Some(Ok((_, grant))), true) => {
                    assert_eq!(grant.session_id, login);
                    stats.rotations += 1;
                    let l = s.logins.get_mut(&login).expect("shadowed");
                    l.spent.push(token);
                    l.live = Some(grant.refresh_id);
                }
                (Some(Err(EngineError::InvalidRefreshToken)), false) => {
                    // A spent token of a live login ends that login.
                    if s.logins[&login].live.is_some() {
                        stats.logins_ended += 1;
                    }
                    s.end(login);
                }
                (Some(other), live) => panic!(
                    "refresh of {login} with a {} token answered {:?}",
                    if live { "live" } else { "spent" },
                    other.map(|_| ())
                ),
            }
        }
        60..=69 => {
            let live: Vec<(TokenId, UserId, TokenId)> = s
                .logins
                .iter()
                .filter_map(|(id, l)| l.live.map(|t| (*id, l.user, t)))
                .collect();
            let Some(&(login, user, token)) = live.get(w.rng.gen_range(0..live.len().max(1)))
            else {
                return;
            };
            w.trace.push(format!("logout {login}"));
            let registry = w.registry.clone();
            match call(w, "logout", registry.end_session(user, login, token)).await {
                None => s.unsettled = Some(Unsettled::End { login }),
                Some(Ok(())) => {
                    stats.logins_ended += 1;
                    s.end(login);
                }
                Some(Err(err)) => panic!("logout of live login {login}: {err}"),
            }
        }
        70..=74 => {
            let user = users[w.rng.gen_range(0..users.len())];
            w.trace.push(format!("end all logins of {user}"));
            let live = s.live_logins_of(user);
            let registry = w.registry.clone();
            match call(w, "end all", registry.end_all_sessions(user)).await {
                None => s.unsettled = Some(Unsettled::EndAll { user }),
                Some(Ok(ended)) => {
                    assert_eq!(ended, live.len(), "logins of {user} ended");
                    stats.logins_ended += live.len() as u64;
                    for login in live {
                        s.end(login);
                    }
                }
                Some(Err(err)) => panic!("ending the logins of {user}: {err}"),
            }
        }
        75..=89 => {
            let user = users[w.rng.gen_range(0..users.len())];
            let by = users[w.rng.gen_range(0..users.len())];
            let to = role_from(w.rng.gen());
            let from = s.accounts[&user].role;
            w.trace.push(format!("role of {user}: {from:?} -> {to:?}"));
            let last_admin = from == Role::Admin && to != Role::Admin && s.admins() <= 1;
            let registry = w.registry.clone();
            match call(w, "set role", registry.set_role(user, to, by)).await {
                None => s.unsettled = Some(Unsettled::Role { user, from, to }),
                Some(Ok(account)) => {
                    assert!(!last_admin, "the last admin {user} was demoted");
                    assert_eq!(account.role, to);
                    s.accounts.get_mut(&user).expect("shadowed").role = to;
                }
                Some(Err(EngineError::LastAdmin)) => {
                    assert!(last_admin, "{user} refused as the last admin")
                }
                Some(Err(err)) => panic!("role of {user}: {err}"),
            }
        }
        90..=96 => {
            let user = users[w.rng.gen_range(0..users.len())];
            let to = format!("hash-{}", w.rng.gen::<u32>());
            let from = s.accounts[&user].password_hash.clone();
            w.trace.push(format!("password of {user}"));
            let registry = w.registry.clone();
            match call(w, "set password", registry.set_password(user, to.clone())).await {
                None => s.unsettled = Some(Unsettled::Password { user, from, to }),
                Some(Ok(_)) => s.accounts.get_mut(&user).expect("shadowed").password_hash = to,
                Some(Err(err)) => panic!("password of {user}: {err}"),
            }
        }
        _ => {
            // Someone nobody registered: refused, nothing logged.
            let ghost = UserId::from_random_bytes(w.rng.gen());
            w.trace.push(format!("role of unknown {ghost}"));
            let registry = w.registry.clone();
            match call(w, "set role", registry.set_role(ghost, Role::Admin, ghost)).await {
                None | Some(Err(EngineError::NotFound(Missing::User))) => {}
                Some(other) => panic!("role of an unknown user answered {:?}", other.map(|_| ())),
            }
        }
    }
}

/// A refresh token to present: usually a live login's live one; sometimes a
/// spent one of a live login (reuse: ends it) or of an ended one (refused).
fn pick_token(w: &mut World, s: &Shadow) -> Option<(TokenId, UserId, TokenId, bool)> {
    let logins: Vec<(&TokenId, &ShadowLogin)> = s.logins.iter().collect();
    if logins.is_empty() {
        return None;
    }
    let (id, login) = logins[w.rng.gen_range(0..logins.len())];
    match login.live {
        Some(live) if login.spent.is_empty() || w.rng.gen_range(0..5) > 0 => {
            Some((*id, login.user, live, true))
        }
        _ => {
            let spent = *login
                .spent
                .get(w.rng.gen_range(0..login.spent.len().max(1)))?;
            Some((*id, login.user, spent, false))
        }
    }
}

/// Step 1 of the module's checks: the one unacknowledged operation's effect
/// is wholly there or wholly absent, and the shadow takes what is there.
fn settle(s: &mut Shadow, state: &AccountsState, stats: &mut AccountStats) {
    let Some(unsettled) = s.unsettled.take() else {
        return;
    };
    let applied = match &unsettled {
        Unsettled::Register { email } => {
            match state.accounts.values().find(|a| &a.email == email) {
                Some(account) if !s.accounts.contains_key(&account.user_id) => {
                    s.accounts.insert(
                        account.user_id,
                        ShadowAccount {
                            email: email.clone(),
                            role: account.role,
                            password_hash: account.password_hash.clone(),
                        },
                    );
                    true
                }
                _ => false,
            }
        }
        Unsettled::Start { user } => {
            let new: Vec<_> = state
                .sessions
                .of_user(*user)
                .filter(|session| !s.logins.contains_key(&session.session_id))
                .map(|session| (session.session_id, session.refresh_id))
                .collect();
            assert!(new.len() <= 1, "one unacknowledged login left {new:?}");
            match new.first() {
                Some(&(login, refresh)) => {
                    s.start(*user, login, refresh);
                    true
                }
                None => false,
            }
        }
        Unsettled::Rotate { login } => {
            let live = s.logins[login].live.expect("rotated only when live");
            let now = state
                .sessions
                .get(*login)
                .unwrap_or_else(|| panic!("an unacknowledged rotation ended login {login}"));
            if now.refresh_id == live {
                false
            } else {
                let l = s.logins.get_mut(login).expect("shadowed");
                l.spent.push(live);
                l.live = Some(now.refresh_id);
                true
            }
        }
        Unsettled::End { login } => {
            if s.logins[login].live.is_none() || state.sessions.get(*login).is_some() {
                false
            } else {
                s.end(*login);
                true
            }
        }
        Unsettled::EndAll { user } => {
            // One batch, so all or none.
            let live = s.live_logins_of(*user);
            let gone: Vec<_> = live
                .iter()
                .filter(|login| state.sessions.get(**login).is_none())
                .copied()
                .collect();
            assert!(
                gone.is_empty() || gone.len() == live.len(),
                "an unacknowledged end-all ended {} of {} logins",
                gone.len(),
                live.len()
            );
            for login in &gone {
                s.end(*login);
            }
            !gone.is_empty()
        }
        Unsettled::Role { user, from, to } => {
            let now = state.accounts[user].role;
            assert!(now == *from || now == *to, "role of {user} is {now:?}");
            s.accounts.get_mut(user).expect("shadowed").role = now;
            now != *from
        }
        Unsettled::Password { user, from, to } => {
            let now = &state.accounts[user].password_hash;
            assert!(now == from || now == to, "password of {user} is neither");
            s.accounts.get_mut(user).expect("shadowed").password_hash = now.clone();
            now != from
        }
        Unsettled::IssueCode { user, purpose } => {
            let new: Vec<_> = state
                .email_codes
                .live
                .iter()
                .filter(|(hash, code)| {
                    code.purpose == *purpose && !s.codes.live.contains_key(*hash)
                })
                .map(|(hash, code)| (*hash, code.clone()))
                .collect();
            assert!(
                new.len() <= 1,
                "one unacknowledged code issue left {}",
                new.len()
            );
            match new.first() {
                Some((hash, code)) => {
                    assert_eq!(
                        code.user_id, *user,
                        "an unacknowledged code for another account"
                    );
                    let at = code
                        .expires_at
                        .plus_millis(-boxoffice_actors::accounts::CODE_TTL_MS);
                    s.codes.issue(*hash, code.clone(), at);
                    true
                }
                None => false,
            }
        }
        Unsettled::SpendCode {
            user,
            purpose,
            text,
            password_hash,
        } => {
            let spent = !state.email_codes.live.contains_key(&code_hash(text));
            if spent {
                if let Some(hash) = password_hash {
                    assert_eq!(
                        &state.accounts[user].password_hash, hash,
                        "a reset spent its code without its password"
                    );
                }
                spend(s, *user, *purpose, text, password_hash.clone());
            }
            spent
        }
    };
    if applied {
        stats.unsettled_applied += 1;
    } else {
        stats.unsettled_not_applied += 1;
    }
}

/// Steps 2-4 of the module's checks.
async fn check(w: &mut World, s: &mut Shadow, stats: &mut AccountStats) {
    let state = export(w).await;
    state
        .check_invariants()
        .unwrap_or_else(|err| panic!("accounts state after a restart: {err}"));
    settle(s, &state, stats);
    let recovered: BTreeMap<UserId, ShadowAccount> = state
        .accounts
        .values()
        .map(|a| {
            (
                a.user_id,
                ShadowAccount {
                    email: a.email.clone(),
                    role: a.role,
                    password_hash: a.password_hash.clone(),
                },
            )
        })
        .collect();
    assert_eq!(recovered, s.accounts, "accounts after a restart");
    let mut live_recovered: BTreeMap<TokenId, (UserId, TokenId)> = BTreeMap::new();
    for user in state.sessions.users() {
        for session in state.sessions.of_user(user) {
            live_recovered.insert(session.session_id, (session.user_id, session.refresh_id));
        }
    }
    let live_shadow: BTreeMap<TokenId, (UserId, TokenId)> = s
        .logins
        .iter()
        .filter_map(|(id, l)| l.live.map(|t| (*id, (l.user, t))))
        .collect();
    assert_eq!(live_recovered, live_shadow, "live logins after a restart");
    assert_eq!(
        state.email_codes, s.codes,
        "live mailed codes and verified addresses after a restart"
    );
    for account in state.accounts.values() {
        assert_eq!(
            account.email_verified,
            s.codes.verified.contains(&account.user_id),
            "{}'s verified flag after a restart",
            account.user_id
        );
    }
    // By behaviour: a code no longer live is refused (and changes nothing).
    let dead: Vec<(String, CodePurpose)> = s
        .issued
        .iter()
        .filter(|(text, _, _)| !s.codes.live.contains_key(&code_hash(text)))
        .map(|(text, _, purpose)| (text.clone(), *purpose))
        .collect();
    if let Some((text, purpose)) = dead.get(w.rng.gen_range(0..dead.len().max(1))).cloned() {
        let registry = w.registry.clone();
        let answer = match purpose {
            CodePurpose::PasswordReset => w
                .run(
                    "probe spent code",
                    registry.reset_password(&text, "a-probe-passphrase-1".into(), &SimPasswords),
                )
                .await
                .map(|a| a.map(|_| ())),
            CodePurpose::VerifyEmail => w
                .run("probe spent code", registry.verify_email(&text))
                .await
                .map(|a| a.map(|_| ())),
        }
        .expect("the store is alive after a restart");
        assert!(
            matches!(answer, Err(EngineError::InvalidCode)),
            "a {purpose:?} code no longer live answered {answer:?} after a restart"
        );
    }
    for (user, account) in &s.accounts {
        assert_eq!(
            w.registry.role_of(*user),
            Some(account.role),
            "the role board after a restart"
        );
    }
    // By behaviour: a live login refreshes; an ended login's tokens do not.
    let live: Vec<(TokenId, UserId, TokenId)> = live_shadow
        .iter()
        .map(|(id, (user, token))| (*id, *user, *token))
        .collect();
    if let Some(&(login, user, token)) = live.get(w.rng.gen_range(0..live.len().max(1))) {
        let registry = w.registry.clone();
        let answer = w
            .run(
                "probe refresh",
                registry.refresh_session(user, login, token, REFRESH_TTL_MS),
            )
            .await
            .expect("the store is alive after a restart");
        let (_, grant) = answer
            .unwrap_or_else(|err| panic!("live login {login} refused after a restart: {err}"));
        let l = s.logins.get_mut(&login).expect("shadowed");
        l.spent.push(token);
        l.live = Some(grant.refresh_id);
    }
    let ended: Vec<(TokenId, UserId, TokenId)> = s
        .logins
        .iter()
        .filter(|(_, l)| l.live.is_none())
        .filter_map(|(id, l)| l.spent.last().map(|t| (*id, l.user, *t)))
        .collect();
    if let Some(&(login, user, token)) = ended.get(w.rng.gen_range(0..ended.len().max(1))) {
        let registry = w.registry.clone();
        let answer = w
            .run(
                "probe ended",
                registry.refresh_session(user, login, token, REFRESH_TTL_MS),
            )
            .await
            .expect("the store is alive after a restart");
        assert!(
            matches!(answer, Err(EngineError::InvalidRefreshToken)),
            "an ended login's token answered {:?} after a restart",
            answer.map(|_| ())
        );
    }
}

async fn restart_and_check(w: &mut World, s: &mut Shadow, stats: &mut AccountStats) {
    let point = w.armed.unwrap_or(super::crash::CrashPoint::Now);
    stats.crashes_by_point[point.kind()] += 1;
    w.kill_and_restart().await;
    stats.restarts += 1;
    check(w, s, stats).await;
}

async fn run_seed(seed: u64, trace: Trace) -> AccountStats {
    let mut w = World::create(seed, trace).await;
    let mut s = Shadow::default();
    let mut stats = AccountStats::default();
    let operations = w.rng.gen_range(OPERATIONS_PER_SEED);
    let crashes = w.rng.gen_range(CRASHES_PER_SEED);
    let mut crash_at: Vec<usize> = (0..crashes)
        .map(|_| w.rng.gen_range(1..operations))
        .collect();
    crash_at.sort_unstable();
    let mut armed_at: Option<usize> = None;
    for op in 0..operations {
        while crash_at.first().is_some_and(|&at| at <= op) {
            crash_at.remove(0);
            if armed_at.is_none() {
                // Payments are the main workload's; here every plan is a plain point.
                let point = match choose_plan(&mut w.rng) {
                    CrashPlan::Point(point) | CrashPlan::DuringPayment(point) => point,
                };
                w.arm(point);
                armed_at = Some(op);
            }
        }
        w.trace.push(format!("#{op}"));
        step(&mut w, &mut s, &mut stats).await;
        // The actor may still be snapshotting after its answer: let it finish.
        if !w.store.is_dead() {
            let _ = w
                .run("quiesce", w.registry.accounts().query(ExportAccounts))
                .await;
        }
        stats.operations += 1;
        let patience_over = armed_at.is_some_and(|at| op - at >= ARMED_PATIENCE_OPS);
        if w.store.is_dead() || patience_over {
            restart_and_check(&mut w, &mut s, &mut stats).await;
            armed_at = None;
        }
    }
    restart_and_check(&mut w, &mut s, &mut stats).await;
    w.registry.shutdown();
    stats.accounts = s.accounts.len() as u64;
    stats
}

#[actix_rt::test]
async fn simulated_crashes_lose_no_account_change() {
    let seeds = seeds_from_env();
    let started = Instant::now();
    let mut total = AccountStats::default();
    super::run_seeds(
        "account simulation",
        seeds.clone(),
        "BOXOFFICE_SIM_ACCOUNT_SEED={seed} cargo test --test engine simulated_crashes_lose_no_account_change -- --nocapture",
        run_seed,
        |stats| {
            total.operations += stats.operations;
            total.restarts += stats.restarts;
            total.unsettled_applied += stats.unsettled_applied;
            total.unsettled_not_applied += stats.unsettled_not_applied;
            total.accounts += stats.accounts;
            total.logins_ended += stats.logins_ended;
            total.rotations += stats.rotations;
            total.codes_issued += stats.codes_issued;
            total.codes_spent += stats.codes_spent;
            total.codes_refused += stats.codes_refused;
            for (sum, n) in total
                .crashes_by_point
                .iter_mut()
                .zip(stats.crashes_by_point)
            {
                *sum += n;
            }
        },
    )
    .await;
    let crashes: Vec<String> = CRASH_POINT_NAMES
        .iter()
        .zip(total.crashes_by_point)
        .map(|(name, n)| format!("{name}: {n}"))
        .collect();
    println!(
        "account simulation: {} seeds from {} in {:.1} s; {} operations, {} accounts, {} refresh rotations, {} logins ended; \
         {} mailed codes issued, {} spent, {} refused; {} restarts ({}); unacknowledged at a crash: {} found applied, {} not",
        seeds.end - seeds.start,
        seeds.start,
        started.elapsed().as_secs_f64(),
        total.operations,
        total.accounts,
        total.rotations,
        total.logins_ended,
        total.codes_issued,
        total.codes_spent,
        total.codes_refused,
        total.restarts,
        crashes.join(", "),
        total.unsettled_applied,
        total.unsettled_not_applied,
    );
}
