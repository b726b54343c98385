//! Accounts and catalogue through the registry: registration and look-ups,
//! roles, `ensure_account`, the login throttle, registration and login as one
//! operation each (with a stand-in password hasher); venue and concert creation
//! with every validation rule; the schedules a concert creates (layout,
//! prices, section order, queue gating); and all of it surviving a restart on
//! the same sled directory.

use boxoffice_actors::accounts::{
    ExportAccounts, LoginSource, LOGIN_FAILURE_WINDOW_MS, MAX_ACCOUNTS_PAGE, MAX_LOGIN_FAILURES,
};
use boxoffice_actors::catalog_actor::ExportCatalog;
use boxoffice_actors::queue_actor::ExportQueueState;
use boxoffice_actors::schedule_actor::ExportState;
use boxoffice_actors::{
    EngineError, ManualClock, Missing, NewConcert, NewSchedule, Passwords, PriceGrade, Registry,
    Role, VenueSection,
};
use boxoffice_engine::ids::*;
use boxoffice_engine::layout::{RowLayout, SectionLayout};
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::{Money, Timestamp};
use std::sync::{Arc, Mutex};
use test_support::engine::*;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
const HOUR_MS: i64 = 3_600_000;

async fn engine(seed: u64) -> (Arc<Registry>, ManualClock) {
    let clock = ManualClock::new(T0);
    let registry = start(memory_store(), &clock, seed).await;
    (registry, clock)
}

async fn register(
    registry: &Registry,
    email: &str,
) -> Result<boxoffice_actors::Account, EngineError> {
    registry
        .register(
            email.to_string(),
            "Kim Minji".to_string(),
            Some("010-1234-5678".to_string()),
            HASH.to_string(),
            Role::User,
        )
        .await
}

fn rows(names: &[&str], seats: u32) -> Vec<RowLayout> {
    names
        .iter()
        .map(|row| RowLayout {
            row: row.to_string(),
            seats,
        })
        .collect()
}

fn section(id: &str, row_names: &[&str], seats: u32) -> VenueSection {
    VenueSection {
        section_id: id.to_string(),
        name: format!("Section {id}"),
        rows: rows(row_names, seats),
    }
}

/// VIP (2 x 5), R (3 x 10), S (1 x 20), BALC (1 x 4): 64 seats, best first.
fn hall_sections() -> Vec<VenueSection> {
    vec![
        section("VIP", &["1", "2"], 5),
        section("R", &["A", "B", "C"], 10),
        section("S", &["1"], 20),
        section("BALC", &["1"], 4),
    ]
}

async fn hall(registry: &Registry) -> boxoffice_actors::Venue {
    registry
        .create_venue(
            "Olympic Hall".to_string(),
            "424 Olympic-ro, Songpa-gu, Seoul".to_string(),
            hall_sections(),
        )
        .await
        .expect("venue")
}

fn grade(name: &str, price: i64, sections: &[&str]) -> PriceGrade {
    PriceGrade {
        grade: name.to_string(),
        price: Money(price),
        section_ids: sections.iter().map(|s| s.to_string()).collect(),
    }
}

fn schedule_at(day: i64) -> NewSchedule {
    let starts = T0.plus_millis(day * 24 * HOUR_MS);
    NewSchedule {
        starts_at: starts,
        ends_at: starts.plus_millis(2 * HOUR_MS),
        booking_opens_at: T0,
        booking_closes_at: starts,
        queue: None,
    }
}

fn gated_queue() -> QueueConfig {
    QueueConfig {
        enabled: true,
        batch_size: 10,
        interval_ms: 1_000,
        max_active: 100,
        active_ms: 600_000,
        ..QueueConfig::default()
    }
}

/// Grades out of venue order (S before VIP) and BALC left unsold, so the
/// tests can see that schedules follow the venue's order and skip ungraded sections.
fn concert_for(venue: VenueId) -> NewConcert {
    NewConcert {
        title: "Spring Symphony".to_string(),
        description: "An evening of Brahms.\nTwo parts.".to_string(),
        category: "CLASSICAL".to_string(),
        venue_id: venue,
        price_grades: vec![
            grade("S", 50_000, &["S"]),
            grade("VIP", 150_000, &["VIP"]),
            grade("R", 100_000, &["R"]),
        ],
        schedules: vec![
            schedule_at(10),
            NewSchedule {
                queue: Some(gated_queue()),
                ..schedule_at(11)
            },
        ],
        max_seats_per_user: 4,
        hold_seconds: 300,
        queue: None,
    }
}

