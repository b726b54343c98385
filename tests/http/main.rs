//! The HTTP contract (`docs/api.md`), one test binary: every endpoint
//! through real HTTP against the real application on a temp data dir
//! (`test_support::app::spawn_app`), bad inputs included.

mod abuse;
mod auth_catalog;
mod booking;
mod box_office;
mod cards;
mod events;
mod identity;
mod limits;
mod mail;
mod methods;
mod newcomer;
mod pages;
mod paging;
mod schedule_admin;
mod search;
mod security;
mod sessions;
mod smoke;
mod streams;
mod webhooks;
