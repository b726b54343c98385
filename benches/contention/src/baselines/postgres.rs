//! The PostgreSQL baselines: seats as rows, one row per seat, and the two
//! ways services usually take them.
//!
//! - `pg-update`: a conditional `UPDATE ... WHERE status = 'AVAILABLE' OR the
//!   hold expired`; one autocommit statement for one seat, and for several
//!   seats `BEGIN; UPDATE; COMMIT` rolled back if fewer rows changed than
//!   seats were asked for (all or nothing).
//! - `pg-for-update`: the transaction a JPA service runs: `BEGIN; SELECT ...
//!   FOR UPDATE` (rows in seat order, so two holds cannot deadlock); check
//!   every seat is free; `UPDATE`; `COMMIT` (always a transaction).
//!
//! Releases are `UPDATE`s guarded by the holder; a payment is one
//! transaction that debits the user's wallet row and marks the seats SOLD
//! if the hold is still theirs and not expired. The server runs with
//! `synchronous_commit = on` and `fsync = on` (see `benches/baselines.sh`),
//! so a commit that wrote anything waits for its WAL flush; a statement that
//! changed no row commits without one.
//!
//! Connections: a fixed pool ([`Pool`]) of prepared connections shared by
//! all clients; a client waits for a free connection, and that wait is part
//! of its latency, as in a service with a connection pool.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::Semaphore;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Statement};

use super::store::{FinalState, SeatState};
use crate::stats::Outcome;

/// Most pooled connections (the server's `max_connections` must be higher).
pub const MAX_POOL: usize = 1_000;
/// The schedule every baseline run uses (one schedule, as the scenarios).
const SCHEDULE: i32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Update,
    ForUpdate,
}

struct Statements {
    hold_update: Statement,
    lock_seats: Statement,
    hold_locked: Statement,
    release: Statement,
    free_range: Statement,
    debit: Statement,
    sell: Statement,
}

struct Conn {
    client: Client,
    st: Statements,
}

/// A fixed set of connections; `permits` counts the idle ones.
struct Pool {
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Lease<'_> {
    fn conn(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.pool.idle.lock()) {
            idle.push(conn);
        }
    }
}

impl Pool {
    async fn lease(&self) -> Result<Lease<'_>, Outcome> {
        let permit = self.permits.acquire().await.map_err(|_| Outcome::Other)?;
        let conn = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.pop())
            .ok_or(Outcome::Other)?;
        Ok(Lease {
            pool: self,
            conn: Some(conn),
            _permit: permit,
        })
    }
}

pub struct PgStore {
    pub style: Style,
    pool: Pool,
    /// Outside the pool: set-up, statistics, the final query.
    admin: Client,
    pub pool_size: usize,
}

/// The server's message too (`Display` says only "db error").
fn described(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{err}: {} ({})", db.message(), db.code().code()),
        None => format!("{err}"),
    }
}

/// A deadlock or serialization failure rolled the transaction back: nothing
/// happened, so the client may count it as a lost race.
fn outcome_of(err: &tokio_postgres::Error) -> Outcome {
    match err.code() {
        Some(code) if *code == SqlState::T_R_DEADLOCK_DETECTED => Outcome::Conflict,
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE => Outcome::Conflict,
        Some(code) if *code == SqlState::TOO_MANY_CONNECTIONS => Outcome::Unavailable,
        _ if err.is_closed() => Outcome::Transport,
        _ => Outcome::Other,
    }
}

async fn connect(config: &str) -> Result<Client, String> {
    let (client, connection) = tokio_postgres::connect(config, NoTls)
        .await
        .map_err(|e| format!("postgres connect ({config}): {e}"))?;
    // Driven by the runtime this runs on (the harness's main one).
    actix_rt::spawn(async move {
        if let Err(err) = connection.await {
            eprintln!("contention: postgres connection ended: {err}");
        }
    });
    Ok(client)
}