fn assert_validation<T: std::fmt::Debug>(result: Result<T, EngineError>, what: &str) {
    match result {
        Err(EngineError::Validation(_)) => {}
        other => panic!("{what}: expected a validation error, got {other:?}"),
    }
}

#[actix_rt::test]
async fn registration_normalizes_emails_and_refuses_duplicates_in_any_case() {
    let (registry, _clock) = engine(1).await;
    let kim = register(&registry, "  Kim@Example.COM ")
        .await
        .expect("register");
    assert_eq!(kim.email, "kim@example.com");
    assert_eq!(kim.role, Role::User);
    assert_eq!(kim.created_at, T0);
    assert_eq!(kim.password_hash, HASH);
    assert_eq!(kim.phone_number.as_deref(), Some("010-1234-5678"));

    assert_eq!(
        register(&registry, "KIM@example.com").await,
        Err(EngineError::EmailTaken)
    );
    assert_eq!(
        registry.account_by_email("kim@EXAMPLE.com ").await,
        Ok(Some(kim.clone()))
    );
    assert_eq!(registry.account_by_email("lee@example.com").await, Ok(None));
    assert_eq!(registry.account(kim.user_id).await, Ok(Some(kim.clone())));
    assert_eq!(registry.account(user(99)).await, Ok(None));

    assert_validation(register(&registry, "   ").await, "blank email");
    assert_validation(
        register(&registry, "a b@example.com").await,
        "email with a space",
    );
    assert_validation(
        registry
            .register(
                "x@example.com".into(),
                " ".into(),
                None,
                HASH.into(),
                Role::User,
            )
            .await,
        "blank name",
    );
    let (page, total) = registry.list_accounts(0, 10).await.expect("list");
    assert_eq!((page, total), (vec![kim], 1), "refusals created nothing");
}

#[actix_rt::test]
async fn roles_and_passwords_change_and_accounts_list_oldest_first() {
    let (registry, clock) = engine(2).await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(
            register(&registry, &format!("u{n}@example.com"))
                .await
                .expect("register"),
        );
        clock.advance_ms(1_000);
    }
    let staff = registry
        .set_role(created[1].user_id, Role::Staff, user(1))
        .await
        .expect("set role");
    assert_eq!(staff.role, Role::Staff);
    assert_eq!(
        registry.account(staff.user_id).await,
        Ok(Some(staff.clone()))
    );
    // Setting the same role again is a no-op that still answers with the account.
    assert_eq!(
        registry.set_role(staff.user_id, Role::Staff, user(1)).await,
        Ok(staff.clone())
    );
    assert_eq!(
        registry.set_role(user(77), Role::Admin, user(1)).await,
        Err(EngineError::NotFound(Missing::User))
    );
    let rehashed = registry
        .set_password(created[2].user_id, "$argon2id$new".into())
        .await
        .expect("set password");
    assert_eq!(rehashed.password_hash, "$argon2id$new");
    assert_eq!(
        registry.set_password(user(78), "$argon2id$x".into()).await,
        Err(EngineError::NotFound(Missing::User))
    );

    let (page, total) = registry.list_accounts(1, 3).await.expect("list");
    assert_eq!(total, 5);
    let emails: Vec<_> = page.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(
        emails,
        ["u1@example.com", "u2@example.com", "u3@example.com"]
    );
    assert_eq!(page[0].role, Role::Staff);
    let (all, _) = registry.list_accounts(0, usize::MAX).await.expect("list");
    assert_eq!(all.len(), 5.min(MAX_ACCOUNTS_PAGE));
    assert!(all.windows(2).all(|w| w[0].created_at < w[1].created_at));
}

