//! The authorization endpoint (RFC 6749 §4.1, OpenID Connect Core §3.1.2): the request a user
//! agent brings to `GET {issuer}/t/{org}/authorize`, checked before any login page is shown,
//! and the redirects that answer it.
//!
//! The host renders its own login page (or finds an ongoing session), then calls
//! [`SignIn::sign_in`](crate::signin::SignIn::sign_in) or
//! [`Sessions::authorize`](crate::sessions::Sessions::authorize) with
//! [`AuthorizeRequest::authorization`], and redirects with [`code_redirect`].
//!
//! Errors follow RFC 6749 §4.1.2.1: while the client or its redirect URI is not established,
//! nothing redirects ([`AuthorizeError::Show`]: tell the user, never send them to an unchecked
//! URL); once they are, every other error redirects back to the client
//! ([`AuthorizeError::Redirect`]). Every redirect carries `iss` (RFC 9207), so a client talking
//! to several issuers can tell which one answered.

use crate::Error;
use crate::crypto::pkce::CodeChallenge;
use crate::identity::Identity;
use crate::model::ids::{ClientId, OrgDomain};
use crate::signin::{Authorization, Authorized};
use crate::store::Store;
use crate::tokens::claims::issuer_of;

/// What `prompt` asks for (OpenID Connect Core §3.1.2.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Prompt {
    /// No `prompt`: reuse an ongoing session, else ask the user to sign in.
    Default,
    /// `prompt=login`: ask the user to sign in again even with an ongoing session.
    Login,
    /// `prompt=none`: never show a page; without a usable session, answer
    /// [`AuthorizeRequest::error_redirect`] with `login_required`.
    None,
}

/// A checked authorization request.
#[derive(Clone, Debug)]
pub struct AuthorizeRequest {
    /// What the code will be bound to: hand it to the sign-in or the session service.
    pub authorization: Authorization,
    /// The `prompt` asked for.
    pub prompt: Prompt,
    /// `max_age`: a session authenticated longer ago than this many seconds must not be reused.
    pub max_age: Option<u64>,
    /// `login_hint`, for prefilling the login form (never trusted).
    pub login_hint: Option<String>,
    issuer: String,
}

/// Why an authorization request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI is missing, unknown or not allowed: show `description` to the
    /// user with this status; do not redirect.
    Show {
        /// The HTTP status of the page.
        status: u16,
        /// The OAuth error code.
        error: &'static str,
        /// What to tell the user.
        description: &'static str,
    },
    /// Redirect the user agent here (`303 See Other`): the client's redirect URI with `error`,
    /// `error_description`, `state` and `iss`.
    Redirect {
        /// The `Location`.
        location: String,
    },
}

impl AuthorizeError {
    fn show(status: u16, error: &'static str, description: &'static str) -> Self {
        Self::Show {
            status,
            error,
            description,
        }
    }
}