async fn prepare(client: &Client) -> Result<Statements, tokio_postgres::Error> {
    const FREE: &str = "(status = 'AVAILABLE' OR (status = 'HELD' AND held_until < now()))";
    Ok(Statements {
        hold_update: client
            .prepare(&format!(
                "UPDATE seats SET status = 'HELD', holder = $1, held_until = now() + make_interval(secs => $4) \
                 WHERE schedule_id = $2 AND seat_id = ANY($3) AND {FREE}"
            ))
            .await?,
        lock_seats: client
            .prepare(&format!(
                "SELECT seat_id, {FREE} AS free FROM seats \
                 WHERE schedule_id = $1 AND seat_id = ANY($2) ORDER BY seat_id FOR UPDATE"
            ))
            .await?,
        hold_locked: client
            .prepare(
                "UPDATE seats SET status = 'HELD', holder = $1, held_until = now() + make_interval(secs => $4) \
                 WHERE schedule_id = $2 AND seat_id = ANY($3)",
            )
            .await?,
        release: client
            .prepare(
                "UPDATE seats SET status = 'AVAILABLE', holder = NULL, held_until = NULL \
                 WHERE schedule_id = $1 AND seat_id = ANY($2) AND holder = $3 AND status = 'HELD'",
            )
            .await?,
        free_range: client
            .prepare(&format!(
                "SELECT seat_id FROM seats WHERE schedule_id = $1 AND seat_id >= $2 AND seat_id < $3 \
                 AND {FREE} ORDER BY seat_id"
            ))
            .await?,
        debit: client
            .prepare("UPDATE wallets SET balance = balance - $2 WHERE user_id = $1 AND balance >= $2")
            .await?,
        sell: client
            .prepare(
                "UPDATE seats SET status = 'SOLD', held_until = NULL WHERE schedule_id = $1 \
                 AND seat_id = ANY($2) AND holder = $3 AND status = 'HELD' AND held_until >= now()",
            )
            .await?,
    })
}

impl PgStore {
    /// Creates fresh, empty tables, then opens the pool of `pool_size`
    /// connections (their statements prepared against those tables).
    pub async fn open(config: &str, style: Style, pool_size: usize) -> Result<PgStore, String> {
        let pool_size = pool_size.clamp(1, MAX_POOL);
        let admin = connect(config).await?;
        admin
            .batch_execute(
                "DROP TABLE IF EXISTS seats, wallets;
                 CREATE TABLE seats (schedule_id int4 NOT NULL, seat_id int4 NOT NULL, status text NOT NULL,
                                     holder int8, held_until timestamptz, PRIMARY KEY (schedule_id, seat_id));
                 CREATE TABLE wallets (user_id int8 PRIMARY KEY, balance int8 NOT NULL CHECK (balance >= 0));",
            )
            .await
            .map_err(|e| format!("postgres set-up: {}", described(&e)))?;
        let mut idle = Vec::with_capacity(pool_size);
        for _ in 0..pool_size {
            let client = connect(config).await?;
            let st = prepare(&client)
                .await
                .map_err(|e| format!("postgres prepare: {}", described(&e)))?;
            idle.push(Conn { client, st });
        }
        Ok(PgStore {
            style,
            pool: Pool {
                idle: Mutex::new(idle),
                permits: Semaphore::new(pool_size),
            },
            admin,
            pool_size,
        })
    }

    /// Fills `table` with `insert`, then analyzes it and checkpoints, so
    /// the run starts with fresh statistics and no pending writes.
    async fn load(&self, table: &str, insert: &str) -> Result<(), String> {
        // One simple query is one implicit transaction, and VACUUM cannot run
        // inside one: hence three calls.
        let vacuum = format!("VACUUM ANALYZE {table}");
        for sql in [insert, vacuum.as_str(), "CHECKPOINT"] {
            self.admin
                .batch_execute(sql)
                .await
                .map_err(|e| format!("postgres set-up: {}", described(&e)))?;
        }
        Ok(())
    }

    /// Seats `0..capacity` of the schedule, all AVAILABLE.
    pub async fn create_seats(&self, capacity: u32) -> Result<(), String> {
        let insert = format!(
            "INSERT INTO seats SELECT {SCHEDULE}, g, 'AVAILABLE', NULL, NULL FROM generate_series(0, {capacity} - 1) g"
        );
        self.load("seats", &insert).await
    }

