//! The mock's hosted checkout page: plain HTML, no script. "Pay" and
//! "Decline" are forms POSTing to the page's own `pay` and `decline`, relative
//! to the page, so it works under whatever prefix the mock is mounted.

/// Escapes text for HTML element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The page around `body`. It names an empty icon: without one a browser
/// asks the host for `/favicon.ico`, a 404 in the payer's console.
fn frame(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n{body}\n\
         <p><small>Boxoffice test payment provider: no real money moves.</small></p>\n</body></html>\n",
        title = escape(title)
    )
}

/// The page of an intent: its amount and, while payable, the two buttons.
pub(super) fn page(id: &str, amount_minor: i64, currency: &str, status: &str) -> String {
    let currency = escape(&currency.to_uppercase());
    let mut body = format!(
        "<p>Amount: <strong data-amount=\"{amount_minor}\">{amount_minor} {currency}</strong> \
         (in the currency's smallest unit)</p>\n<p>Payment {}</p>\n",
        escape(id)
    );
    if status == "succeeded" || status == "canceled" {
        body.push_str(&format!(
            "<p>This payment is {}: there is nothing left to pay.</p>",
            escape(status)
        ));
    } else {
        // The page's URL is /checkout/{id}: a relative action resolves to
        // /checkout/pay, so the id is repeated in the action.
        let id = escape(id);
        body.push_str(&format!(
            "<form method=\"post\" action=\"{id}/pay\"><button type=\"submit\">Pay</button></form>\n\
             <form method=\"post\" action=\"{id}/decline\"><button type=\"submit\">Decline</button></form>"
        ));
    }
    frame("Test payment", &body)
}

pub(super) fn result(message: &str) -> String {
    frame("Test payment", &format!("<p>{}</p>", escape(message)))
}

/// A declined card: said, with a link back to the shop when the intent named one.
pub(super) fn declined(return_url: Option<&str>) -> String {
    let mut body = "<p>Payment declined: your card was declined</p>".to_string();
    if let Some(url) = return_url {
        body.push_str(&format!(
            "\n<p><a href=\"{}\">Back to the shop</a></p>",
            escape(url)
        ));
    }
    frame("Test payment", &body)
}

pub(super) fn not_found() -> String {
    frame("Test payment", "<p>No such payment.</p>")
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(
            super::escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
