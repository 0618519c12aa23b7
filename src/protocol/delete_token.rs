//! The seed-003 (apstrata) `DeleteToken` wire: which parameters a request may carry, the
//! seed's error codes and statuses, and its JSON envelope.
//!
//! A user deletes its own token (`apsdb.authToken` and `apsws.user`, over a secure transport
//! only); an account owner deletes the tokens of up to [`USER_LIST_MAX`] users (`userList`,
//! repeated, and neither of the user's parameters). Everything else is refused before anything
//! is looked up:
//!
//! | request | code | status |
//! |---|---|---|
//! | a user request with `userList`, an owner request with `apsdb.authToken` / `apsws.user`, an unknown parameter | `INVALID_PARAMETER` | 400 |
//! | an owner request without `userList` | `USERLIST_REQUIRED` | 400 |
//! | an owner request with more than 100 users | `INVALID_USERLIST` | 400 |
//! | a user request without `apsdb.authToken` | `USER_TOKEN_REQUIRED` | 400 |
//! | a user's token over plain HTTP | `INSECURE_TRANSPORT` | 400 |
//! | an unknown token | `INVALID_TOKEN` | 400 |
//! | a `Referer` header that is not an absolute http(s) URL ([`check_referer`]) | `MALFORMED_REFERER` | 400 |
//! | a user whose tokens could not all be deleted | `INTERNAL_ERROR` | 500 |
//!
//! `apsws.*` signature parameters (`apsws.time`, `apsws.authSig`, `apsws.authKey` …) belong to
//! the request's authentication and are allowed on both kinds of request.

use serde::Serialize;

use crate::identity::Identity;
use crate::model::api_key::ApiKeyRole;
use crate::model::fields::HttpUrl;
use crate::model::ids::OrgDomain;
use crate::signing::Verified;
use crate::store::Store;

/// The most users one owner request may name.
pub const USER_LIST_MAX: usize = 100;

/// How the host received the request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Transport {
    /// TLS (`https`).
    Secure,
    /// Plain HTTP.
    Plain,
    /// Plain HTTP from a loopback address, accepted as secure only when the host says so
    /// explicitly (development).
    PlainLoopback {
        /// The host's development switch.
        allow: bool,
    },
}

impl Transport {
    fn is_secure(self) -> bool {
        matches!(self, Self::Secure | Self::PlainLoopback { allow: true })
    }
}

/// Who signed or authenticated the request, as the host's authentication established it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Caller {
    /// The account owner (a signed request with an owner key).
    Owner,
    /// A user (authenticated by its token, or a signed user request).
    User,
}

/// The caller a verified signed request is, for `DeleteToken`: an owner key's signature is the
/// account owner; a key of any other role may not delete tokens (`None`). Owner requests must
/// be signed: nothing else maps to [`Caller::Owner`].
pub fn caller_of(verified: &Verified) -> Option<Caller> {
    match verified.role {
        ApiKeyRole::Owner => Some(Caller::Owner),
        ApiKeyRole::Read => None,
    }
}

/// A checked `DeleteToken` request.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeleteToken {
    /// A user deletes its own token.
    Own {
        /// `apsws.user`.
        user: String,
        /// `apsdb.authToken`.
        token: String,
    },
    /// The owner deletes every token of these users (1 to [`USER_LIST_MAX`], duplicates
    /// dropped, order kept).
    ForUsers(Vec<String>),
}

/// A refused or failed `DeleteToken`, with the seed's code, message and status.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DeleteTokenError {
    /// `INVALID_PARAMETER`: a parameter this request may not carry.
    #[error("The parameter {0} is not allowed in DeleteToken")]
    InvalidParameter(String),
    /// `MALFORMED_REFERER`: the `Referer` header is not a URL.
    #[error("Invalid originating referrer from the Referer header {0}")]
    MalformedReferer(String),
    /// `INVALID_TOKEN`: no such token (the token itself is never echoed).
    #[error("Could not find the token")]
    InvalidToken,
    /// `INTERNAL_ERROR`: a user's tokens could not all be deleted (the users before it in the
    /// list were; sending the request again completes that user).
    #[error("Failed to update user {0}")]
    Internal(String),
    /// `USERLIST_REQUIRED`.
    #[error("The parameter userList is required")]
    UserListRequired,
    /// `USER_TOKEN_REQUIRED`.
    #[error("The parameter apsdb.authToken is required")]
    UserTokenRequired,
    /// `INVALID_USERLIST`: more than [`USER_LIST_MAX`] users.
    #[error("The parameter userList should not contain more than 100 users")]
    InvalidUserList,
    /// `INSECURE_TRANSPORT`: a token sent over plain HTTP (idcore's code; the seed only says
    /// tokens work over secure connections only).
    #[error("Tokens are accepted over a secure (https) connection only")]
    InsecureTransport,
}

