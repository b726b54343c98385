//! The Redis baseline (`redis-setnx`): one key per held or sold seat,
//! `seat:<schedule>:<seat>`, whose value is the holder, and which expires
//! with the hold.
//!
//! - one seat: `SET key holder NX EX hold` (one round trip);
//! - several seats: a Lua script that checks every key is absent and then
//!   sets them all (Redis runs a script atomically: all or nothing);
//! - release: a compare-and-delete script (only the holder's keys go);
//! - payment: a script that checks the keys are still the holder's,
//!   debits `wallet:<user>` if the balance covers it, and turns the keys into
//!   `sold:<holder>` with no expiry.
//!
//! Durability is the server's `appendfsync` (`always`: fsync before the
//! reply, batched over the clients served in one event-loop turn;
//! `everysec`, the default: up to a second of acknowledged writes lost on a
//! power cut). The harness reads it back and names the series after it.
//!
//! Connections: a fixed number of multiplexed (pipelining) connections, the
//! clients assigned to them round robin.

use redis::aio::MultiplexedConnection;
use redis::{RedisError, Script};
use serde_json::{json, Value};
use std::collections::BTreeMap;

use super::store::{FinalState, SeatState};
use crate::stats::Outcome;

/// Most connections opened to one server.
pub const MAX_CONNECTIONS: usize = 10_000;
const SCHEDULE: u32 = 1;
/// Keys per MGET / MSET during set-up and the final scan.
const CHUNK: usize = 1_000;
const SOLD_PREFIX: &str = "sold:";

const HOLD_ALL: &str = r"
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[2])
end
return 1";

const RELEASE_MINE: &str = r"
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i]); n = n + 1
  end
end
return n";

/// KEYS[1] the wallet, KEYS[2..] the seats; ARGV holder, amount.
const PAY: &str = r"
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return -1 end
end
local balance = tonumber(redis.call('GET', KEYS[1]) or '0')
if balance < tonumber(ARGV[2]) then return -2 end
redis.call('DECRBY', KEYS[1], ARGV[2])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], 'sold:' .. ARGV[1])
end
return 1";

pub struct RedisStore {
    connections: Vec<MultiplexedConnection>,
    hold_all: Script,
    release_mine: Script,
    pay: Script,
    /// `always` or `everysec` (or `no`), as the server reported it.
    pub appendfsync: String,
}

fn seat_key(seat: i32) -> String {
    format!("seat:{SCHEDULE}:{seat}")
}

fn wallet_key(holder: i64) -> String {
    format!("wallet:{holder}")
}

fn outcome_of(err: &RedisError) -> Outcome {
    if err.is_io_error() || err.is_connection_dropped() || err.is_timeout() {
        Outcome::Transport
    } else {
        Outcome::Other
    }
}