    /// Wallets `1..=wallets` holding `funding` each.
    pub async fn fund(&self, wallets: usize, funding: i64) -> Result<(), String> {
        let insert =
            format!("INSERT INTO wallets SELECT g, {funding} FROM generate_series(1, {wallets}) g");
        self.load("wallets", &insert).await
    }

    pub async fn hold(&self, holder: i64, seats: &[i32], hold_secs: f64) -> Result<(), Outcome> {
        let lease = self.pool.lease().await?;
        let conn = lease.conn();
        let (c, st) = (&conn.client, &conn.st);
        let wanted = seats.len() as u64;
        if self.style == Style::Update && seats.len() == 1 {
            let rows = c
                .execute(&st.hold_update, &[&holder, &SCHEDULE, &seats, &hold_secs])
                .await
                .map_err(|e| outcome_of(&e))?;
            return if rows == 1 {
                Ok(())
            } else {
                Err(Outcome::Conflict)
            };
        }
        c.batch_execute("BEGIN").await.map_err(|e| outcome_of(&e))?;
        let result = async {
            match self.style {
                Style::Update => {
                    let rows = c
                        .execute(&st.hold_update, &[&holder, &SCHEDULE, &seats, &hold_secs])
                        .await?;
                    Ok(rows == wanted)
                }
                Style::ForUpdate => {
                    let rows = c.query(&st.lock_seats, &[&SCHEDULE, &seats]).await?;
                    let all_free =
                        rows.len() == seats.len() && rows.iter().all(|r| r.get::<_, bool>(1));
                    if !all_free {
                        return Ok(false);
                    }
                    let rows = c
                        .execute(&st.hold_locked, &[&holder, &SCHEDULE, &seats, &hold_secs])
                        .await?;
                    debug_assert_eq!(rows, wanted, "the seats were locked and free");
                    Ok(rows == wanted)
                }
            }
        }
        .await;
        finish(c, result).await
    }

    pub async fn release(&self, holder: i64, seats: &[i32]) -> Result<(), Outcome> {
        let lease = self.pool.lease().await?;
        let conn = lease.conn();
        let rows = conn
            .client
            .execute(&conn.st.release, &[&SCHEDULE, &seats, &holder])
            .await
            .map_err(|e| outcome_of(&e))?;
        if rows == seats.len() as u64 {
            Ok(())
        } else {
            Err(Outcome::NotCancellable)
        }
    }

    /// Free seats with ids in `from..to`, ascending.
    pub async fn free_in(&self, from: i32, to: i32) -> Result<Vec<i32>, Outcome> {
        let lease = self.pool.lease().await?;
        let conn = lease.conn();
        let rows = conn
            .client
            .query(&conn.st.free_range, &[&SCHEDULE, &from, &to])
            .await
            .map_err(|e| outcome_of(&e))?;
        Ok(rows.iter().map(|r| r.get::<_, i32>(0)).collect())
    }

    /// Debits `amount` from the wallet `holder` and sells the seats, if the
    /// hold is still `holder`'s and not expired; all or nothing.
    pub async fn pay(&self, holder: i64, seats: &[i32], amount: i64) -> Result<(), Outcome> {
        let lease = self.pool.lease().await?;
        let conn = lease.conn();
        let (c, st) = (&conn.client, &conn.st);
        c.batch_execute("BEGIN").await.map_err(|e| outcome_of(&e))?;
        let result = async {
            if c.execute(&st.debit, &[&holder, &amount]).await? != 1 {
                return Ok(Err(Outcome::InsufficientBalance));
            }
            let sold = c.execute(&st.sell, &[&SCHEDULE, &seats, &holder]).await?;
            Ok(if sold == seats.len() as u64 {
                Ok(())
            } else {
                Err(Outcome::Expired)
            })
        }
        .await;
        match result {
            Ok(Ok(())) => c.batch_execute("COMMIT").await.map_err(|e| outcome_of(&e)),
            Ok(Err(refused)) => {
                let _ = c.batch_execute("ROLLBACK").await;
                Err(refused)
            }
            Err(err) => {
                let _ = c.batch_execute("ROLLBACK").await;
                Err(outcome_of(&err))
            }
        }
    }

