//! The server's routes and what they share: the state, cookies, the client address, and the
//! translation of `idcore::protocol` answers into HTTP.
//!
//! | route | module |
//! |---|---|
//! | `GET /t/{org}/.well-known/openid-configuration`, `…/jwks.json`, `POST /t/{org}/oauth/token`, `…/revoke`, `…/introspect`, `GET`/`POST /t/{org}/userinfo` | [`oidc`] |
//! | `GET /t/{org}/authorize`, `POST /t/{org}/login`, `POST /t/{org}/login/factor`, `GET /t/{org}/logout` | [`login`] |
//! | `GET /demo`, `GET /demo/callback` (a relying party to try it with), `GET /dev/outbox` | [`demo_client`] |

pub mod demo_client;
pub mod html;
pub mod login;
pub mod oidc;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use idcore::Identity;
use idcore::directory::OrgDomain;
use idcore::mail::MemoryOutbox;
use idcore::protocol;
use idcore::store::Store;

/// What every handler reaches.
pub struct App<S> {
    pub identity: Identity<S>,
    /// Where mail goes (the dev outbox page shows it).
    pub outbox: MemoryOutbox,
    /// Cookies get `Secure` unless the issuer is a loopback `http://` address.
    pub secure_cookies: bool,
}

impl<S> App<S> {
    pub fn new(identity: Identity<S>, outbox: MemoryOutbox) -> Self {
        let issuer = identity.config().issuer().as_str();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|l| issuer.starts_with(l));
        Self {
            identity,
            outbox,
            secure_cookies: !loopback,
        }
    }

    /// The base URL (the configured issuer).
    pub fn base(&self) -> &str {
        self.identity.config().issuer().as_str()
    }
}

/// Every route.
pub fn router<S: Store + 'static>(app: Arc<App<S>>) -> Router {
    Router::new()
        .route(
            "/t/{org}/.well-known/openid-configuration",
            get(oidc::discovery::<S>),
        )
        .route("/t/{org}/.well-known/jwks.json", get(oidc::jwks::<S>))
        .route("/t/{org}/oauth/token", post(oidc::token::<S>))
        .route("/t/{org}/oauth/revoke", post(oidc::revocation::<S>))
        .route("/t/{org}/oauth/introspect", post(oidc::introspection::<S>))
        .route(
            "/t/{org}/userinfo",
            get(oidc::userinfo::<S>).post(oidc::userinfo::<S>),
        )
        .route("/t/{org}/authorize", get(login::authorize::<S>))
        .route("/t/{org}/login", post(login::password::<S>))
        .route("/t/{org}/login/factor", post(login::factor::<S>))
        .route("/t/{org}/logout", get(login::logout::<S>))
        .route("/demo", get(demo_client::start::<S>))
        .route("/demo/callback", get(demo_client::callback::<S>))
        .route("/dev/outbox", get(demo_client::outbox::<S>))
        .with_state(app)
}

/// Serves `app` on `listener` until the process ends (the client address reaches handlers).
pub async fn serve<S: Store + 'static>(
    listener: tokio::net::TcpListener,
    app: Arc<App<S>>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The organization a path names; an unparsable one is a 404.
pub fn org(raw: &str) -> Result<OrgDomain, Response> {
    OrgDomain::parse(raw).map_err(|_| {
        html::page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>There is no such organization.</p>",
        )
    })
}

/// An `idcore::protocol` answer as an HTTP response.
pub fn reply(r: protocol::Response) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in &r.headers {
        builder = builder.header(*name, value.as_str());
    }
    let body = serde_json::to_vec(&r.body).unwrap_or_default();
    builder
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The form of a protocol request with its `Authorization` header.
pub fn protocol_request(headers: &HeaderMap, form: Vec<(String, String)>) -> protocol::Request {
    protocol::Request {
        form,
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// The value of cookie `name`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, `Secure` unless on loopback; `max_age`
/// 0 deletes it.
pub fn set_cookie<S>(
    app: &App<S>,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u32>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if app.secure_cookies {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or(HeaderValue::from_static("invalid=1"))
}

/// A `303 See Other` to `location`.
pub fn see_other(location: &str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