#[actix_rt::test]
async fn ensure_account_creates_then_updates_and_is_idempotent() {
    let (registry, _clock) = engine(3).await;
    let admin = registry
        .ensure_account(
            "Admin@Boxoffice.local".into(),
            "Admin".into(),
            HASH.into(),
            Role::Admin,
        )
        .await
        .expect("create admin");
    assert_eq!(admin.email, "admin@boxoffice.local");
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(admin.phone_number, None);

    let again = registry
        .ensure_account(
            "admin@boxoffice.local".into(),
            "Admin".into(),
            HASH.into(),
            Role::Admin,
        )
        .await
        .expect("ensure again");
    assert_eq!(again, admin);
    // The only ADMIN cannot be demoted; with a second one, it can.
    assert_eq!(
        registry.set_role(admin.user_id, Role::User, user(1)).await,
        Err(EngineError::LastAdmin)
    );
    registry
        .ensure_account(
            "second@boxoffice.local".into(),
            "Second".into(),
            HASH.into(),
            Role::Admin,
        )
        .await
        .expect("a second admin");
    let before = registry
        .accounts()
        .query(ExportAccounts)
        .await
        .expect("export");

    // Demoted by someone, and the password changed in the configuration: both restored.
    registry
        .set_role(admin.user_id, Role::User, user(1))
        .await
        .expect("demote");
    let restored = registry
        .ensure_account(
            "ADMIN@boxoffice.local".into(),
            "Other name".into(),
            "$argon2id$v2".into(),
            Role::Admin,
        )
        .await
        .expect("restore");
    assert_eq!(restored.user_id, admin.user_id);
    assert_eq!(restored.role, Role::Admin);
    assert_eq!(restored.password_hash, "$argon2id$v2");
    assert_eq!(
        restored.name, "Admin",
        "ensure_account keeps the existing name"
    );
    let after = registry
        .accounts()
        .query(ExportAccounts)
        .await
        .expect("export");
    assert_eq!(after.accounts.len(), before.accounts.len());
    assert_eq!(registry.list_accounts(0, 10).await.expect("list").1, 2);
}

/// Two addresses: an attacker's and the owner's.
const ATTACKER: LoginSource = LoginSource::V4(std::net::Ipv4Addr::new(203, 0, 113, 66));
const OWNER: LoginSource = LoginSource::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

