//! The seed-002 (Atlassian Crowd) session wire: the request bodies and query parameters of
//! `/rest/usermanagement/1/session…`, the session answer (`token`, `user{…, expanded}`,
//! `link{href, rel}`, `createdDate` / `expiryDate` in epoch milliseconds), and Crowd's error
//! entity with its reason codes.
//!
//! | route | call | success |
//! |---|---|---|
//! | `POST /session` (`validate-password`, `duration`) | [`authenticate`] | 201 + session |
//! | `GET /session/{token}` | [`get`] | 200 + session |
//! | `POST /session/{token}` (factors) | [`validate`] | 200 + session |
//! | `DELETE /session/{token}` | [`invalidate`] | 204 |
//! | `DELETE /session?username=…&exclude=…` | [`invalidate_user`] | 204 |
//!
//! Errors answer `{"reason": …, "message": …}`:
//!
//! | idcore error | reason | status |
//! |---|---|---|
//! | [`Error::SignInFailed`] | `INVALID_USER_AUTHENTICATION` | 401 |
//! | [`Error::InvalidSession`] | `INVALID_SSO_TOKEN` | 404 |
//! | [`Error::Forbidden`] (a disabled user), [`Error::EmailNotVerified`] | `INACTIVE_ACCOUNT` | 403 |
//! | `validate-password=false` from an application that is not trusted | `APPLICATION_PERMISSION_DENIED` | 403 |
//! | [`Error::SessionLimitReached`] | `OPERATION_FAILED` | 403 |
//! | [`Error::NotFound`] of a user | `USER_NOT_FOUND` | 404 |
//! | [`Error::InvalidField`], [`Error::InvalidRequest`] | `ILLEGAL_ARGUMENT` | 400 |
//! | anything else | `OPERATION_FAILED` | the error's own status |
//!
//! Crowd's `EXPIRED_CREDENTIAL` has no cause in idcore: passwords do not expire.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Duration;

use crate::Error;
use crate::crypto::password::Password;
use crate::error::Resource;
use crate::model::session::{
    AuthenticationWire, FactorsWire, Link, SessionUserWire, SessionWire, ValidationFactors,
    epoch_millis,
};
use crate::risk::RequestContext;
use crate::sessions::{Authenticate, Session, SessionStep, Sessions, TrustedApplication};
use crate::signin::PendingSignIn;
use crate::store::Store;

/// Crowd's error entity.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CrowdError {
    /// The reason code (`INVALID_SSO_TOKEN` …).
    pub reason: String,
    /// A message for people; never a secret, never which check failed.
    pub message: String,
}

/// A Crowd answer: the status and the JSON body (none for 204).
#[derive(Clone, PartialEq, Debug)]
pub struct CrowdResponse {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body, `None` for 204.
    pub body: Option<Value>,
}

impl CrowdResponse {
    fn session(status: u16, session: &Session, base_url: &str) -> Self {
        let body = serde_json::to_value(session_wire(session, base_url)).unwrap_or(Value::Null);
        Self {
            status,
            body: Some(body),
        }
    }

    fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
        }
    }

    /// The Crowd answer of an idcore error.
    pub fn error(error: &Error) -> Self {
        let (status, reason) = reason_of(error);
        Self::reason(status, reason, &error.to_string())
    }

    fn reason(status: u16, reason: &str, message: &str) -> Self {
        let body = serde_json::to_value(CrowdError {
            reason: reason.to_owned(),
            message: message.to_owned(),
        })
        .unwrap_or(Value::Null);
        Self {
            status,
            body: Some(body),
        }
    }
}

/// Crowd's reason code and status for an idcore error.
pub fn reason_of(error: &Error) -> (u16, &'static str) {
    match error {
        Error::SignInFailed => (401, "INVALID_USER_AUTHENTICATION"),
        Error::InvalidSession => (404, "INVALID_SSO_TOKEN"),
        Error::Forbidden(_) | Error::EmailNotVerified => (403, "INACTIVE_ACCOUNT"),
        Error::SessionLimitReached => (403, "OPERATION_FAILED"),
        Error::NotFound(Resource::User) => (404, "USER_NOT_FOUND"),
        Error::InvalidField { .. } | Error::InvalidRequest(_) => (400, "ILLEGAL_ARGUMENT"),
        other => (other.http_status(), "OPERATION_FAILED"),
    }
}

/// The seed's session JSON. `base_url` is where the host serves the session routes (for
/// example `https://crowd.example.com/crowd/rest/usermanagement/1`): the `link` is
/// `{base_url}/session/{token}`.
pub fn session_wire(session: &Session, base_url: &str) -> SessionWire {
    let user = &session.user;
    let profile = &user.profile;
    let name = |n: &Option<crate::model::fields::Name>| n.as_ref().map(|n| n.as_str().to_owned());
    SessionWire {
        token: session.token.expose().to_owned(),
        user: SessionUserWire {
            link: None,
            name: profile.preferred_username.as_ref().map_or_else(
                || profile.email.as_str().to_owned(),
                |n| n.as_str().to_owned(),
            ),
            first_name: name(&profile.given_name),
            last_name: name(&profile.family_name),
            display_name: name(&profile.name),
            directory_id: None,
            password: None,
            encrypted_password: None,
            key: Some(user.id.as_uuid().to_string()),
            created_date: Some(epoch_millis(user.inserted_at)),
            updated_date: Some(epoch_millis(user.updated_at)),
            directory_name: Some(user.org.as_str().to_owned()),
            active: Some(user.active),
            attributes: None,
            expanded: true,
            email: Some(profile.email.as_str().to_owned()),
        },
        link: Link {
            href: format!(
                "{}/session/{}",
                base_url.trim_end_matches('/'),
                session.token.expose()
            ),
            rel: "self".to_owned(),
        },
        created_date: epoch_millis(session.created_at),
        expiry_date: epoch_millis(session.expires_at),
        unaliased_username: None,
    }
}

