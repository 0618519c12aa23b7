//! Server-rendered pages: no JavaScript, every value escaped, and the headers that keep the
//! pages from being framed, cached or fed scripts.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// The `Content-Security-Policy` of every page: nothing but its own inline style, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'";

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        escape(name),
        escape(value)
    )
}

/// A whole page around `body` (already HTML), titled `title`.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem; color: #1d2433; }}
h1 {{ font-size: 1.4rem; }}
label {{ display: block; margin-top: 1rem; font-size: .9rem; }}
input[type=email], input[type=password], input[type=text] {{ width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }}
button {{ margin-top: 1.2rem; width: 100%; padding: .6rem; font-size: 1rem; background: #2f5fd0; color: #fff; border: 0; border-radius: 4px; }}
.error {{ color: #a11; background: #fdecec; padding: .6rem; border-radius: 4px; }}
pre {{ white-space: pre-wrap; word-break: break-all; background: #f3f4f7; padding: .5rem; }}
</style></head>
<body><h1>{title}</h1>
{body}
</body></html>"#,
        title = escape(title)
    );
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An error block, or nothing.
pub fn error(message: Option<&str>) -> String {
    message.map_or_else(String::new, |m| {
        format!(r#"<p class="error" role="alert">{}</p>"#, escape(m))
    })
}
