//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0):
//! `GET {issuer}/t/{org}/logout` with `id_token_hint`, `client_id`, `post_logout_redirect_uri`
//! and `state`.
//!
//! [`end_session_request`] checks the request; the host then ends the user agent's session
//! ([`Sessions::invalidate`](crate::sessions::Sessions::invalidate)) and, when
//! [`EndSessionRequest::redirect`] is set, redirects there — else it shows a "signed out" page.
//! A `post_logout_redirect_uri` is honoured only when it is exactly one of the client's
//! allowed logout URLs, so the endpoint is never an open redirect.

use serde_json::Value;

use super::authorize::{AuthorizeError, redirect_with};
use crate::Error;
use crate::crypto::jws;
use crate::identity::Identity;
use crate::model::ids::{ClientId, OrgDomain, UserId};
use crate::store::Store;

/// A checked end-session request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndSessionRequest {
    /// The client that asked (from `client_id` or the hint's audience).
    pub client_id: Option<ClientId>,
    /// The user the `id_token_hint` names.
    pub user_id: Option<UserId>,
    /// Where to send the user agent afterwards (`post_logout_redirect_uri` with `state`).
    pub redirect: Option<String>,
}

/// Checks an end-session request from its query (or form) parameters.
///
/// `id_token_hint`, when present, must be an ID token this organization issued (an expired
/// one is accepted); `client_id`, when both are present, must be its audience. A
/// `post_logout_redirect_uri` needs the client to be known and must be one of its allowed
/// logout URLs.
///
/// # Errors
/// [`AuthorizeError::Show`]: `invalid_request` for a malformed or foreign hint, a mismatched
/// `client_id`, a repeated parameter or a redirect URI that is not allowed; `invalid_client` for
/// an unknown client; 503 `temporarily_unavailable` when the store fails. Nothing redirects to
/// an unchecked URL.
pub async fn end_session_request<S: Store>(
    identity: &Identity<S>,
    org: &OrgDomain,
    query: &[(String, String)],
) -> Result<EndSessionRequest, AuthorizeError> {
    let show = |status, error, description| AuthorizeError::Show {
        status,
        error,
        description,
    };
    let bad = |description| show(400, "invalid_request", description);
    let get = |name: &str| {
        let mut values = query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        match values.next() {
            Some(_) => Err(bad("a parameter was sent more than once")),
            None => Ok(first.filter(|v| !v.is_empty())),
        }
    };
    let unavailable = |_: Error| show(503, "temporarily_unavailable", "try again");
    let mut client_id = match get("client_id")? {
        Some(id) => Some(
            ClientId::parse(id)
                .map_err(|_| show(400, "invalid_client", "the client is not known"))?,
        ),
        None => None,
    };
    let mut user_id = None;
    if let Some(hint) = get("id_token_hint")? {
        let invalid = || bad("id_token_hint is not an ID token of this organization");
        let audience = audience_of(hint).ok_or_else(invalid)?;
        if client_id.is_some_and(|c| c != audience) {
            return Err(bad("client_id is not the audience of id_token_hint"));
        }
        let claims = match identity.tokens().verify_id_token_hint(hint, audience).await {
            Ok(claims) => claims,
            Err(Error::InvalidToken(_)) => return Err(invalid()),
            Err(e) => return Err(unavailable(e)),
        };
        if claims.tnt != *org {
            return Err(invalid());
        }
        client_id = Some(audience);
        user_id = Some(claims.sub);
    }
    let redirect = match get("post_logout_redirect_uri")? {
        None => None,
        Some(uri) => {
            let client = client_id.ok_or(bad(
                "post_logout_redirect_uri needs client_id or id_token_hint",
            ))?;
            let app = identity
                .store()
                .application(identity.environment(), client)
                .await
                .map_err(|e| unavailable(e.into()))?
                .filter(|app| app.deleted_at.is_none())
                .filter(|app| app.scope.organization().is_none_or(|o| o == org))
                .ok_or(show(400, "invalid_client", "the client is not known"))?;
            if !app.allowed_logout_urls.iter().any(|u| u.as_str() == uri) {
                return Err(bad(
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
            Some(redirect_with(uri, &[("state", get("state")?)]))
        }
    };
    Ok(EndSessionRequest {
        client_id,
        user_id,
        redirect,
    })
}

/// The `aud` of a compact JWS, unverified: only which client's key material to check it with.
fn audience_of(token: &str) -> Option<ClientId> {
    let decoded = jws::decode(token).ok()?;
    let payload: Value = serde_json::from_slice(decoded.payload()).ok()?;
    ClientId::parse(payload.get("aud")?.as_str()?).ok()
}