/// The query of `POST /session`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct AuthenticateQuery {
    /// `validate-password`: `Some(false)` opens a session without the password, for a trusted
    /// application only.
    pub validate_password: Option<bool>,
    /// `duration`, seconds.
    pub duration: Option<i64>,
}

/// What `POST /session` led to.
#[derive(Debug)]
pub enum Authenticated {
    /// The answer to write.
    Response(CrowdResponse),
    /// The user must pass another factor first (an enrolled authenticator, a risk challenge):
    /// a step Crowd's wire does not have, which the host drives (see
    /// [`Sessions::complete`]).
    FactorRequired(PendingSignIn),
}

/// Why `POST /session` was refused.
enum Refusal {
    Error(Error),
    NotTrusted,
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

fn factors(wire: FactorsWire) -> Result<ValidationFactors, Error> {
    ValidationFactors::parse(wire.validation_factor)
}

fn duration(query: AuthenticateQuery) -> Option<Duration> {
    query.duration.map(Duration::seconds)
}

/// `POST /session`: the body is the seed's authentication JSON (`userName`, `password`,
/// `validation-factors`). With `validate-password=false`, `trusted` must be the calling
/// application's capability ([`Sessions::trusted`]); without it the request is refused.
pub async fn authenticate<S: Store>(
    sessions: &Sessions<'_, S>,
    query: AuthenticateQuery,
    body: &[u8],
    context: RequestContext,
    trusted: Option<&TrustedApplication>,
    base_url: &str,
) -> Authenticated {
    let answer = async {
        let wire: AuthenticationWire = serde_json::from_slice(body)
            .map_err(|_| Error::InvalidRequest("the body is not a Crowd authentication request"))?;
        let bound = factors(wire.validation_factors)?;
        if query.validate_password == Some(false) {
            let Some(trusted) = trusted else {
                return Err(Refusal::NotTrusted);
            };
            let session = sessions
                .open_trusted(trusted, &wire.user_name, bound, duration(query))
                .await?;
            return Ok(SessionStep::Opened(Box::new(session)));
        }
        let password = wire
            .password
            .ok_or(Error::InvalidRequest("the password is required"))?;
        Ok(sessions
            .authenticate(Authenticate {
                login: wire.user_name,
                password: Password::new(password),
                factors: bound,
                duration: duration(query),
                context,
            })
            .await?)
    }
    .await;
    match answer {
        Ok(SessionStep::Opened(session)) => {
            Authenticated::Response(CrowdResponse::session(201, &session, base_url))
        }
        Ok(SessionStep::FactorRequired(pending)) => Authenticated::FactorRequired(pending),
        Err(Refusal::Error(e)) => Authenticated::Response(CrowdResponse::error(&e)),
        Err(Refusal::NotTrusted) => Authenticated::Response(CrowdResponse::reason(
            403,
            "APPLICATION_PERMISSION_DENIED",
            "the application may not open sessions without a password",
        )),
    }
}

/// `GET /session/{token}`, with the factors the host observed for this request.
pub async fn get<S: Store>(
    sessions: &Sessions<'_, S>,
    token: &str,
    presented: &ValidationFactors,
    base_url: &str,
) -> CrowdResponse {
    match sessions.get(token, presented).await {
        Ok(session) => CrowdResponse::session(200, &session, base_url),
        Err(e) => CrowdResponse::error(&e),
    }
}

/// `POST /session/{token}`: the body is the seed's factor list (`{"validation-factor": […]}`).
pub async fn validate<S: Store>(
    sessions: &Sessions<'_, S>,
    token: &str,
    body: &[u8],
    base_url: &str,
) -> CrowdResponse {
    let answer = async {
        let wire: FactorsWire = serde_json::from_slice(body)
            .map_err(|_| Error::InvalidRequest("the body is not a Crowd validation-factor list"))?;
        sessions.validate(token, &factors(wire)?).await
    }
    .await;
    match answer {
        Ok(session) => CrowdResponse::session(200, &session, base_url),
        Err(e) => CrowdResponse::error(&e),
    }
}

/// `DELETE /session/{token}`: 204 whether or not there was such a session.
pub async fn invalidate<S: Store>(sessions: &Sessions<'_, S>, token: &str) -> CrowdResponse {
    match sessions.invalidate(token).await {
        Ok(_) => CrowdResponse::no_content(),
        Err(e) => CrowdResponse::error(&e),
    }
}

/// `DELETE /session?username=…&exclude=…`.
pub async fn invalidate_user<S: Store>(
    sessions: &Sessions<'_, S>,
    username: &str,
    exclude: Option<&str>,
) -> CrowdResponse {
    match sessions.invalidate_user(username, exclude).await {
        Ok(_) => CrowdResponse::no_content(),
        Err(e) => CrowdResponse::error(&e),
    }
}