impl DeleteTokenError {
    /// The seed's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidParameter(_) => "INVALID_PARAMETER",
            Self::MalformedReferer(_) => "MALFORMED_REFERER",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::Internal(_) => "INTERNAL_ERROR",
            Self::UserListRequired => "USERLIST_REQUIRED",
            Self::UserTokenRequired => "USER_TOKEN_REQUIRED",
            Self::InvalidUserList => "INVALID_USERLIST",
            Self::InsecureTransport => "INSECURE_TRANSPORT",
        }
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Internal(_) => 500,
            _ => 400,
        }
    }
}

const TOKEN: &str = "apsdb.authToken";
const USER: &str = "apsws.user";
const USER_LIST: &str = "userList";

impl DeleteToken {
    /// Checks the request's parameters (query and form, in order, repeated names kept).
    ///
    /// # Errors
    /// The seed's error for the first rule the request breaks (see the module docs).
    pub fn parse(
        caller: Caller,
        transport: Transport,
        params: &[(String, String)],
    ) -> Result<Self, DeleteTokenError> {
        let mut token = None;
        let mut user = None;
        let mut users: Vec<String> = Vec::new();
        let mut saw_list = false;
        for (name, value) in params {
            match name.as_str() {
                TOKEN if caller == Caller::User => token = Some(value.clone()),
                USER if caller == Caller::User => user = Some(value.clone()),
                USER_LIST if caller == Caller::Owner => {
                    saw_list = true;
                    if !value.is_empty() && !users.contains(value) {
                        users.push(value.clone());
                    }
                }
                n if n.starts_with("apsws.") && n != USER => {}
                other => return Err(DeleteTokenError::InvalidParameter(other.to_owned())),
            }
        }
        match caller {
            Caller::Owner => {
                if !saw_list || users.is_empty() {
                    return Err(DeleteTokenError::UserListRequired);
                }
                if users.len() > USER_LIST_MAX {
                    return Err(DeleteTokenError::InvalidUserList);
                }
                Ok(Self::ForUsers(users))
            }
            Caller::User => {
                let token = token
                    .filter(|t| !t.is_empty())
                    .ok_or(DeleteTokenError::UserTokenRequired)?;
                if !transport.is_secure() {
                    return Err(DeleteTokenError::InsecureTransport);
                }
                let user = user
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| DeleteTokenError::InvalidParameter(USER.to_owned()))?;
                Ok(Self::Own { user, token })
            }
        }
    }
}

/// The seed's JSON envelope: `{"response": {"metadata": {"requestId", "status", "errorCode",
/// "errorDetail"}}}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Envelope {
    /// The response.
    pub response: EnvelopeResponse,
}

/// The `response` member.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct EnvelopeResponse {
    /// The `metadata` member.
    pub metadata: Metadata,
}

/// The `metadata` member.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Metadata {
    /// The request's id.
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// `success` or `failure`.
    pub status: &'static str,
    /// The error code, on failure.
    #[serde(rename = "errorCode", skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
    /// The error message, on failure.
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
}

impl Envelope {
    /// A success.
    pub fn success(request_id: impl Into<String>) -> Self {
        Self::with(request_id.into(), "success", None, None)
    }

    /// A failure with the seed's code and message.
    pub fn failure(request_id: impl Into<String>, error: &DeleteTokenError) -> Self {
        Self::with(
            request_id.into(),
            "failure",
            Some(error.code()),
            Some(error.to_string()),
        )
    }

    fn with(
        request_id: String,
        status: &'static str,
        error_code: Option<&'static str>,
        error_detail: Option<String>,
    ) -> Self {
        Self {
            response: EnvelopeResponse {
                metadata: Metadata {
                    request_id,
                    status,
                    error_code,
                    error_detail,
                },
            },
        }
    }
}

