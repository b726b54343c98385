//! `--demo`: a venue of 2,000 seats (sections VIP, R, S, A), four concerts
//! (two with Korean and Chinese titles, for search) with three schedules each
//! (one gated by the waiting room), and demo admin, staff
//! and user accounts, the user with a funded wallet. Loaded once per data dir
//! (a marker in the store's metadata); the credentials are printed every start.
//!
//! The box office's additions (issue 15) come in a second step with its own
//! marker, so a data dir loaded before them gains them once too: a small
//! hall with three more concerts (Korean and Chinese titles and
//! descriptions among them) and one DRAFT concert with a schedule, which only
//! the demo admin sees until it is published; on the first night, the sound
//! desk's seats blocked (one comped) and two seats sold to the demo staff, so the admin's sales
//! and seat map have something to show.
//!
//! The demo passwords are well known (they are in the README), so they are
//! set only when an account is created: a demo account whose password was
//! changed keeps it across restarts. Serving them on a non-loopback address
//! is warned about ([`exposure_warning`]). They meet the password policy.

use boxoffice_actors::booking::HoldCommand;
use boxoffice_actors::payment::PayCommand;
use boxoffice_actors::Role;
use boxoffice_actors::{ConcertStatus, NewConcert, NewSchedule, PriceGrade, VenueSection};
use boxoffice_actors::{Passwords, Registry};
use boxoffice_engine::ids::{ScheduleId, UserId};
use boxoffice_engine::layout::RowLayout;
use boxoffice_engine::queue::QueueConfig;
use boxoffice_engine::schedule::SeatSelection;
use boxoffice_engine::{Money, Timestamp};
use std::net::SocketAddr;

use crate::auth::Argon2Passwords;
use crate::error::ApiError;

const MARKER: &str = "demo-loaded";
/// Marks the box office's additions as loaded (see the module doc).
const ADDITIONS_MARKER: &str = "demo-loaded-box-office";
/// The DRAFT concert's title, so tests can find it.
pub const DRAFT_TITLE: &str = "Aurora Live 2027: 앙코르 (draft)";
pub const ADMIN: (&str, &str) = ("admin@demo.boxoffice", "demo-admin-pass");
pub const STAFF: (&str, &str) = ("staff@demo.boxoffice", "demo-staff-pass");
pub const USER: (&str, &str) = ("user@demo.boxoffice", "demo-user-pass");
pub const USER_FUNDS: Money = Money(1_000_000);

fn section(id: &str, name: &str, rows: u32, seats: u32) -> VenueSection {
    VenueSection {
        section_id: id.into(),
        name: name.into(),
        rows: (1..=rows)
            .map(|r| RowLayout {
                row: r.to_string(),
                seats,
            })
            .collect(),
    }
}

/// The warning for `--demo` on `bind`, if it is reachable from other hosts.
pub fn exposure_warning(bind: SocketAddr) -> Option<String> {
    (!bind.ip().is_loopback()).then(|| {
        format!(
            "warning: --demo on {bind}, which is not a loopback address: anyone who can \
             reach it can log in with the demo accounts' published passwords"
        )
    })
}

