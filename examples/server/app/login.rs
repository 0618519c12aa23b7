//! The hosted login page: `/authorize` checks the request and reuses an ongoing session (single
//! sign-on) or shows the form; the password, then the TOTP or recovery code when an
//! authenticator is enrolled, open a Crowd-style session bound to the client's address; the
//! session mints the code and the browser goes back to the application.
//!
//! The authorization request travels in hidden fields (`oauth_*`) and is checked again on every
//! step, so the server keeps no state per login. Every form carries a CSRF token that must
//! equal the `idcore_csrf` cookie (double submit; the cookie is `HttpOnly`, `SameSite=Lax`).
//! Failures never say whether an account exists.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Form;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use idcore::Error;
use idcore::directory::OrgDomain;
use idcore::protocol::authorize::{
    AuthorizeError, AuthorizeRequest, Prompt, authorize_request, code_redirect,
};
use idcore::protocol::end_session::end_session_request;
use idcore::risk::RequestContext;
use idcore::secret::{Secret, constant_time_eq};
use idcore::sessions::{Authenticate, Session, SessionStep, ValidationFactor, ValidationFactors};
use idcore::signin::password::Password;
use idcore::signin::{Factor, FactorKind, PendingSignIn};
use idcore::store::Store;

use super::html::{self, escape, hidden};
use super::{App, cookie, org, see_other, set_cookie};

/// The session cookie (one per organization: its path is the organization's).
pub const SESSION_COOKIE: &str = "idcore_session";
/// The CSRF cookie.
pub const CSRF_COOKIE: &str = "idcore_csrf";
/// The prefix of the hidden fields carrying the authorization request.
const OAUTH: &str = "oauth_";

type Params = Vec<(String, String)>;

/// `GET /t/{org}/authorize`.
pub async fn authorize<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(raw): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<Params>,
) -> Response {
    let org = match org(&raw) {
        Ok(org) => org,
        Err(r) => return r,
    };
    let request = match authorize_request(&app.identity, &org, &query).await {
        Ok(request) => request,
        Err(e) => return refused(e),
    };
    let ip = peer.ip();
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Some(response) = single_sign_on(&app, &org, &request, token, ip).await
    {
        return response;
    }
    if request.prompt == Prompt::None {
        return see_other(&request.error_redirect("login_required", "the user must sign in"));
    }
    let hint = request.login_hint.clone();
    form_page(
        &app,
        &org,
        &headers,
        &query,
        Step::Password {
            login: hint.as_deref(),
        },
        None,
    )
}

/// `POST /t/{org}/login`: the password step.
pub async fn password<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(raw): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    let org = match org(&raw) {
        Ok(org) => org,
        Err(r) => return r,
    };
    let (query, request) = match checked(&app, &org, &headers, &form).await {
        Ok(checked) => checked,
        Err(r) => return r,
    };
    let login = field(&form, "login").unwrap_or_default().to_owned();
    let ip = peer.ip();
    let step = app
        .identity
        .sessions(&org)
        .application(request.authorization.client_id)
        .authenticate(Authenticate {
            login: login.clone(),
            password: Password::new(field(&form, "password").unwrap_or_default()),
            factors: factors(ip),
            duration: None,
            context: RequestContext::new().client_ip(ip),
        })
        .await;
    match step {
        Ok(step) => after_step(&app, &org, &headers, &query, &request, step, ip).await,
        Err(e) => {
            let message = message(&e);
            form_page(
                &app,
                &org,
                &headers,
                &query,
                Step::Password {
                    login: Some(&login),
                },
                Some(message),
            )
        }
    }
}