#[actix_rt::test]
async fn logins_are_throttled_per_address_after_ten_failures_and_reset_on_success() {
    let (registry, clock) = engine(4).await;
    register(&registry, "kim@example.com")
        .await
        .expect("register");
    for _ in 0..MAX_LOGIN_FAILURES - 1 {
        registry
            .login_allowed("kim@example.com", ATTACKER)
            .await
            .expect("allowed");
        registry
            .login_failed("Kim@Example.com", ATTACKER)
            .await
            .expect("record");
        clock.advance_ms(1_000);
    }
    assert_eq!(
        registry.login_allowed("kim@example.com", ATTACKER).await,
        Ok(())
    );
    registry
        .login_failed("kim@example.com", ATTACKER)
        .await
        .expect("record");
    match registry.login_allowed(" KIM@example.com", ATTACKER).await {
        Err(EngineError::RateLimited { retry_after_secs }) => {
            // The first failure was 9 s ago: it leaves the 15-minute window in 891 s.
            assert_eq!(retry_after_secs, 15 * 60 - 9);
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    // The owner's address is not refused; nor is another account.
    assert_eq!(
        registry.login_allowed("kim@example.com", OWNER).await,
        Ok(())
    );
    assert_eq!(
        registry.login_allowed("lee@example.com", ATTACKER).await,
        Ok(())
    );
    // An unknown email is throttled just the same.
    for _ in 0..MAX_LOGIN_FAILURES {
        registry
            .login_failed("nobody@example.com", ATTACKER)
            .await
            .expect("record");
    }
    assert!(matches!(
        registry.login_allowed("nobody@example.com", ATTACKER).await,
        Err(EngineError::RateLimited { .. })
    ));

    // The refusal lifts when the oldest failure leaves the window...
    clock.advance_ms(LOGIN_FAILURE_WINDOW_MS - 9_000);
    assert_eq!(
        registry.login_allowed("kim@example.com", ATTACKER).await,
        Ok(())
    );
    // ...and a success forgets that address's failures at once.
    registry
        .login_failed("kim@example.com", ATTACKER)
        .await
        .expect("record");
    assert!(registry
        .login_allowed("kim@example.com", ATTACKER)
        .await
        .is_err());
    registry
        .login_succeeded("kim@example.com", ATTACKER)
        .await
        .expect("clear");
    assert_eq!(
        registry.login_allowed("kim@example.com", ATTACKER).await,
        Ok(())
    );
}

/// A cheap stand-in for argon2 that records the hashes it verifies against:
/// the login rule is under test here, not the hashing.
#[derive(Default)]
struct PlainPasswords {
    hashed: Mutex<Vec<[u8; 16]>>,
    verified: Mutex<Vec<String>>,
}

impl Passwords for PlainPasswords {
    const DECOY_HASH: &'static str = "decoy";

    async fn hash(&self, password: String, salt: [u8; 16]) -> Result<String, EngineError> {
        self.hashed.lock().expect("lock").push(salt);
        Ok(format!("plain:{password}"))
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, EngineError> {
        self.verified.lock().expect("lock").push(hash.clone());
        // Takes time, as argon2 does: without turns, concurrent logins of
        // one account would all be past the throttle's check by now.
        actix_rt::time::sleep(std::time::Duration::from_millis(2)).await;
        Ok(hash == format!("plain:{password}"))
    }
}

impl PlainPasswords {
    fn verifications(&self) -> usize {
        self.verified.lock().expect("lock").len()
    }
}

#[actix_rt::test]
async fn registration_and_login_are_one_operation_each() {
    let (registry, _clock) = engine(41).await;
    let passwords = PlainPasswords::default();
    let register = |email: &str| {
        registry.register_account(
            email.to_string(),
            "Kim Minji".to_string(),
            None,
            "right-password-77".to_string(),
            &passwords,
        )
    };
    let kim = register("kim@example.com").await.expect("register");
    assert_eq!(kim.role, Role::User);
    assert_eq!(kim.password_hash, "plain:right-password-77");
    register("lee@example.com").await.expect("register");
    // Each hash got its own salt from the injected random source.
    {
        let salts = passwords.hashed.lock().expect("lock");
        assert_eq!(salts.len(), 2);
        assert_ne!(salts[0], salts[1]);
    }
    // A taken email (compared normalized) is refused before any hashing.
    assert_eq!(
        register(" KIM@example.com").await,
        Err(EngineError::EmailTaken)
    );
    assert_eq!(passwords.hashed.lock().expect("lock").len(), 2);
    // So is a password the policy refuses (API.md: 12+ characters, not
    // common), whatever the email: 400 before 409, and no hash spent.
    for (email, password) in [
        ("new@example.com", "short-pass"),
        ("kim@example.com", "password1234"),
    ] {
        let refused = registry
            .register_account(
                email.into(),
                "Kim".into(),
                None,
                password.into(),
                &passwords,
            )
            .await;
        assert!(
            matches!(&refused, Err(EngineError::Validation(why)) if why.contains("password")),
            "{password}: {refused:?}"
        );
    }
    assert_eq!(passwords.hashed.lock().expect("lock").len(), 2);

    let login = |email: &'static str, password: &str| {
        registry.login(email, ATTACKER, password.to_string(), &passwords)
    };
    assert_eq!(
        login("kim@example.com", "wrong").await,
        Err(EngineError::InvalidCredentials)
    );
    // An unknown email costs a verification too (against the decoy) and the
    // same answer.
    assert_eq!(
        login("nobody@example.com", "right-password-77").await,
        Err(EngineError::InvalidCredentials)
    );
    assert_eq!(
        passwords
            .verified
            .lock()
            .expect("lock")
            .last()
            .map(String::as_str),
        Some(PlainPasswords::DECOY_HASH)
    );
    assert_eq!(
        login("Kim@Example.com", "right-password-77")
            .await
            .map(|a| a.user_id),
        Ok(kim.user_id)
    );

    // A burst of concurrent guesses from one address: the success above
    // cleared that address's failure, so exactly ten are verified and the rest refused by the throttle.
    let before = passwords.verifications();
    let guesses = (0..30).map(|_| login("kim@example.com", "guess"));
    let outcomes = futures_util::future::join_all(guesses).await;
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Err(EngineError::InvalidCredentials)))
        .count();
    assert_eq!(refused, MAX_LOGIN_FAILURES);
    assert!(outcomes.iter().all(|o| matches!(
        o,
        Err(EngineError::InvalidCredentials | EngineError::RateLimited { .. })
    )));
    assert_eq!(passwords.verifications() - before, MAX_LOGIN_FAILURES);
    // That address is refused now, for the right password too, without
    // verifying it...
    assert!(matches!(
        login("kim@example.com", "right-password-77").await,
        Err(EngineError::RateLimited { .. })
    ));
    assert_eq!(passwords.verifications() - before, MAX_LOGIN_FAILURES);
    // ...but the owner, from an address without failures, gets in.
    let owner = registry
        .login(
            "kim@example.com",
            OWNER,
            "right-password-77".to_string(),
            &passwords,
        )
        .await;
    assert_eq!(owner.map(|a| a.user_id), Ok(kim.user_id));
    // Another account is not affected.
    assert!(login("lee@example.com", "right-password-77").await.is_ok());
}