/// Checks an authorization request from its query parameters (already percent-decoded, in the
/// order received).
///
/// The client must be a live application of `org` (or of every organization), `redirect_uri`
/// exactly one of its allowed redirect URLs (loopback ports may vary, RFC 8252 §7.3);
/// `response_type=code`; PKCE with `code_challenge_method=S256`; `nonce`, `state` and `scope`
/// within the sign-in's bounds; `request` and `request_uri` are not supported. A parameter
/// sent twice is refused (RFC 6749 §3.1).
///
/// # Errors
/// [`AuthorizeError::Show`] (400, or 503 `temporarily_unavailable` when the store fails) before
/// the client and redirect URI are established; [`AuthorizeError::Redirect`] after.
pub async fn authorize_request<S: Store>(
    identity: &Identity<S>,
    org: &OrgDomain,
    query: &[(String, String)],
) -> Result<AuthorizeRequest, AuthorizeError> {
    let params = Params(query);
    let duplicated = || {
        AuthorizeError::show(
            400,
            "invalid_request",
            "a parameter was sent more than once",
        )
    };
    let client_id =
        params
            .get("client_id")
            .map_err(|_| duplicated())?
            .ok_or(AuthorizeError::show(
                400,
                "invalid_request",
                "client_id is required",
            ))?;
    let client_id = ClientId::parse(client_id)
        .map_err(|_| AuthorizeError::show(400, "invalid_client", "the client is not known"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .map_err(|_| duplicated())?
        .ok_or(AuthorizeError::show(
            400,
            "invalid_request",
            "redirect_uri is required",
        ))?;
    let signin = identity.signin(org);
    match signin.check_client_redirect(client_id, redirect_uri).await {
        Ok(()) => {}
        Err(Error::InvalidClient | Error::NotFound(_)) => {
            return Err(AuthorizeError::show(
                400,
                "invalid_client",
                "the client is not known",
            ));
        }
        Err(Error::InvalidRequest(_)) => {
            return Err(AuthorizeError::show(
                400,
                "invalid_request",
                "redirect_uri is not registered for this client",
            ));
        }
        Err(_) => {
            return Err(AuthorizeError::show(
                503,
                "temporarily_unavailable",
                "try again",
            ));
        }
    }

    // From here on the redirect URI is the client's own: errors go back to it.
    let issuer = issuer_of(identity.config().issuer().as_str(), org);
    let state = params.get("state").ok().flatten().map(str::to_owned);
    let back = |error: &'static str, description: &'static str| AuthorizeError::Redirect {
        location: redirect_with(
            redirect_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", state.as_deref()),
                ("iss", Some(&issuer)),
            ],
        ),
    };
    let field = |name: &'static str| {
        params
            .get(name)
            .map_err(|_| back("invalid_request", "a parameter was sent more than once"))
    };
    field("state")?;
    if field("request")?.is_some() {
        return Err(back(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if field("request_uri")?.is_some() {
        return Err(back(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match field("response_type")? {
        Some("code") => {}
        None => return Err(back("invalid_request", "response_type is required")),
        Some(_) => {
            return Err(back(
                "unsupported_response_type",
                "response_type must be code",
            ));
        }
    }
    if field("response_mode")?.is_some_and(|m| m != "query") {
        return Err(back("invalid_request", "response_mode must be query"));
    }
    let challenge = field("code_challenge")?.ok_or(back(
        "invalid_request",
        "code_challenge is required (PKCE S256)",
    ))?;
    let code_challenge =
        CodeChallenge::parse(challenge, field("code_challenge_method")?).map_err(|e| match e {
            Error::InvalidRequest(d) => back("invalid_request", d),
            _ => back("invalid_request", "code_challenge is malformed"),
        })?;
    let prompt = match field("prompt")? {
        None => Prompt::Default,
        Some(p) => {
            let values: Vec<&str> = p.split(' ').filter(|v| !v.is_empty()).collect();
            if values.contains(&"none") && values.len() > 1 {
                return Err(back(
                    "invalid_request",
                    "prompt=none cannot be combined with other values",
                ));
            }
            if values.contains(&"none") {
                Prompt::None
            } else if values.contains(&"login") {
                Prompt::Login
            } else if values
                .iter()
                .all(|v| matches!(*v, "consent" | "select_account"))
            {
                // First-party applications: there is no consent screen or account chooser.
                Prompt::Default
            } else {
                return Err(back("invalid_request", "prompt is not understood"));
            }
        }
    };
    let max_age = match field("max_age")? {
        None => None,
        Some(m) => Some(
            m.parse::<u64>()
                .map_err(|_| back("invalid_request", "max_age must be a number of seconds"))?,
        ),
    };
    let scope = field("scope")?
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let authorization = Authorization {
        client_id,
        redirect_uri: redirect_uri.to_owned(),
        code_challenge,
        nonce: field("nonce")?.map(str::to_owned),
        state: state.clone(),
        scope,
    };
    signin
        .check_authorization_fields(&authorization)
        .map_err(|e| match e {
            Error::InvalidField { field: "nonce", .. } => {
                back("invalid_request", "nonce is too long")
            }
            Error::InvalidField { field: "state", .. } => {
                back("invalid_request", "state is too long")
            }
            _ => back("invalid_scope", "scope is malformed"),
        })?;
    let login_hint = field("login_hint")?
        .filter(|h| h.chars().count() <= 320)
        .map(str::to_owned);
    Ok(AuthorizeRequest {
        authorization,
        prompt,
        max_age,
        login_hint,
        issuer,
    })
}

impl AuthorizeRequest {
    /// Where to send the user agent with an error of OpenID Connect Core §3.1.2.6
    /// (`login_required`, `interaction_required`, `access_denied` …).
    pub fn error_redirect(&self, error: &str, description: &str) -> String {
        redirect_with(
            &self.authorization.redirect_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", self.authorization.state.as_deref()),
                ("iss", Some(&self.issuer)),
            ],
        )
    }

    /// Whether a session authenticated at `authenticated_at` (Unix seconds) may answer this
    /// request at `now`: not with `prompt=login`, and not older than `max_age`.
    pub fn accepts_session(&self, authenticated_at: i64, now: i64) -> bool {
        if self.prompt == Prompt::Login {
            return false;
        }
        match self.max_age {
            None => true,
            Some(max) => {
                i64::try_from(max).is_ok_and(|max| now.saturating_sub(authenticated_at) <= max)
            }
        }
    }
}

/// Where to send the user agent after a sign-in: the redirect URI with `code`, `state` and
/// `iss` (of the organization's issuer).
pub fn code_redirect<S>(
    identity: &Identity<S>,
    org: &OrgDomain,
    authorized: &Authorized,
) -> String {
    let issuer = issuer_of(identity.config().issuer().as_str(), org);
    redirect_with(
        &authorized.redirect_uri,
        &[
            ("code", Some(authorized.code.expose())),
            ("state", authorized.state.as_deref()),
            ("iss", Some(&issuer)),
        ],
    )
}

/// `uri` with `params` appended to its query (`?` or `&`), form-urlencoded; absent values are
/// left out.
pub(crate) fn redirect_with(uri: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut out = String::with_capacity(uri.len() + 128);
    out.push_str(uri);
    let mut separator = if uri.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        let Some(value) = value else { continue };
        out.push(separator);
        separator = '&';
        form_urlencode_into(name, &mut out);
        out.push('=');
        form_urlencode_into(value, &mut out);
    }
    out
}

/// `application/x-www-form-urlencoded` encoding: unreserved bytes as they are, space as `+`,
/// every other byte as `%XX`.
pub(crate) fn form_urlencode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

/// Query parameters; a name sent twice is an error.
struct Params<'q>(&'q [(String, String)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(());
        }
        Ok(first.filter(|v| !v.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_append_to_the_query_and_encode_every_value() {
        assert_eq!(
            redirect_with(
                "https://app.example.com/cb",
                &[
                    ("code", Some("a b&c=d")),
                    ("state", None),
                    ("iss", Some("https://x/t/o"))
                ]
            ),
            "https://app.example.com/cb?code=a+b%26c%3Dd&iss=https%3A%2F%2Fx%2Ft%2Fo"
        );
        assert_eq!(
            redirect_with(
                "https://app.example.com/cb?tenant=1",
                &[("code", Some("é"))]
            ),
            "https://app.example.com/cb?tenant=1&code=%C3%A9"
        );
    }
}
