//! The OpenID Connect provider's JSON endpoints: each one parses the request, calls one
//! `idcore::protocol` function and writes its answer back.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use idcore::protocol;
use idcore::store::Store;

use super::{App, org, protocol_request, reply};

pub async fn discovery<S: Store>(
    State(app): State<Arc<App<S>>>,
    Path(raw): Path<String>,
) -> Response {
    match org(&raw) {
        Ok(org) => reply(protocol::discovery(&app.identity, &org)),
        Err(r) => r,
    }
}

pub async fn jwks<S: Store>(State(app): State<Arc<App<S>>>, Path(raw): Path<String>) -> Response {
    match org(&raw) {
        Ok(org) => reply(protocol::jwks(&app.identity, &org).await),
        Err(r) => r,
    }
}

pub async fn token<S: Store>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    reply(protocol::token(&app.identity, &protocol_request(&headers, form)).await)
}

pub async fn revocation<S: Store>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    reply(protocol::revocation(&app.identity, &protocol_request(&headers, form)).await)
}

pub async fn introspection<S: Store>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    reply(protocol::introspection(&app.identity, &protocol_request(&headers, form)).await)
}

pub async fn userinfo<S: Store>(State(app): State<Arc<App<S>>>, headers: HeaderMap) -> Response {
    reply(protocol::userinfo(&app.identity, &protocol_request(&headers, Vec::new())).await)
}