#[actix_rt::test]
async fn venues_are_validated_and_listed_in_creation_order() {
    let (registry, clock) = engine(5).await;
    let venue = hall(&registry).await;
    assert_eq!(venue.capacity, 64);
    assert_eq!(venue.sections, hall_sections());
    assert_eq!(venue.created_at, T0);
    assert_eq!(registry.venue(venue.venue_id).await, Ok(venue.clone()));
    assert_eq!(
        registry.venue(VenueId::from_random_bytes([9; 16])).await,
        Err(EngineError::NotFound(Missing::Venue))
    );

    let name = || "Hall".to_string();
    let address = || "1 Main St".to_string();
    let cases: Vec<(&str, String, String, Vec<VenueSection>)> = vec![
        ("empty name", String::new(), address(), hall_sections()),
        ("long name", "n".repeat(201), address(), hall_sections()),
        ("empty address", name(), " ".into(), hall_sections()),
        ("long address", name(), "a".repeat(501), hall_sections()),
        (
            "two-line address",
            name(),
            "1 Main St\nSeoul".into(),
            hall_sections(),
        ),
        ("no sections", name(), address(), vec![]),
        (
            "101 sections",
            name(),
            address(),
            (0..101)
                .map(|n| section(&format!("S{n}"), &["1"], 1))
                .collect(),
        ),
        (
            "section id with a dash",
            name(),
            address(),
            vec![section("V-1", &["1"], 5)],
        ),
        (
            "duplicate section",
            name(),
            address(),
            vec![section("A", &["1"], 5), section("A", &["2"], 5)],
        ),
        (
            "bad row name",
            name(),
            address(),
            vec![section("A", &["1 2"], 5)],
        ),
        (
            "duplicate row",
            name(),
            address(),
            vec![section("A", &["1", "1"], 5)],
        ),
        (
            "empty row",
            name(),
            address(),
            vec![section("A", &["1"], 0)],
        ),
        (
            "row over 1000 seats",
            name(),
            address(),
            vec![section("A", &["1"], 1_001)],
        ),
        (
            "over 200,000 seats",
            name(),
            address(),
            (0..3)
                .map(|n| {
                    let names: Vec<String> = (0..70).map(|r| r.to_string()).collect();
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    section(&format!("S{n}"), &names, 1_000)
                })
                .collect(),
        ),
        (
            "section without rows",
            name(),
            address(),
            vec![section("A", &[], 5)],
        ),
    ];
    for (what, name, address, sections) in cases {
        assert_validation(registry.create_venue(name, address, sections).await, what);
    }

    clock.advance_ms(1_000);
    let second = registry
        .create_venue(name(), address(), vec![section("A", &["1"], 1)])
        .await
        .expect("second venue");
    assert_eq!(second.capacity, 1);
    let (page, total) = registry.venues(0, 10).await.expect("venues");
    assert_eq!(total, 2, "refused venues were not created");
    assert_eq!(page, vec![venue, second.clone()]);
    assert_eq!(registry.venues(1, 10).await, Ok((vec![second], 2)));
}