    pub async fn final_state(&self) -> Result<FinalState, String> {
        let rows = self
            .admin
            .query(
                "SELECT seat_id, status, holder, coalesce(held_until < now(), false) FROM seats \
                 WHERE status <> 'AVAILABLE' ORDER BY seat_id",
                &[],
            )
            .await
            .map_err(|e| format!("postgres final query: {}", described(&e)))?;
        let mut state = FinalState::default();
        for row in rows {
            let seat: i32 = row.get(0);
            let status: String = row.get(1);
            let holder: Option<i64> = row.get(2);
            let expired: bool = row.get(3);
            let holder = holder.unwrap_or(0);
            match status.as_str() {
                "SOLD" => state.seats.push((seat, SeatState::Sold(holder))),
                "HELD" if expired => {}
                "HELD" => state.seats.push((seat, SeatState::Held(holder))),
                other => return Err(format!("seat {seat} has status {other}")),
            }
        }
        let total = self
            .admin
            .query_one(
                "SELECT coalesce(sum(balance), 0)::int8, count(*) FROM wallets",
                &[],
            )
            .await
            .map_err(|e| format!("postgres wallets: {}", described(&e)))?;
        state.wallet_total = total.get(0);
        state.wallets = total.get::<_, i64>(1) as u64;
        Ok(state)
    }

    /// Cumulative server counters (subtract two snapshots for a run's share).
    pub async fn counters(&self) -> Result<BTreeMap<String, f64>, String> {
        let mut out = BTreeMap::new();
        let _ = self
            .admin
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await;
        let db = self
            .admin
            .query_one(
                "SELECT xact_commit::float8, xact_rollback::float8, deadlocks::float8 \
                 FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .await
            .map_err(|e| format!("pg_stat_database: {}", described(&e)))?;
        out.insert("xact_commit".into(), db.get(0));
        out.insert("xact_rollback".into(), db.get(1));
        out.insert("deadlocks".into(), db.get(2));
        let wal = self
            .admin
            .query_one(
                "SELECT wal_records::float8, wal_bytes::float8, wal_write::float8, wal_sync::float8, \
                 wal_sync_time::float8 FROM pg_stat_wal",
                &[],
            )
            .await
            .map_err(|e| format!("pg_stat_wal: {}", described(&e)))?;
        for (i, name) in [
            "wal_records",
            "wal_bytes",
            "wal_write",
            "wal_sync",
            "wal_sync_time_ms",
        ]
        .iter()
        .enumerate()
        {
            out.insert((*name).into(), wal.get(i));
        }
        Ok(out)
    }

    /// What the pool's busy backends wait on right now ("CPU" when running).
    pub async fn wait_sample(&self) -> Result<Vec<(String, i64)>, String> {
        let rows = self
            .admin
            .query(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU (running)'), count(*) \
                 FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active' \
                 AND pid <> pg_backend_pid() GROUP BY 1",
                &[],
            )
            .await
            .map_err(|e| format!("pg_stat_activity: {}", described(&e)))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn settings(&self) -> Value {
        let mut out = serde_json::Map::new();
        for name in [
            "server_version",
            "synchronous_commit",
            "fsync",
            "wal_sync_method",
            "max_connections",
            "shared_buffers",
        ] {
            if let Ok(row) = self.admin.query_one(&format!("SHOW {name}"), &[]).await {
                out.insert(name.into(), json!(row.get::<_, String>(0)));
            }
        }
        Value::Object(out)
    }
}

/// Commits a hold transaction whose body decided `Ok(true)`, else rolls back.
async fn finish(c: &Client, result: Result<bool, tokio_postgres::Error>) -> Result<(), Outcome> {
    match result {
        Ok(true) => c.batch_execute("COMMIT").await.map_err(|e| outcome_of(&e)),
        Ok(false) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(Outcome::Conflict)
        }
        Err(err) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(outcome_of(&err))
        }
    }
}