/// Checks the request's `Referer` header, when it has one: it must be an absolute http(s) URL
/// (seed 003 `MALFORMED_REFERER`). The header itself is echoed in the message only as far as
/// its first 200 characters, without control characters.
///
/// # Errors
/// [`DeleteTokenError::MalformedReferer`].
pub fn check_referer(referer: Option<&str>) -> Result<(), DeleteTokenError> {
    match referer {
        None => Ok(()),
        Some(r) if HttpUrl::parse(r).is_ok() => Ok(()),
        Some(r) => Err(DeleteTokenError::MalformedReferer(
            r.chars().filter(|c| !c.is_control()).take(200).collect(),
        )),
    }
}

impl DeleteToken {
    /// Carries out a checked request in an organization: a user's own token (its session) is
    /// ended, or every token of each listed user is deleted, in list order. `requested_by`
    /// names the owner's key for the audit log.
    ///
    /// A listed login that names nobody is skipped (it holds no token). A user whose deletion
    /// fails stops the request with `INTERNAL_ERROR` naming that user: the users before it are
    /// done, the users after it untouched, and that user's revocations (refresh tokens, then
    /// sessions, then access and ID tokens — each idempotent) may have begun but never grant
    /// anything; sending the request again completes them.
    ///
    /// # Errors
    /// `INVALID_TOKEN` when a user's token is not a live session of that user;
    /// `INTERNAL_ERROR` as above (also when a user's own token could not be ended).
    pub async fn execute<S: Store>(
        &self,
        identity: &Identity<S>,
        org: &OrgDomain,
        requested_by: &str,
    ) -> Result<(), DeleteTokenError> {
        let sessions = identity.sessions(org);
        match self {
            Self::Own { user, token } => match sessions.end_own(user, token).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(DeleteTokenError::InvalidToken),
                Err(_) => Err(DeleteTokenError::Internal(user.clone())),
            },
            Self::ForUsers(users) => {
                for user in users {
                    if sessions
                        .delete_user_tokens(user, requested_by)
                        .await
                        .is_err()
                    {
                        return Err(DeleteTokenError::Internal(user.clone()));
                    }
                }
                Ok(())
            }
        }
    }
}

