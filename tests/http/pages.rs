//! The web pages (`boxoffice_http::pages`) as HTTP sees them: every page's
//! shell and every file it loads answer with the right type and the
//! security headers; nothing outside the embedded table can be fetched;
//! unknown paths give a page to a browser and JSON to the API's clients;
//! `--pages-dir` swaps where files come from, and only listed ones. (What
//! the pages do in a browser is `tests/browser`, run by `.ci/run`.)

use actix_web::http::Method;
use test_support::app::*;

/// A page path with its `{param}`s filled in.
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|part| {
            if part.starts_with('{') {
                "some-id"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn header(reply: &Reply, name: &str) -> String {
    reply.header(name).unwrap_or_default()
}

#[actix_rt::test]
async fn every_page_and_the_files_it_loads_are_served_with_security_headers() {
    let app = spawn_app().await;
    for (pattern, script) in boxoffice_http::pages::page_paths() {
        let path = concrete(pattern);
        let page = app.get(&path, None).await;
        assert_eq!(page.status.as_u16(), 200, "{path}");
        assert!(
            header(&page, "content-type").starts_with("text/html"),
            "{path}"
        );
        let csp = header(&page, "content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(header(&page, "x-content-type-options"), "nosniff", "{path}");
        let script_src = format!("/assets/pages/{script}.js");
        assert!(page.text.contains(&script_src), "{path} loads {script_src}");
        for file in [
            script_src.as_str(),
            "/assets/app.css",
            "/assets/favicon.svg",
        ] {
            assert!(page.text.contains(file), "{path} links {file}");
            let served = app.get(file, None).await;
            assert_eq!(served.status.as_u16(), 200, "{file}");
            assert!(!served.text.is_empty(), "{file}");
            assert_eq!(
                header(&served, "x-content-type-options"),
                "nosniff",
                "{file}"
            );
        }
        let head = app.raw(Method::HEAD, &path, None, &[], None).await;
        assert_eq!(head.status.as_u16(), 200, "HEAD {path}");
    }
    let script = app.get("/assets/js/api.js", None).await;
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    let css = app.get("/assets/app.css", None).await;
    assert!(header(&css, "content-type").starts_with("text/css"));
}

#[actix_rt::test]
async fn only_listed_files_are_reachable_under_assets() {
    let app = spawn_app().await;
    for path in [
        "/assets/nope.js",
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%2f..%2fsrc%2fpages%2fmod.rs",
        "/assets/js/../../src/pages/mod.rs",
        "/assets/pages/",
        "/assets/app.css/",
    ] {
        let reply = app.get_with(path, None, &[("Accept", "text/html")]).await;
        assert_eq!(reply.status.as_u16(), 404, "{path}");
        assert!(
            !reply.text.contains("[package]") && !reply.text.contains("fn "),
            "{path}"
        );
    }
}

#[actix_rt::test]
async fn unknown_paths_give_browsers_a_page_and_api_clients_json() {
    let app = spawn_app().await;
    let browser = app
        .get_with(
            "/no/such/page",
            None,
            &[("Accept", "text/html,application/xhtml+xml")],
        )
        .await;
    assert_eq!(browser.status.as_u16(), 404);
    assert!(header(&browser, "content-type").starts_with("text/html"));
    assert!(browser.text.contains("Page not found") && browser.text.contains("href=\"/\""));
    let client = app.get("/no/such/page", None).await;
    client.expect(404, "NOT_FOUND");
    // Under /api/ the API's shape holds whatever the client accepts.
    let api = app
        .get_with("/api/v1/no-such-resource", None, &[("Accept", "text/html")])
        .await;
    api.expect(404, "NOT_FOUND");
    // A page is read-only: another method is refused, and nothing is stored.
    let post = app.post("/account", None, serde_json::json!({})).await;
    assert_eq!(post.status.as_u16(), 405);
}

#[actix_rt::test]
async fn pages_dir_serves_listed_files_from_disk_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("app.css"), "/* edited on disk */").expect("write");
    std::fs::write(dir.path().join("secret.txt"), "not listed").expect("write");
    let pages_dir = dir.path().to_path_buf();
    let app = spawn_app_with(move |settings| settings.pages_dir = Some(pages_dir)).await;
    let css = app.get("/assets/app.css", None).await;
    assert_eq!(css.status.as_u16(), 200);
    assert_eq!(css.text, "/* edited on disk */");
    // Missing on disk: the embedded copy.
    let script = app.get("/assets/js/api.js", None).await;
    assert_eq!(script.status.as_u16(), 200);
    assert!(script.text.contains("export function api"));
    let unlisted = app.get("/assets/secret.txt", None).await;
    assert_eq!(unlisted.status.as_u16(), 404);
}
