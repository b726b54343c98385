//! The web pages of API.md, "Web pages": the box office for people, at `/`.
//!
//! Each page is a small HTML shell (rendered here, the same for every page
//! but its title and script) plus one ES module under `/assets/pages/` that
//! draws it by calling the JSON API under `/api/v1`, exactly as any other
//! client does. So the pages hold no business rule of their own: prices,
//! limits, who may see what and every refusal come from the API, and a page
//! only shows them (`assets/js/words.js` turns error codes into words).
//!
//! The files are embedded in the binary at compile time (`assets.rs`): no CDN,
//! no build step, nothing else to install. `--pages-dir` serves them from a
//! directory instead, for editing pages without a rebuild.
//!
//! A page's path parameters (a concert id, a schedule id) are read by its
//! script from `location`; the shell does not look them up, so an unknown id
//! is the API's 404, shown by the page in words.

mod assets;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

pub use assets::PageFiles;

/// One page: where it lives, its title, and the module that draws it
/// (`/assets/pages/<script>.js`).
struct Page {
    path: &'static str,
    title: &'static str,
    script: &'static str,
}

/// Every page. A page's script must be in `assets::FILES` (a unit test checks).
const PAGES: &[Page] = &[
    Page {
        path: "/",
        title: "Concerts",
        script: "concerts",
    },
    Page {
        path: "/concerts/{concertId}",
        title: "Concert",
        script: "concert",
    },
    Page {
        path: "/account",
        title: "Account",
        script: "account",
    },
    Page {
        path: "/schedules/{scheduleId}",
        title: "Seat map",
        script: "seat_map",
    },
    Page {
        path: "/schedules/{scheduleId}/queue",
        title: "Waiting room",
        script: "waiting_room",
    },
    Page {
        path: "/checkout/{reservationId}",
        title: "Checkout",
        script: "checkout",
    },
    Page {
        path: "/wallet",
        title: "Wallet",
        script: "wallet",
    },
    Page {
        path: "/tickets",
        title: "My tickets",
        script: "tickets",
    },
    Page {
        path: "/door",
        title: "Door check-in",
        script: "door",
    },
    Page {
        path: "/admin",
        title: "Admin",
        script: "admin",
    },
    Page {
        path: "/admin/venues",
        title: "Venues",
        script: "admin_venues",
    },
    Page {
        path: "/admin/concerts",
        title: "Concerts and dates",
        script: "admin_concerts",
    },
    Page {
        path: "/admin/schedules/{scheduleId}",
        title: "Date",
        script: "admin_schedule",
    },
    Page {
        path: "/admin/users",
        title: "Users and roles",
        script: "admin_users",
    },
    Page {
        path: "/admin/webhooks",
        title: "Webhooks",
        script: "admin_webhooks",
    },
];

/// What the pages may load and talk to: only this origin (the built-in test
/// provider's checkout page is a navigation, not a fetch), no inline script,
/// and no framing (a framed page could be clickjacked into a purchase).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Every page's path pattern and script name (the HTTP tests visit each).
pub fn page_paths() -> impl Iterator<Item = (&'static str, &'static str)> {
    PAGES.iter().map(|page| (page.path, page.script))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    for page in PAGES {
        let (title, script) = (page.title, page.script);
        cfg.service(
            web::resource(page.path)
                .route(web::get().to(move || async move { shell(title, script) })),
        );
    }
    assets::configure(cfg);
}

/// The headers every page and asset carries.
pub(crate) fn secure(response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

fn shell(title: &str, script: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Boxoffice</title>\n\
         <link rel=\"stylesheet\" href=\"/assets/app.css\">\n\
         <link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\">\n\
         <script type=\"module\" src=\"/assets/pages/{script}.js\"></script>\n\
         </head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"site\"><nav aria-label=\"Main\" id=\"nav\">\
         <a class=\"brand\" href=\"/\">Boxoffice</a></nav></header>\n\
         <main id=\"main\" tabindex=\"-1\"><h1>{title}</h1><p class=\"loading\">Loading…</p></main>\n\
         <div id=\"notice\" role=\"status\" aria-live=\"polite\"></div>\n\
         <noscript><p>These pages need JavaScript.</p></noscript>\n\
         </body>\n</html>\n"
    );
    let mut response = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body);
    secure(&mut response);
    response
}

/// An unknown path outside the API, asked for by a browser: a page saying
/// so, with a way back, instead of the API's JSON error.
pub fn wants_page(req: &HttpRequest) -> bool {
    !req.path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

pub fn not_found_page() -> HttpResponse {
    let mut response = HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Not found · Boxoffice</title>\
             <link rel=\"stylesheet\" href=\"/assets/app.css\">\
             <link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\"></head>\n<body><main id=\"main\">\
             <h1>Page not found</h1><p>There is no page here. \
             <a href=\"/\">See the concerts</a>.</p></main></body></html>\n",
        );
    secure(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_script_is_an_embedded_file() {
        for page in PAGES {
            let name = format!("pages/{}.js", page.script);
            assert!(
                assets::FILES.iter().any(|file| file.name == name),
                "{} needs {name} in assets::FILES",
                page.path
            );
        }
    }
}
