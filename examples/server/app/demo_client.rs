//! A relying party on the server itself, to try the provider with a browser: `/demo` starts a
//! code flow with PKCE, `state` and `nonce` kept in a cookie; `/demo/callback` checks `state`,
//! redeems the code at the token endpoint's logic and shows the tokens' claims. `/dev/outbox`
//! shows the mail the server sent (the sign-up codes), since it sends none for real.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use idcore::directory::{ClientId, OrgDomain};
use idcore::secret::{Secret, constant_time_eq};
use idcore::store::Store;
use idcore::tokens::ClientAuth;
use idcore::tokens::pkce::CodeChallenge;
use serde::Deserialize;

use super::html::{self, escape};
use super::{App, cookie, see_other, set_cookie};
// The demo module beside `app` (in the example, and where a test includes both).
use super::super::demo::CALLBACK;

const FLOW_COOKIE: &str = "idcore_demo_flow";

#[derive(Deserialize)]
pub struct Start {
    org: String,
    client_id: String,
}

/// `GET /demo?org=…&client_id=…`.
pub async fn start<S: Store>(State(app): State<Arc<App<S>>>, Query(q): Query<Start>) -> Response {
    let (Ok(org), Ok(client_id)) = (OrgDomain::parse(&q.org), ClientId::parse(&q.client_id)) else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "Demo",
            "<p>Give org and client_id.</p>",
        );
    };
    let (Ok(verifier), Ok(state), Ok(nonce)) =
        (Secret::generate(), Secret::generate(), Secret::generate())
    else {
        return html::page(StatusCode::SERVICE_UNAVAILABLE, "Demo", "<p>Try again.</p>");
    };
    let Ok(challenge) = CodeChallenge::s256(verifier.expose()) else {
        return html::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Demo",
            "<p>PKCE failed.</p>",
        );
    };
    let redirect = format!("{}{CALLBACK}", app.base());
    let location = format!(
        "/t/{org}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid+email+profile+offline_access&code_challenge={}&code_challenge_method=S256&state={}&nonce={}",
        encode(&redirect),
        challenge.as_str(),
        state.expose(),
        nonce.expose(),
    );
    let flow = format!("{org}.{client_id}.{}.{}", verifier.expose(), state.expose());
    let mut r = see_other(&location);
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&app, FLOW_COOKIE, &flow, "/demo", Some(600)),
    );
    r
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /demo/callback`.
pub async fn callback<S: Store>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    if let Some(error) = &q.error {
        let description = q.error_description.as_deref().unwrap_or_default();
        return html::page(
            StatusCode::OK,
            "Demo: the provider refused",
            &format!("<p>{}: {}</p>", escape(error), escape(description)),
        );
    }
    let flow: Vec<&str> = cookie(&headers, FLOW_COOKIE)
        .unwrap_or_default()
        .split('.')
        .collect();
    let [org, client_id, verifier, state] = flow[..] else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "Demo",
            "<p>No flow in progress: start at /demo.</p>",
        );
    };
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), state.as_bytes()));
    let (Some(code), true, Ok(client_id)) = (&q.code, state_ok, ClientId::parse(client_id)) else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "Demo",
            "<p>The state does not match this browser's flow.</p>",
        );
    };
    let redirect = format!("{}{CALLBACK}", app.base());
    let tokens = app.identity.tokens();
    let set = match tokens
        .exchange_code(&ClientAuth::public(client_id), code, &redirect, verifier)
        .await
    {
        Ok(set) => set,
        Err(e) => {
            return html::page(
                StatusCode::BAD_REQUEST,
                "Demo: the code was refused",
                &format!("<p>{}</p>", escape(&e.to_string())),
            );
        }
    };
    let claims = match tokens.verify_live(&set.access_token).await {
        Ok(v) => serde_json::to_string_pretty(&v.claims).unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    let logout = format!(
        "/t/{org}/logout?id_token_hint={}&post_logout_redirect_uri={}",
        set.id_token,
        encode(app.base())
    );
    html::page(
        StatusCode::OK,
        "Demo: signed in",
        &format!(
            "<p>The code was redeemed. The access token's claims:</p><pre>{}</pre><p><a href=\"{}\">Sign out</a></p>",
            escape(&claims),
            escape(&logout)
        ),
    )
}

/// `GET /dev/outbox`: the mail sent, newest first.
pub async fn outbox<S: Store>(State(app): State<Arc<App<S>>>) -> Response {
    let mut body = String::new();
    for mail in app.outbox.sent().iter().rev() {
        body.push_str(&format!(
            "<h2>{}</h2><p>to {}</p><pre>{}</pre>",
            escape(&mail.subject),
            escape(mail.to.as_str()),
            escape(&mail.body)
        ));
    }
    if body.is_empty() {
        body.push_str("<p>No mail yet.</p>");
    }
    html::page(StatusCode::OK, "Outbox", &body)
}

fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