/// The `Set-Cookie` value that clears a token cookie (as the seed does when the request sent
/// one): empty, expired in the past, `Max-Age=0`, with the attributes it was set with.
pub fn clear_cookie(name: &str, path: &str) -> String {
    format!(
        "{name}=; Path={path}; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; \
         HttpOnly; SameSite=Lax"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn users(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (USER_LIST.to_owned(), format!("user{i}@example.com")))
            .collect()
    }

    #[test]
    fn a_referer_must_be_an_absolute_url() {
        assert_eq!(check_referer(None), Ok(()));
        assert_eq!(
            check_referer(Some("https://app.example.com/page?x=1")),
            Ok(())
        );
        for bad in [
            "not a url",
            "/relative",
            "javascript:alert(1)",
            "ftp://example.com/",
        ] {
            let e = check_referer(Some(bad)).unwrap_err();
            assert_eq!((e.code(), e.http_status()), ("MALFORMED_REFERER", 400));
            assert_eq!(
                e.to_string(),
                format!("Invalid originating referrer from the Referer header {bad}")
            );
        }
        let long = format!("x\u{7}{}", "y".repeat(500));
        match check_referer(Some(&long)) {
            Err(DeleteTokenError::MalformedReferer(echo)) => {
                assert_eq!(echo.chars().count(), 200);
                assert!(!echo.contains('\u{7}'));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_owner_deletes_the_tokens_of_up_to_100_users() {
        let sample = params(&[
            ("apsws.time", "1700000000"),
            ("apsws.authSig", "abc"),
            (USER_LIST, "john"),
            (USER_LIST, "domingo@dodge.com"),
            (USER_LIST, "hybiscus@flowers.com"),
            (USER_LIST, "john"),
        ]);
        assert_eq!(
            DeleteToken::parse(Caller::Owner, Transport::Secure, &sample),
            Ok(DeleteToken::ForUsers(vec![
                "john".into(),
                "domingo@dodge.com".into(),
                "hybiscus@flowers.com".into()
            ]))
        );
        let hundred = DeleteToken::parse(Caller::Owner, Transport::Plain, &users(100));
        assert!(matches!(hundred, Ok(DeleteToken::ForUsers(u)) if u.len() == 100));
    }

    /// SECURITY 38.
    #[test]
    fn owner_lists_past_100_or_missing_are_refused_with_the_seed_codes() {
        let over = DeleteToken::parse(Caller::Owner, Transport::Secure, &users(101));
        assert_eq!(over, Err(DeleteTokenError::InvalidUserList));
        assert_eq!(over.unwrap_err().code(), "INVALID_USERLIST");
        let missing = DeleteToken::parse(Caller::Owner, Transport::Secure, &[]);
        assert_eq!(missing, Err(DeleteTokenError::UserListRequired));
        assert_eq!(missing.unwrap_err().code(), "USERLIST_REQUIRED");
        assert_eq!(
            DeleteToken::parse(
                Caller::Owner,
                Transport::Secure,
                &params(&[(USER_LIST, "")])
            ),
            Err(DeleteTokenError::UserListRequired)
        );
    }

    #[test]
    fn each_kind_of_request_refuses_the_other_kinds_parameters() {
        let owner_with_token = params(&[(USER_LIST, "john"), (TOKEN, "t")]);
        assert_eq!(
            DeleteToken::parse(Caller::Owner, Transport::Secure, &owner_with_token),
            Err(DeleteTokenError::InvalidParameter(TOKEN.into()))
        );
        let owner_with_user = params(&[(USER, "john"), (USER_LIST, "john")]);
        assert_eq!(
            DeleteToken::parse(Caller::Owner, Transport::Secure, &owner_with_user),
            Err(DeleteTokenError::InvalidParameter(USER.into()))
        );
        let user_with_list = params(&[(TOKEN, "t"), (USER, "u"), (USER_LIST, "other")]);
        let refused = DeleteToken::parse(Caller::User, Transport::Secure, &user_with_list);
        assert_eq!(
            refused,
            Err(DeleteTokenError::InvalidParameter(USER_LIST.into()))
        );
        assert_eq!(
            refused.unwrap_err().to_string(),
            "The parameter userList is not allowed in DeleteToken"
        );
        assert_eq!(
            DeleteToken::parse(Caller::User, Transport::Secure, &params(&[("x", "1")])),
            Err(DeleteTokenError::InvalidParameter("x".into()))
        );
    }

    #[test]
    fn a_user_deletes_its_own_token_over_a_secure_transport_only() {
        let own = params(&[(TOKEN, "tok"), (USER, "john"), ("apsws.time", "1")]);
        let expected = DeleteToken::Own {
            user: "john".into(),
            token: "tok".into(),
        };
        assert_eq!(
            DeleteToken::parse(Caller::User, Transport::Secure, &own),
            Ok(expected.clone())
        );
        assert_eq!(
            DeleteToken::parse(Caller::User, Transport::PlainLoopback { allow: true }, &own),
            Ok(expected)
        );
        for insecure in [Transport::Plain, Transport::PlainLoopback { allow: false }] {
            assert_eq!(
                DeleteToken::parse(Caller::User, insecure, &own),
                Err(DeleteTokenError::InsecureTransport)
            );
        }
        let no_token = params(&[(USER, "john")]);
        let refused = DeleteToken::parse(Caller::User, Transport::Secure, &no_token);
        assert_eq!(refused, Err(DeleteTokenError::UserTokenRequired));
        assert_eq!(refused.unwrap_err().code(), "USER_TOKEN_REQUIRED");
    }

    #[test]
    fn the_envelope_is_the_seeds() {
        assert_eq!(
            serde_json::to_value(Envelope::success("r-1")).unwrap(),
            serde_json::json!({"response": {"metadata": {"requestId": "r-1", "status": "success"}}})
        );
        let failure = Envelope::failure("r-2", &DeleteTokenError::Internal("john".into()));
        assert_eq!(
            serde_json::to_value(failure).unwrap(),
            serde_json::json!({"response": {"metadata": {
                "requestId": "r-2", "status": "failure",
                "errorCode": "INTERNAL_ERROR", "errorDetail": "Failed to update user john"
            }}})
        );
        assert_eq!(DeleteTokenError::Internal("john".into()).http_status(), 500);
        assert_eq!(DeleteTokenError::InvalidToken.http_status(), 400);
        assert_eq!(
            clear_cookie("apstrataToken", "/"),
            "apstrataToken=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Secure; \
             HttpOnly; SameSite=Lax"
        );
    }
}