/// `POST /t/{org}/login/factor`: the TOTP (or recovery code) step.
pub async fn factor<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(raw): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    let org = match org(&raw) {
        Ok(org) => org,
        Err(r) => return r,
    };
    let (query, request) = match checked(&app, &org, &headers, &form).await {
        Ok(checked) => checked,
        Err(r) => return r,
    };
    let pending = field(&form, "pending").unwrap_or_default().to_owned();
    let code: String = field(&form, "code")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let factor = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Factor::Totp(code)
    } else {
        Factor::RecoveryCode(code)
    };
    let ip = peer.ip();
    let step = app
        .identity
        .sessions(&org)
        .application(request.authorization.client_id)
        .complete(&pending, factor, &RequestContext::new().client_ip(ip))
        .await;
    match step {
        Ok(step) => after_step(&app, &org, &headers, &query, &request, step, ip).await,
        Err(e) => form_page(
            &app,
            &org,
            &headers,
            &query,
            Step::Factor { pending: &pending },
            Some(match e {
                Error::SignInFailed => "That code is not right, or the sign-in expired.",
                other => message(&other),
            }),
        ),
    }
}

/// `GET /t/{org}/logout`: RP-initiated logout.
pub async fn logout<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Query(query): Query<Params>,
) -> Response {
    let org = match org(&raw) {
        Ok(org) => org,
        Err(r) => return r,
    };
    let request = match end_session_request(&app.identity, &org, &query).await {
        Ok(request) => request,
        Err(e) => return refused(e),
    };
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        // An unknown or expired session is already over.
        if let Err(e) = app.identity.sessions(&org).invalidate(token).await
            && e.is_retryable()
        {
            return html::page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "<p>Signing out did not complete. Try again.</p>",
            );
        }
    }
    let mut response = match &request.redirect {
        Some(location) => see_other(location),
        None => html::page(StatusCode::OK, "Signed out", "<p>You are signed out.</p>"),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&app, SESSION_COOKIE, "", &session_path(&org), Some(0)),
    );
    response
}

// ------------------------------------------------------------------------------- the steps

/// A valid session answers the request without a page; `None` shows the form.
async fn single_sign_on<S: Store>(
    app: &App<S>,
    org: &OrgDomain,
    request: &AuthorizeRequest,
    token: &str,
    ip: IpAddr,
) -> Option<Response> {
    let sessions = app.identity.sessions(org);
    let session = sessions.get(token, &factors(ip)).await.ok()?;
    let now = app.identity.now().unix_timestamp();
    if !request.accepts_session(session.created_at.unix_timestamp(), now) {
        return None;
    }
    let authorized = sessions
        .authorize(token, &factors(ip), request.authorization.clone())
        .await
        .ok()?;
    Some(see_other(&code_redirect(&app.identity, org, &authorized)))
}

/// After a step: the next factor's form, or the session's code and the redirect.
async fn after_step<S: Store>(
    app: &App<S>,
    org: &OrgDomain,
    headers: &HeaderMap,
    query: &Params,
    request: &AuthorizeRequest,
    step: SessionStep,
    ip: IpAddr,
) -> Response {
    match step {
        SessionStep::FactorRequired(pending) => factor_page(app, org, headers, query, &pending),
        SessionStep::Opened(session) => opened(app, org, request, &session, ip).await,
    }
}

async fn opened<S: Store>(
    app: &App<S>,
    org: &OrgDomain,
    request: &AuthorizeRequest,
    session: &Session,
    ip: IpAddr,
) -> Response {
    let token = session.token.expose();
    let authorized = match app
        .identity
        .sessions(org)
        .authorize(token, &factors(ip), request.authorization.clone())
        .await
    {
        Ok(authorized) => authorized,
        Err(e) => {
            return html::page(
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "Sign-in failed",
                &format!("<p>{}</p>", escape(message(&e))),
            );
        }
    };
    let mut response = see_other(&code_redirect(&app.identity, org, &authorized));
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, SESSION_COOKIE, token, &session_path(org), None),
    );
    response
}

fn factor_page<S>(
    app: &App<S>,
    org: &OrgDomain,
    headers: &HeaderMap,
    query: &Params,
    pending: &PendingSignIn,
) -> Response {
    if pending.factors.iter().any(|f| *f != FactorKind::Totp) {
        return html::page(
            StatusCode::FORBIDDEN,
            "Sign-in needs another check",
            "<p>This sign-in needs a check this server does not offer. Contact your administrator.</p>",
        );
    }
    form_page(
        app,
        org,
        headers,
        query,
        Step::Factor {
            pending: pending.token.expose(),
        },
        None,
    )
}