impl RedisStore {
    /// Opens `connections` multiplexed connections and empties the server.
    pub async fn open(url: &str, connections: usize) -> Result<RedisStore, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis {url}: {e}"))?;
        let connections = connections.clamp(1, MAX_CONNECTIONS);
        let mut opened = Vec::with_capacity(connections);
        for _ in 0..connections {
            opened.push(
                client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| format!("redis connect {url}: {e}"))?,
            );
        }
        let mut admin = opened
            .first()
            .cloned()
            .ok_or("redis: no connection opened")?;
        redis::cmd("FLUSHALL")
            .query_async::<()>(&mut admin)
            .await
            .map_err(|e| format!("redis FLUSHALL: {e}"))?;
        let config: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendfsync")
            .query_async(&mut admin)
            .await
            .map_err(|e| format!("redis CONFIG GET: {e}"))?;
        let appendonly: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query_async(&mut admin)
            .await
            .map_err(|e| format!("redis CONFIG GET: {e}"))?;
        let appendfsync = if appendonly.get(1).map(String::as_str) == Some("yes") {
            config.get(1).cloned().unwrap_or_default()
        } else {
            "no-aof".into()
        };
        Ok(RedisStore {
            connections: opened,
            hold_all: Script::new(HOLD_ALL),
            release_mine: Script::new(RELEASE_MINE),
            pay: Script::new(PAY),
            appendfsync,
        })
    }

    /// Wallets `1..=wallets` holding `funding` each.
    pub async fn fund(&self, wallets: usize, funding: i64) -> Result<(), String> {
        let mut admin = self.connections[0].clone();
        let ids: Vec<i64> = (1..=wallets as i64).collect();
        for chunk in ids.chunks(CHUNK) {
            let mut mset = redis::cmd("MSET");
            for id in chunk {
                mset.arg(wallet_key(*id)).arg(funding);
            }
            mset.query_async::<()>(&mut admin)
                .await
                .map_err(|e| format!("redis MSET wallets: {e}"))?;
        }
        Ok(())
    }

    pub fn connections(&self) -> usize {
        self.connections.len()
    }

    fn connection(&self, holder: i64) -> MultiplexedConnection {
        let n = holder.unsigned_abs() as usize % self.connections.len();
        self.connections[n].clone()
    }

    pub async fn hold(&self, holder: i64, seats: &[i32], hold_secs: u32) -> Result<(), Outcome> {
        let mut con = self.connection(holder);
        let won = if let [seat] = seats {
            let reply: Option<String> = redis::cmd("SET")
                .arg(seat_key(*seat))
                .arg(holder)
                .arg("NX")
                .arg("EX")
                .arg(hold_secs)
                .query_async(&mut con)
                .await
                .map_err(|e| outcome_of(&e))?;
            reply.is_some()
        } else {
            let mut call = self.hold_all.prepare_invoke();
            for seat in seats {
                call.key(seat_key(*seat));
            }
            call.arg(holder).arg(hold_secs);
            let reply: i64 = call
                .invoke_async(&mut con)
                .await
                .map_err(|e| outcome_of(&e))?;
            reply == 1
        };
        if won {
            Ok(())
        } else {
            Err(Outcome::Conflict)
        }
    }

    pub async fn release(&self, holder: i64, seats: &[i32]) -> Result<(), Outcome> {
        let mut con = self.connection(holder);
        let mut call = self.release_mine.prepare_invoke();
        for seat in seats {
            call.key(seat_key(*seat));
        }
        call.arg(holder);
        let released: i64 = call
            .invoke_async(&mut con)
            .await
            .map_err(|e| outcome_of(&e))?;
        if released == seats.len() as i64 {
            Ok(())
        } else {
            Err(Outcome::NotCancellable)
        }
    }

    pub async fn free_in(&self, from: i32, to: i32) -> Result<Vec<i32>, Outcome> {
        if from >= to {
            return Ok(Vec::new());
        }
        let mut con = self.connection(i64::from(from));
        let mut mget = redis::cmd("MGET");
        for seat in from..to {
            mget.arg(seat_key(seat));
        }
        let values: Vec<Option<String>> = mget
            .query_async(&mut con)
            .await
            .map_err(|e| outcome_of(&e))?;
        Ok((from..to)
            .zip(values)
            .filter(|(_, v)| v.is_none())
            .map(|(seat, _)| seat)
            .collect())
    }

    pub async fn pay(&self, holder: i64, seats: &[i32], amount: i64) -> Result<(), Outcome> {
        let mut con = self.connection(holder);
        let mut call = self.pay.prepare_invoke();
        call.key(wallet_key(holder));
        for seat in seats {
            call.key(seat_key(*seat));
        }
        call.arg(holder).arg(amount);
        let reply: i64 = call
            .invoke_async(&mut con)
            .await
            .map_err(|e| outcome_of(&e))?;
        match reply {
            1 => Ok(()),
            -1 => Err(Outcome::Expired),
            -2 => Err(Outcome::InsufficientBalance),
            _ => Err(Outcome::Other),
        }
    }

    async fn scan(&self, pattern: &str) -> Result<Vec<(String, String)>, String> {
        let mut con = self.connections[0].clone();
        let mut cursor: u64 = 0;
        let mut keys: Vec<String> = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(CHUNK)
                .query_async(&mut con)
                .await
                .map_err(|e| format!("redis SCAN: {e}"))?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        keys.sort();
        keys.dedup(); // SCAN may return a key twice
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut mget = redis::cmd("MGET");
            for key in chunk {
                mget.arg(key);
            }
            let values: Vec<Option<String>> = mget
                .query_async(&mut con)
                .await
                .map_err(|e| format!("redis MGET: {e}"))?;
            // A key that expired between SCAN and MGET is simply free.
            out.extend(
                chunk
                    .iter()
                    .zip(values)
                    .filter_map(|(k, v)| v.map(|v| (k.clone(), v))),
            );
        }
        Ok(out)
    }

    pub async fn final_state(&self) -> Result<FinalState, String> {
        let mut state = FinalState::default();
        let prefix = format!("seat:{SCHEDULE}:");
        for (key, value) in self.scan(&format!("{prefix}*")).await? {
            let seat: i32 = key
                .strip_prefix(&prefix)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("unexpected key {key}"))?;
            let seat_state = match value.strip_prefix(SOLD_PREFIX) {
                Some(holder) => {
                    SeatState::Sold(holder.parse().map_err(|_| format!("{key}={value}"))?)
                }
                None => SeatState::Held(value.parse().map_err(|_| format!("{key}={value}"))?),
            };
            state.seats.push((seat, seat_state));
        }
        state.seats.sort_by_key(|(seat, _)| *seat);
        for (key, value) in self.scan("wallet:*").await? {
            let balance: i64 = value.parse().map_err(|_| format!("{key}={value}"))?;
            state.wallet_total = state
                .wallet_total
                .checked_add(balance)
                .ok_or("wallet total overflows")?;
            state.wallets += 1;
        }
        Ok(state)
    }

    async fn info(&self) -> Result<BTreeMap<String, String>, String> {
        let mut con = self.connections[0].clone();
        let text: String = redis::cmd("INFO")
            .arg("everything")
            .query_async(&mut con)
            .await
            .map_err(|e| format!("redis INFO: {e}"))?;
        Ok(text
            .lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect())
    }

    /// CPU seconds of the server, commands, fsync-related counters.
    pub async fn counters(&self) -> Result<BTreeMap<String, f64>, String> {
        let info = self.info().await?;
        let mut out = BTreeMap::new();
        for name in [
            "used_cpu_sys",
            "used_cpu_user",
            "used_cpu_sys_main_thread",
            "used_cpu_user_main_thread",
            "total_commands_processed",
            "aof_delayed_fsync",
            "total_net_input_bytes",
            "expired_keys",
        ] {
            if let Some(v) = info.get(name).and_then(|v| v.parse().ok()) {
                out.insert(name.to_string(), v);
            }
        }
        Ok(out)
    }

    pub async fn settings(&self) -> Value {
        let info = self.info().await.unwrap_or_default();
        json!({
            "redis_version": info.get("redis_version"),
            "appendfsync": self.appendfsync,
            "connected_clients": info.get("connected_clients"),
            "io_threads_active": info.get("io_threads_active"),
        })
    }
}
