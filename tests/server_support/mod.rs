//! The server example on a loopback port, with an organization, an application and a user
//! with an authenticator; and what a test needs to drive its login form over HTTP.
#![allow(dead_code)]

#[path = "../../examples/server/app/mod.rs"]
pub mod app;
#[path = "../../examples/server/demo.rs"]
pub mod demo;

use std::collections::HashMap;
use std::sync::Arc;

use idcore::mail::MemoryOutbox;
use idcore::risk::RequestContext;
use idcore::signin::SignUp;
use idcore::signin::password::Password;
use idcore::store::Store;
use idcore::tokens::keys::EncryptionKey;
use idcore::{
    ApplicationScope, ApplicationType, Identity, NewApplication, NewOrganization, NewUser,
};

pub const EMAIL: &str = "nina@example.com";
pub const PASSWORD: &str = "feeling good, 1965";
/// A server on a loopback port, its issuer, the application and the user's authenticator.
pub struct Running {
    pub base: String,
    pub org: String,
    pub client_id: String,
    pub callback: String,
    pub totp: totp_rs::Totp,
}

pub async fn start<S: Store + 'static>(store: S, callback: &str) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let outbox = MemoryOutbox::new();
    let identity = Identity::builder()
        .issuer(base.clone())
        .key_encryption_key(EncryptionKey::from_bytes(&[5; 32]).unwrap())
        .mailer(outbox.clone())
        .store(store)
        .build()
        .unwrap();
    let org = identity
        .organizations()
        .create(NewOrganization::new("Simone").unwrap())
        .await
        .unwrap()
        .domain;
    let callback = callback.to_owned();
    let app = identity
        .applications(ApplicationScope::Organization(org.clone()))
        .create(
            NewApplication::new("RP", ApplicationType::React)
                .unwrap()
                .with(|a| {
                    a.allowed_redirect_urls(&[callback.as_str()])?
                        .allowed_logout_urls(&["http://127.0.0.1:7777/bye"])
                })
                .unwrap(),
        )
        .await
        .unwrap();
    let signin = identity.signin(&org);
    signin
        .sign_up(SignUp::new(
            NewUser::new(EMAIL).unwrap(),
            Password::new(PASSWORD),
        ))
        .await
        .unwrap();
    let body = outbox.sent().last().unwrap().body.clone();
    let code: String = body
        .split("code is ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let user = signin
        .confirm_email(EMAIL, &code, &RequestContext::new())
        .await
        .unwrap();
    let enrolment = signin.begin_totp_enrolment(user.id).await.unwrap();
    let totp = totp_rs::Totp::from_url(enrolment.otpauth_uri().expose()).unwrap();
    let now = u64::try_from(identity.now().unix_timestamp()).unwrap();
    // The enrolment spends the previous step, so the sign-in's current code is still fresh.
    signin
        .confirm_totp_enrolment(
            user.id,
            &totp.generate(now - 30).to_string(),
            &RequestContext::new(),
        )
        .await
        .unwrap();
    let state = Arc::new(app::App::new(identity, outbox));
    tokio::spawn(app::serve(listener, state));
    Running {
        base,
        org: org.to_string(),
        client_id: app.application.client_id.to_string(),
        callback,
        totp,
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The `name="…" value="…"` pairs of a page's hidden inputs (the page escapes `&"<>'`).
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|rest| {
            let name = rest
                .split("name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let value = rest
                .split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

pub fn query_of(location: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

/// Posts `form` (the page's hidden fields plus `extra`) to `path`.
pub async fn submit(
    browser: &reqwest::Client,
    base: &str,
    path: &str,
    page: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = hidden_fields(page);
    form.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    browser
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