enum Step<'a> {
    Password { login: Option<&'a str> },
    Factor { pending: &'a str },
}

/// The login form of `step`, with the CSRF token (set as a cookie when the browser has none).
fn form_page<S>(
    app: &App<S>,
    org: &OrgDomain,
    headers: &HeaderMap,
    query: &Params,
    step: Step<'_>,
    error: Option<&str>,
) -> Response {
    let (csrf, fresh) = match cookie(headers, CSRF_COOKIE) {
        Some(c) if c.len() >= 32 => (c.to_owned(), false),
        _ => match Secret::generate() {
            Ok(s) => (s.expose().to_owned(), true),
            Err(_) => {
                return html::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again",
                    "<p>The server could not prepare the form.</p>",
                );
            }
        },
    };
    let mut fields = hidden("csrf", &csrf);
    for (k, v) in query {
        fields.push_str(&hidden(&format!("{OAUTH}{k}"), v));
    }
    let base = format!("/t/{org}");
    let (title, body) = match step {
        Step::Password { login } => (
            "Sign in",
            format!(
                r#"{error}<form method="post" action="{base}/login">{fields}
<label for="login">E-mail or username</label>
<input id="login" name="login" type="text" autocomplete="username" required value="{login}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>"#,
                error = html::error(error),
                login = escape(login.unwrap_or_default()),
            ),
        ),
        Step::Factor { pending } => (
            "Two-step verification",
            format!(
                r#"{error}<p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
<form method="post" action="{base}/login/factor">{fields}{pending}
<label for="code">Code</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus>
<button type="submit">Verify</button></form>"#,
                error = html::error(error),
                pending = hidden("pending", pending),
            ),
        ),
    };
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = html::page(status, title, &body);
    if fresh {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(app, CSRF_COOKIE, &csrf, "/", None),
        );
    }
    response
}

// ----------------------------------------------------------------------------- the helpers

/// The CSRF check, then the authorization request from the hidden fields, checked again.
async fn checked<S: Store>(
    app: &App<S>,
    org: &OrgDomain,
    headers: &HeaderMap,
    form: &Params,
) -> Result<(Params, AuthorizeRequest), Response> {
    let sent = field(form, "csrf").unwrap_or_default();
    let expected = cookie(headers, CSRF_COOKIE).unwrap_or_default();
    if expected.len() < 32 || !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(html::page(
            StatusCode::FORBIDDEN,
            "Sign-in expired",
            "<p>This form expired. Go back to the application and sign in again.</p>",
        ));
    }
    let query: Params = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(OAUTH)?.to_owned(), v.clone())))
        .collect();
    let request = authorize_request(&app.identity, org, &query)
        .await
        .map_err(refused)?;
    Ok((query, request))
}

/// An authorization (or logout) request that is refused: a page, or the redirect back.
fn refused(e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Show {
            status,
            error,
            description,
        } => html::page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            "This request cannot be completed",
            &format!(
                "<p>{}</p><p><small>{}</small></p>",
                escape(description),
                escape(error)
            ),
        ),
        AuthorizeError::Redirect { location } => see_other(&location),
    }
}

/// What a failed step tells the user; it never says whether the account exists.
fn message(e: &Error) -> &'static str {
    match e {
        Error::SignInFailed => "The e-mail, username or password is not right.",
        Error::EmailNotVerified => "Verify your e-mail address first: we sent you a code.",
        Error::Forbidden(_) => "This account cannot sign in. Contact your administrator.",
        Error::SessionLimitReached => {
            "You are signed in on too many devices. Sign out on one first."
        }
        e if e.is_retryable() => "Something went wrong on our side. Try again.",
        _ => "The sign-in could not be completed.",
    }
}

/// The session binds to the client's address (IPv6: its /64).
fn factors(ip: IpAddr) -> ValidationFactors {
    ValidationFactors::parse(vec![ValidationFactor {
        name: "remote_address".to_owned(),
        value: ip.to_string(),
    }])
    .unwrap_or_default()
}

fn session_path(org: &OrgDomain) -> String {
    format!("/t/{org}/")
}

fn field<'f>(form: &'f Params, name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