/// Loads the demo data unless this data dir has it already; returns the lines to print.
pub async fn load(
    registry: &Registry,
    passwords: &Argon2Passwords,
    now: Timestamp,
) -> Result<Vec<String>, ApiError> {
    // Whole hours read better in a catalogue.
    let now = Timestamp(now.0 - now.0.rem_euclid(3_600_000));
    let engine = |e: boxoffice_actors::EngineError| ApiError::from(e);
    let store = registry.context().commit.store().clone();
    let loaded = store
        .get_meta(MARKER)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .is_some();
    // A missing demo account is created (with its published password); an
    // existing one is left as it is, its password and role included.
    let mut accounts = Vec::new();
    for ((email, password), role, name) in [
        (ADMIN, Role::Admin, "Demo Admin"),
        (STAFF, Role::Staff, "Demo Staff"),
        (USER, Role::User, "Demo User"),
    ] {
        if let Some(account) = registry.account_by_email(email).await.map_err(engine)? {
            accounts.push(account);
            continue;
        }
        let hash = passwords
            .hash(password.to_string(), registry.context().ids.bytes())
            .await
            .map_err(engine)?;
        accounts.push(
            registry
                .register(email.to_string(), name.to_string(), None, hash, role)
                .await
                .map_err(engine)?,
        );
    }
    if !loaded {
        let user = &accounts[2];
        registry
            .charge(user.user_id, USER_FUNDS, None)
            .await
            .map_err(engine)?;
        let venue = registry
            .create_venue(
                "Boxoffice Arena".into(),
                "1 Olympic-ro, Songpa-gu, Seoul".into(),
                vec![
                    section("VIP", "VIP floor", 5, 20),
                    section("R", "R lower bowl", 10, 30),
                    section("S", "S upper bowl", 20, 40),
                    section("A", "A balcony", 20, 40),
                ],
            )
            .await
            .map_err(engine)?;
        let day = 86_400_000;
        let grades = || {
            vec![
                PriceGrade {
                    grade: "VIP".into(),
                    price: Money(220_000),
                    section_ids: vec!["VIP".into()],
                },
                PriceGrade {
                    grade: "R".into(),
                    price: Money(165_000),
                    section_ids: vec!["R".into()],
                },
                PriceGrade {
                    grade: "S".into(),
                    price: Money(132_000),
                    section_ids: vec!["S".into()],
                },
                PriceGrade {
                    grade: "A".into(),
                    price: Money(99_000),
                    section_ids: vec!["A".into()],
                },
            ]
        };
        let schedule = |days: i64, queue: Option<QueueConfig>| NewSchedule {
            starts_at: now.plus_millis(days * day),
            ends_at: now.plus_millis(days * day + 3 * 3_600_000),
            booking_opens_at: now.plus_millis(-3_600_000),
            booking_closes_at: now.plus_millis(days * day - 3_600_000),
            queue,
        };
        let gate = QueueConfig {
            enabled: true,
            batch_size: 50,
            interval_ms: 1_000,
            max_active: 500,
            active_ms: 600_000,
            ..QueueConfig::default()
        };
        for (title, description, category, first_day, gated) in [
            ("Aurora Live 2027", "The Aurora world tour comes to Seoul: three nights, the first one behind the waiting room.", "K-POP", 30, true),
            ("Midnight Orchestra", "Film scores under the stars, with a 60-piece orchestra.", "CLASSICAL", 45, false),
            // Korean and Chinese titles, so that search has something to show (issue 16).
            ("아이유 콘서트: 하루 끝", "아이유의 단독 공연, 서울에서 사흘 동안.", "K-POP", 60, false),
            ("五月天 巡回演唱会 首尔站", "五月天 乐队 首尔 三场 演唱会。", "C-POP", 75, false),
        ] {
            let schedules = (0..3).map(|i| schedule(first_day + i, (gated && i == 0).then(|| gate.clone()))).collect();
            let concert = NewConcert {
                title: title.into(),
                description: description.into(),
                category: category.into(),
                venue_id: venue.venue_id,
                price_grades: grades(),
                schedules,
                max_seats_per_user: 4,
                hold_seconds: 300,
                queue: None,
            };
            registry.create_concert(concert).await.map_err(engine)?;
        }
        store
            .put_meta(MARKER, b"1")
            .and_then(|_| store.flush())
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let added = store
        .get_meta(ADDITIONS_MARKER)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .is_some();
    if !added {
        load_additions(registry, now, accounts[1].user_id)
            .await
            .map_err(engine)?;
        store
            .put_meta(ADDITIONS_MARKER, b"1")
            .and_then(|_| store.flush())
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok(vec![
        "demo accounts (passwords as set when the accounts were created):".to_string(),
        format!("  ADMIN  {}  password {}", ADMIN.0, ADMIN.1),
        format!("  STAFF  {}  password {}", STAFF.0, STAFF.1),
        format!(
            "  USER   {}  password {}  (wallet funded with {} on first load)",
            USER.0, USER.1, USER_FUNDS.0
        ),
    ])
}

/// The box office's additions (see the module doc). A crash before the
/// marker is written loads them again at the next start (a second copy of
/// each concert: harmless demo data, as for the first step).
async fn load_additions(
    registry: &Registry,
    now: Timestamp,
    buyer: UserId,
) -> Result<(), boxoffice_actors::EngineError> {
    let hall = registry
        .create_venue(
            "Riverside Hall".into(),
            "22 Hangang-daero, Yongsan-gu, Seoul".into(),
            vec![
                section("F", "Floor", 10, 20),
                section("B", "Balcony", 5, 20),
            ],
        )
        .await?;
    let day = 86_400_000;
    let grades = || {
        vec![
            PriceGrade {
                grade: "F".into(),
                price: Money(88_000),
                section_ids: vec!["F".into()],
            },
            PriceGrade {
                grade: "B".into(),
                price: Money(55_000),
                section_ids: vec!["B".into()],
            },
        ]
    };
    let schedule = |days: i64| NewSchedule {
        starts_at: now.plus_millis(days * day),
        ends_at: now.plus_millis(days * day + 2 * 3_600_000),
        booking_opens_at: now.plus_millis(-3_600_000),
        booking_closes_at: now.plus_millis(days * day - 3_600_000),
        queue: None,
    };
    #[rustfmt::skip]
    let concerts = [
        ("서울 재즈 나이트", "한강이 보이는 홀에서 열리는 재즈 트리오의 밤. 스탠더드와 자작곡.", "JAZZ", 20, ConcertStatus::Published),
        ("城市民谣之夜 Folk in the City", "三位独立民谣歌手的不插电演出，首尔一夜。", "FOLK", 25, ConcertStatus::Published),
        ("Chamber Strings by the River", "A string quartet plays Haydn and Ravel; 현악 사중주, 하이든과 라벨.", "CLASSICAL", 35, ConcertStatus::Published),
        // Seen by the demo admin only until published (POST /concerts/{id}/publish).
        (DRAFT_TITLE, "An encore night not announced yet. 아직 공개되지 않은 앙코르 공연.", "K-POP", 90, ConcertStatus::Draft),
    ];
    let mut first_night = None;
    for (title, description, category, first_day, status) in concerts {
        let concert = NewConcert {
            title: title.into(),
            description: description.into(),
            category: category.into(),
            venue_id: hall.venue_id,
            price_grades: grades(),
            schedules: vec![schedule(first_day), schedule(first_day + 1)],
            max_seats_per_user: 4,
            hold_seconds: 300,
            queue: None,
        };
        let created = registry.create_concert_as(concert, status).await?;
        first_night = first_night.or(created.schedules.first().map(|s| s.schedule_id));
    }
    if let Some(schedule_id) = first_night {
        sell_and_block(registry, schedule_id, buyer).await?;
    }
    Ok(())
}

/// Gives the admin side something to show on the first night of the
/// additions: the sound desk's seats blocked, one of them comped to `buyer`,
/// and two seats sold to them (paid from a top-up of exactly their price).
/// The buyer is the demo staff account, so that the demo fan keeps their
/// whole allowance of seats per date (clients and the fuzzing fixtures buy
/// with it).
async fn sell_and_block(
    registry: &Registry,
    schedule_id: ScheduleId,
    buyer: UserId,
) -> Result<(), boxoffice_actors::EngineError> {
    let desk = ["F-10-9", "F-10-10", "F-10-11", "F-10-12"].map(String::from);
    registry
        .block_seats(schedule_id, desk.to_vec(), "sound desk".into())
        .await?;
    registry
        .comp_seats(schedule_id, buyer, vec![desk[3].clone()])
        .await?;
    let held = registry
        .hold(
            buyer,
            HoldCommand {
                schedule_id,
                selection: SeatSelection::Ids(vec!["F-1-10".into(), "F-1-11".into()]),
                queue_token: None,
                idem: None,
            },
        )
        .await?;
    registry.charge(buyer, held.total_amount, None).await?;
    registry
        .pay(
            buyer,
            PayCommand {
                reservation_id: held.reservation_id,
                amount: Some(held.total_amount),
                queue_token: None,
                idem: None,
            },
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_passwords_meet_the_policy() {
        for (email, password) in [ADMIN, STAFF, USER] {
            assert_eq!(
                boxoffice_actors::accounts::check_new_password(password),
                Ok(()),
                "{email}"
            );
        }
    }

    #[test]
    fn only_a_non_loopback_bind_is_warned_about() {
        let at = |addr: &str| exposure_warning(addr.parse().expect("address"));
        assert_eq!(at("127.0.0.1:8080"), None);
        assert_eq!(at("[::1]:8080"), None);
        for exposed in ["0.0.0.0:8080", "192.168.1.5:80", "[::]:8080"] {
            assert!(
                at(exposed).is_some_and(|w| w.contains("--demo")),
                "{exposed}"
            );
        }
    }
}
