//! Tests that run the real `boxoffice` binary as a child process, one test
//! binary: `kill -9` and restart, torn files, overload and slow clients,
//! start-up settings. `binary` holds the one way they start it.

mod binary;
mod cancel_kill;
mod card_kill;
mod charge_storm;
mod draft_kill;
mod graceful_stop;
mod http_crash;
mod kill_engine;
mod kill_loop;
mod limits;
mod mail_kill;
mod mock_provider;
mod newcomer_serve;
mod outbox_kill;
mod overload;
mod queue_kill;
mod search_kill;
mod secrets_at_rest;
mod serve_settings;
mod torn_writes;
mod webhook_kill;