#[actix_rt::test]
async fn concerts_are_validated_before_anything_is_created() {
    let (registry, _clock) = engine(6).await;
    let venue = hall(&registry).await;
    let ok = || concert_for(venue.venue_id);
    let with = |change: &dyn Fn(&mut NewConcert)| {
        let mut concert = ok();
        change(&mut concert);
        concert
    };
    let bad_queue = QueueConfig {
        batch_size: 0,
        ..gated_queue()
    };
    let cases: Vec<(&str, NewConcert)> = vec![
        ("empty title", with(&|c| c.title = String::new())),
        ("long title", with(&|c| c.title = "t".repeat(201))),
        (
            "long description",
            with(&|c| c.description = "d".repeat(5_001)),
        ),
        ("empty category", with(&|c| c.category = String::new())),
        ("long category", with(&|c| c.category = "c".repeat(51))),
        ("no price grades", with(&|c| c.price_grades.clear())),
        (
            "51 price grades",
            with(&|c| c.price_grades = (0..51).map(|n| grade(&format!("G{n}"), 1, &[])).collect()),
        ),
        (
            "unknown section",
            with(&|c| c.price_grades.push(grade("X", 1, &["NOPE"]))),
        ),
        (
            "section in two grades",
            with(&|c| c.price_grades.push(grade("X", 1, &["VIP"]))),
        ),
        (
            "negative price",
            with(&|c| c.price_grades[0].price = Money(-1)),
        ),
        ("no schedules", with(&|c| c.schedules.clear())),
        (
            "101 schedules",
            with(&|c| c.schedules = (0..101).map(schedule_at).collect()),
        ),
        (
            "ends before it starts",
            with(&|c| c.schedules[0].ends_at = c.schedules[0].starts_at),
        ),
        (
            "booking closes before it opens",
            with(&|c| c.schedules[0].booking_closes_at = c.schedules[0].booking_opens_at),
        ),
        ("0 seats per user", with(&|c| c.max_seats_per_user = 0)),
        ("21 seats per user", with(&|c| c.max_seats_per_user = 21)),
        ("0 hold seconds", with(&|c| c.hold_seconds = 0)),
        ("3601 hold seconds", with(&|c| c.hold_seconds = 3_601)),
        (
            "bad concert queue",
            with(&|c| c.queue = Some(bad_queue.clone())),
        ),
        (
            "bad schedule queue",
            with(&|c| c.schedules[1].queue = Some(bad_queue.clone())),
        ),
    ];
    for (what, concert) in cases {
        assert_validation(registry.create_concert(concert).await, what);
    }
    assert_eq!(
        registry
            .create_concert(NewConcert {
                venue_id: VenueId::from_random_bytes([3; 16]),
                ..ok()
            })
            .await,
        Err(EngineError::NotFound(Missing::Venue))
    );
    assert_eq!(registry.concerts().await, Ok(vec![]));
    assert!(
        registry.schedule_ids().is_empty(),
        "a refused concert created no schedule"
    );

    // The edges of every range are accepted.
    let edges = with(&|c| {
        c.title = "t".repeat(200);
        c.description = String::new();
        c.category = "c".repeat(50);
        c.price_grades[0].price = Money(0);
        c.max_seats_per_user = 20;
        c.hold_seconds = 3_600;
    });
    registry
        .create_concert(edges)
        .await
        .expect("edges are valid");
}

#[actix_rt::test]
async fn a_concert_creates_its_schedules_with_the_graded_layout_and_queue() {
    let (registry, clock) = engine(7).await;
    let venue = hall(&registry).await;
    clock.advance_ms(5_000);
    let concert = registry
        .create_concert(NewConcert {
            queue: Some(QueueConfig {
                enabled: false,
                ..gated_queue()
            }),
            ..concert_for(venue.venue_id)
        })
        .await
        .expect("concert");
    assert_eq!(concert.venue_name, "Olympic Hall");
    assert_eq!(concert.created_at, T0.plus_millis(5_000));
    assert_eq!(concert.schedules.len(), 2);
    assert_eq!(
        registry.concert(concert.concert_id).await,
        Ok(concert.clone())
    );
    assert_eq!(registry.concerts().await, Ok(vec![concert.clone()]));
    assert_eq!(
        registry
            .concert(ConcertId::from_random_bytes([4; 16]))
            .await,
        Err(EngineError::NotFound(Missing::Concert))
    );

    let expected_sections = vec![
        SectionLayout {
            section_id: "VIP".into(),
            grade: "VIP".into(),
            price: Money(150_000),
            rows: rows(&["1", "2"], 5),
        },
        SectionLayout {
            section_id: "R".into(),
            grade: "R".into(),
            price: Money(100_000),
            rows: rows(&["A", "B", "C"], 10),
        },
        SectionLayout {
            section_id: "S".into(),
            grade: "S".into(),
            price: Money(50_000),
            rows: rows(&["1"], 20),
        },
    ];
    let queues = registry
        .queue()
        .query(ExportQueueState)
        .await
        .expect("queues");
    for (n, info) in concert.schedules.iter().enumerate() {
        let handle = registry
            .schedule(info.schedule_id)
            .expect("schedule exists");
        let state = handle
            .actor
            .query(ExportState)
            .await
            .expect("export")
            .expect("loaded");
        let schedule = &state.schedule;
        assert_eq!(
            schedule.layout().sections,
            expected_sections,
            "venue order, BALC not on sale"
        );
        assert_eq!(schedule.rules().max_seats_per_user, 4);
        assert_eq!(schedule.rules().hold_ms, 300_000);
        assert_eq!(schedule.rules().booking_opens_at, info.booking_opens_at);
        assert_eq!(schedule.rules().booking_closes_at, info.booking_closes_at);
        let gated = n == 1;
        assert_eq!(handle.gated, gated, "schedule {n}");
        assert_eq!(state.queue, info.queue, "schedule {n}");
        let queue = queues
            .queues
            .get(&info.schedule_id)
            .expect("queue configured");
        assert_eq!(queue.config().enabled, gated, "schedule {n}");

        let (found, found_info) = registry
            .schedule_info(info.schedule_id)
            .await
            .expect("schedule info");
        assert_eq!(found, concert);
        assert_eq!(&found_info, info);
    }
    // The first schedule inherits the concert's (disabled) queue, the second has its own.
    assert_eq!(concert.schedules[0].queue, concert.queue);
    assert_eq!(concert.schedules[1].queue, Some(gated_queue()));
    assert_eq!(
        registry.schedule_info(schedule_id(1)).await,
        Err(EngineError::NotFound(Missing::Schedule))
    );
}

