//! The pages' files (`http/assets/`), embedded in the binary at compile time
//! and served at `/assets/<name>`. Only the names listed in [`FILES`] exist:
//! a request names a table entry, never a path on disk, so nothing outside
//! the table can be reached (not even with `--pages-dir`, which only swaps
//! where a listed file's bytes come from).

use std::path::PathBuf;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// One embedded file.
pub(super) struct File {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

macro_rules! files {
    ($($name:literal => $content_type:expr),* $(,)?) => {
        &[$(File {
            name: $name,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $name)),
            content_type: $content_type,
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the pages use. A new page adds its script here and its row to
/// `PAGES` in `mod.rs`.
pub(super) const FILES: &[File] = files![
    "app.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "js/api.js" => JS,
    "js/dom.js" => JS,
    "js/layout.js" => JS,
    "js/seat_svg.js" => JS,
    "js/session.js" => JS,
    "js/words.js" => JS,
    "pages/account.js" => JS,
    "pages/admin.js" => JS,
    "pages/admin_concerts.js" => JS,
    "pages/admin_schedule.js" => JS,
    "pages/admin_users.js" => JS,
    "pages/admin_venues.js" => JS,
    "pages/admin_webhooks.js" => JS,
    "pages/checkout.js" => JS,
    "pages/concert.js" => JS,
    "pages/concerts.js" => JS,
    "pages/door.js" => JS,
    "pages/seat_map.js" => JS,
    "pages/tickets.js" => JS,
    "pages/waiting_room.js" => JS,
    "pages/wallet.js" => JS,
];

/// Where the files' bytes come from: the binary, or `--pages-dir`.
#[derive(Clone, Debug, Default)]
pub struct PageFiles {
    /// Read the listed files from here at each request (for editing pages
    /// without a rebuild); `None` serves the embedded copies.
    pub dir: Option<PathBuf>,
}

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/assets/{name:.+}").route(web::get().to(serve)));
}

async fn serve(name: web::Path<String>, files: Option<web::Data<PageFiles>>) -> HttpResponse {
    let Some(file) = FILES.iter().find(|file| file.name == name.as_str()) else {
        return super::not_found_page();
    };
    let bytes = match files.as_ref().and_then(|files| files.dir.as_ref()) {
        None => file.bytes.to_vec(),
        Some(dir) => match web::block({
            let path = dir.join(file.name);
            move || std::fs::read(path)
        })
        .await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(err)) => {
                tracing::warn!(file = file.name, %err, "--pages-dir: cannot read; serving the embedded copy");
                file.bytes.to_vec()
            }
            Err(_) => file.bytes.to_vec(),
        },
    };
    let mut response = HttpResponse::Ok()
        .content_type(file.content_type)
        // Revalidated on each load: a new binary's pages show at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(bytes);
    super::secure(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_typed_by_extension() {
        for (i, file) in FILES.iter().enumerate() {
            assert!(
                FILES[..i].iter().all(|other| other.name != file.name),
                "{} listed twice",
                file.name
            );
            let expected = match file.name.rsplit('.').next() {
                Some("js") => JS,
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                other => panic!("{}: add the type of {other:?}", file.name),
            };
            assert_eq!(file.content_type, expected, "{}", file.name);
        }
    }
}