#[actix_rt::test]
async fn accounts_and_catalogue_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let registry = start(sled_store(dir.path()), &clock, 8).await;
    // More events than `snapshot_every_events` (50): a snapshot and a trimmed log are recovered too.
    let mut accounts = Vec::new();
    for n in 0..60 {
        accounts.push(
            register(&registry, &format!("user{n}@example.com"))
                .await
                .expect("register"),
        );
        clock.advance_ms(10);
    }
    registry
        .set_role(accounts[3].user_id, Role::Staff, user(1))
        .await
        .expect("role");
    registry
        .ensure_account(
            "admin@example.com".into(),
            "Admin".into(),
            HASH.into(),
            Role::Admin,
        )
        .await
        .expect("admin");
    registry
        .set_password(accounts[4].user_id, "$argon2id$changed".into())
        .await
        .expect("password");
    let venue = hall(&registry).await;
    let concert = registry
        .create_concert(concert_for(venue.venue_id))
        .await
        .expect("concert");

    let accounts_before = registry
        .accounts()
        .query(ExportAccounts)
        .await
        .expect("export");
    let catalog_before = registry
        .catalog()
        .query(ExportCatalog)
        .await
        .expect("export");
    let engine_before = export(&registry).await;
    let listed_before = registry.list_accounts(0, 100).await.expect("list");
    registry.shutdown();
    drop(registry);

    let registry = start(sled_store(dir.path()), &clock, 9).await;
    assert_eq!(
        registry
            .accounts()
            .query(ExportAccounts)
            .await
            .expect("export"),
        accounts_before
    );
    assert_eq!(
        registry
            .catalog()
            .query(ExportCatalog)
            .await
            .expect("export"),
        catalog_before
    );
    assert_eq!(export(&registry).await, engine_before);
    assert_eq!(
        registry.list_accounts(0, 100).await.expect("list"),
        listed_before
    );
    assert_eq!(
        registry.concert(concert.concert_id).await,
        Ok(concert.clone())
    );
    assert_eq!(registry.venue(venue.venue_id).await, Ok(venue));
    let (found, _) = registry
        .schedule_info(concert.schedules[1].schedule_id)
        .await
        .expect("schedule info");
    assert_eq!(found, concert);
    assert!(
        registry
            .schedule(concert.schedules[1].schedule_id)
            .expect("schedule")
            .gated
    );
    assert_eq!(
        register(&registry, "USER0@example.com").await,
        Err(EngineError::EmailTaken),
        "the email index is restored"
    );
    assert_eq!(
        registry
            .account(accounts[4].user_id)
            .await
            .map(|a| a.map(|a| a.password_hash)),
        Ok(Some("$argon2id$changed".to_string()))
    );
    registry.shutdown();
}

#[actix_rt::test]
async fn timestamps_of_new_records_come_from_the_injected_clock() {
    let (registry, clock) = engine(10).await;
    clock.set(Timestamp(1_800_000_000_000));
    let account = register(&registry, "t@example.com")
        .await
        .expect("register");
    let venue = hall(&registry).await;
    assert_eq!(account.created_at, Timestamp(1_800_000_000_000));
    assert_eq!(venue.created_at, Timestamp(1_800_000_000_000));
}
