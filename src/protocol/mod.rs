//! OAuth 2.0 / OpenID Connect endpoint logic as plain functions, for any HTTP framework.
//!
//! The host parses the request (form fields and the `Authorization` header) into a
//! [`Request`], calls one function, and writes the [`Response`] back: status, headers (always
//! `Cache-Control: no-store` and `Pragma: no-cache` on token responses), JSON body. Errors
//! have the RFC 6749 §5.2 shape `{"error": …, "error_description": …}`.
//!
//! | function | route the discovery document announces (under `{issuer}/t/{org}`) |
//! |---|---|
//! | [`token`] | `POST /oauth/token` (`authorization_code`, `refresh_token`) |
//! | [`revocation`] | `POST /oauth/revoke` (RFC 7009) |
//! | [`introspection`] | `POST /oauth/introspect` (RFC 7662) |
//! | [`userinfo`] | `GET /userinfo` |
//! | [`authorize::authorize_request`] | `GET /authorize` (checks the request; the host shows its login page) |
//! | [`end_session::end_session_request`] | `GET /logout` (RP-initiated logout) |
//! | [`discovery`] | `GET /.well-known/openid-configuration` |
//! | [`jwks`] | `GET /.well-known/jwks.json` |
//!
//! [`unregister`] maps the seed-004 "User Unregister" request and answer; [`delete_token`]
//! checks the seed-003 `DeleteToken` request and writes its answer envelope.

pub mod authorize;
pub mod crowd;
pub mod delete_token;
pub mod end_session;
pub mod unregister;

use serde_json::{Value, json};

use crate::Error;
use crate::error::TokenProblem;
use crate::identity::Identity;
use crate::model::ids::{ClientId, OrgDomain};
use crate::secret::Secret;
use crate::store::Store;
use crate::tokens::ClientAuth;
use crate::tokens::claims::issuer_of;

/// A parsed request: the form fields (in order, as received) and the `Authorization` header.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// `application/x-www-form-urlencoded` fields, already percent-decoded.
    pub form: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl Request {
    /// A request with these form fields.
    pub fn form<K: Into<String>, V: Into<String>>(
        fields: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            form: fields
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            authorization: None,
        }
    }

    /// Sets the `Authorization` header.
    pub fn authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }

    /// The value of a field; a field sent twice is an error (RFC 6749 §3.2).
    fn field(&self, name: &'static str) -> Result<Option<&str>, ProtocolError> {
        let mut values = self
            .form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ProtocolError::request(match name {
                "grant_type" => "grant_type was sent more than once",
                _ => "a parameter was sent more than once",
            }));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    fn required(&self, name: &'static str, missing: &'static str) -> Result<&str, ProtocolError> {
        self.field(name)?.ok_or(ProtocolError::request(missing))
    }
}

/// What the host writes back.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Headers to set (besides `Content-Type: application/json`, which every body here has).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Value,
}

impl Response {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("Pragma", "no-cache".to_owned()),
            ],
            body,
        }
    }

    fn public(body: Value) -> Self {
        Self {
            status: 200,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "public, max-age=300".to_owned()),
            ],
            body,
        }
    }
}

/// An RFC 6749 §5.2 error.
struct ProtocolError {
    status: u16,
    error: &'static str,
    description: &'static str,
    basic_challenge: bool,
}

impl ProtocolError {
    fn request(description: &'static str) -> Self {
        Self {
            status: 400,
            error: "invalid_request",
            description,
            basic_challenge: false,
        }
    }

    fn into_response(self) -> Response {
        let mut r = Response::json(
            self.status,
            json!({ "error": self.error, "error_description": self.description }),
        );
        if self.basic_challenge {
            r.headers
                .push(("WWW-Authenticate", "Basic realm=\"idcore\"".to_owned()));
        }
        r
    }
}

impl From<Error> for ProtocolError {
    fn from(e: Error) -> Self {
        let (status, error, description) = match &e {
            Error::InvalidGrant => (
                400,
                "invalid_grant",
                "the grant is invalid, expired, revoked or was issued to another client",
            ),
            Error::InvalidClient => (401, "invalid_client", "client authentication failed"),
            Error::InvalidScope => (
                400,
                "invalid_scope",
                "the requested scope exceeds the grant",
            ),
            Error::InvalidRequest(d) => (400, "invalid_request", *d),
            Error::InvalidField { .. } => (400, "invalid_request", "a parameter is malformed"),
            Error::InvalidToken(_) => (401, "invalid_token", "the token is invalid"),
            _ if e.is_retryable() => (503, "temporarily_unavailable", "try again"),
            _ => (
                500,
                "server_error",
                "the server could not complete the request",
            ),
        };
        Self {
            status,
            error,
            description,
            basic_challenge: false,
        }
    }
}

/// Client authentication from a request: `client_secret_basic`, `client_secret_post`, or a
/// public client's `client_id`. Using two methods at once is refused.
fn client_auth(req: &Request) -> Result<(ClientAuth, bool), ProtocolError> {
    let post_id = req.field("client_id")?;
    let post_secret = req.field("client_secret")?;
    if let Some(header) = &req.authorization {
        let Some(encoded) = header.strip_prefix("Basic ") else {
            return Err(ProtocolError::request("unsupported authorization scheme"));
        };
        if post_secret.is_some() {
            return Err(ProtocolError::request(
                "use one client authentication method",
            ));
        }
        let invalid = || ProtocolError {
            basic_challenge: true,
            ..ProtocolError::from(Error::InvalidClient)
        };
        let decoded = base64_std(encoded.trim()).ok_or_else(invalid)?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
        let id = percent_decode(id).ok_or_else(invalid)?;
        let secret = percent_decode(secret).ok_or_else(invalid)?;
        let client_id = ClientId::parse(&id).map_err(|_| invalid())?;
        if post_id.is_some_and(|p| p != id) {
            return Err(ProtocolError::request(
                "client_id does not match the authorization header",
            ));
        }
        return Ok((
            ClientAuth::confidential(client_id, Secret::from_presented(secret)),
            true,
        ));
    }
    let id = post_id.ok_or(ProtocolError::request("client_id is required"))?;
    let client_id = ClientId::parse(id).map_err(|_| ProtocolError::from(Error::InvalidClient))?;
    Ok((
        ClientAuth {
            client_id,
            secret: post_secret.map(Secret::from_presented),
        },
        false,
    ))
}

fn with_challenge(e: Error, basic: bool) -> ProtocolError {
    let mut p = ProtocolError::from(e);
    p.basic_challenge = basic && p.error == "invalid_client";
    p
}

/// The token endpoint: `grant_type=authorization_code` (with `code`, `redirect_uri`,
/// `code_verifier`) and `grant_type=refresh_token` (with `refresh_token`, optional `scope`).
pub async fn token<S: Store>(identity: &Identity<S>, req: &Request) -> Response {
    match token_inner(identity, req).await {
        Ok(body) => Response::json(200, body),
        Err(e) => e.into_response(),
    }
}

async fn token_inner<S: Store>(
    identity: &Identity<S>,
    req: &Request,
) -> Result<Value, ProtocolError> {
    let grant_type = req.required("grant_type", "grant_type is required")?;
    let (client, basic) = client_auth(req)?;
    let tokens = identity.tokens();
    let set = match grant_type {
        "authorization_code" => {
            let code = req.required("code", "code is required")?;
            let redirect_uri = req.required("redirect_uri", "redirect_uri is required")?;
            let verifier = req.required("code_verifier", "code_verifier is required (PKCE)")?;
            tokens
                .exchange_code(&client, code, redirect_uri, verifier)
                .await
                .map_err(|e| with_challenge(e, basic))?
        }
        "refresh_token" => {
            let refresh = req.required("refresh_token", "refresh_token is required")?;
            let scope: Option<Vec<String>> = req.field("scope")?.map(|s| {
                s.split(' ')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            });
            tokens
                .refresh(&client, refresh, scope.as_deref())
                .await
                .map_err(|e| with_challenge(e, basic))?
        }
        _ => {
            return Err(ProtocolError {
                status: 400,
                error: "unsupported_grant_type",
                description: "grant_type must be authorization_code or refresh_token",
                basic_challenge: false,
            });
        }
    };
    Ok(json!({
        "access_token": set.access_token,
        "token_type": "Bearer",
        "expires_in": set.expires_in,
        "refresh_token": set.refresh_token.expose(),
        "id_token": set.id_token,
        "scope": set.scope,
    }))
}

/// The revocation endpoint (RFC 7009): `token`, optional `token_type_hint`. Unknown tokens
/// answer 200; another client's token is refused (`invalid_client`... never revoked).
pub async fn revocation<S: Store>(identity: &Identity<S>, req: &Request) -> Response {
    let result: Result<(), ProtocolError> = async {
        let token = req.required("token", "token is required")?;
        let (client, basic) = client_auth(req)?;
        let tokens = identity.tokens();
        let is_jwt = token.bytes().filter(|b| *b == b'.').count() == 2;
        let outcome = if is_jwt {
            tokens.revoke_access_token(&client, token).await
        } else {
            tokens.revoke_refresh_token(&client, token).await
        };
        outcome.map_err(|e| with_challenge(e, basic))
    }
    .await;
    match result {
        Ok(()) => Response::json(200, json!({})),
        Err(e) => e.into_response(),
    }
}

/// The introspection endpoint (RFC 7662). The caller authenticates as a client. Anything not
/// active — expired, revoked, unknown, malformed, another organization's or another client's —
/// answers exactly `{"active": false}`.
pub async fn introspection<S: Store>(identity: &Identity<S>, req: &Request) -> Response {
    let result: Result<Value, ProtocolError> = async {
        let token = req.required("token", "token is required")?;
        let (client, basic) = client_auth(req)?;
        let tokens = identity.tokens();
        let caller = tokens
            .authenticate_client(&client)
            .await
            .map_err(|e| with_challenge(e, basic))?;
        let inactive = json!({ "active": false });
        if token.bytes().filter(|b| *b == b'.').count() == 2 {
            return Ok(match tokens.verify_live(token).await {
                Ok(v)
                    if caller
                        .scope
                        .organization()
                        .is_none_or(|o| *o == v.claims.tnt) =>
                {
                    let c = &v.claims;
                    json!({
                        "active": true,
                        "token_type": "access_token",
                        "scope": c.scp.join(" "),
                        "client_id": c.cid,
                        "sub": c.sub,
                        "aud": c.aud,
                        "iss": c.iss,
                        "exp": c.exp,
                        "iat": c.iat,
                        "nbf": c.nbf,
                        "jti": c.jti,
                    })
                }
                // Another organization's token: inactive to the caller, audited.
                Ok(v) => {
                    let now = identity.now();
                    let (org, owner) = (&v.claims.tnt, v.claims.cid);
                    tokens
                        .cross_tenant_denied("introspect", &caller, org, owner, now)
                        .await?;
                    inactive
                }
                Err(Error::InvalidToken(_)) => inactive,
                Err(e) => return Err(ProtocolError::from(e)),
            });
        }
        Ok(match tokens.refresh_token_info(token).await? {
            Some(info) if caller.scope.organization().is_none_or(|o| *o == info.org) => json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": info.scope,
                "client_id": info.client_id,
                "sub": info.user_id,
                "exp": info.expires_at.unix_timestamp(),
                "iat": info.issued_at.unix_timestamp(),
                "iss": issuer_of(identity.config().issuer().as_str(), &info.org),
            }),
            Some(info) => {
                let now = identity.now();
                tokens
                    .cross_tenant_denied("introspect", &caller, &info.org, info.client_id, now)
                    .await?;
                inactive
            }
            None => inactive,
        })
    }
    .await;
    match result {
        Ok(body) => Response::json(200, body),
        Err(e) => e.into_response(),
    }
}

/// The user info endpoint: `Authorization: Bearer <access token>`.
pub async fn userinfo<S: Store>(identity: &Identity<S>, req: &Request) -> Response {
    let bearer = req
        .authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = bearer else {
        let mut r = Response::json(
            401,
            json!({ "error": "invalid_token", "error_description": "a bearer token is required" }),
        );
        r.headers.push(("WWW-Authenticate", "Bearer".to_owned()));
        return r;
    };
    match identity.tokens().userinfo(token).await {
        Ok(info) => Response::json(200, serde_json::to_value(info).unwrap_or(Value::Null)),
        Err(Error::InvalidToken(problem)) => {
            let mut r = Response::json(
                401,
                json!({ "error": "invalid_token", "error_description": describe(problem) }),
            );
            r.headers.push((
                "WWW-Authenticate",
                "Bearer error=\"invalid_token\"".to_owned(),
            ));
            r
        }
        Err(e) => ProtocolError::from(e).into_response(),
    }
}

fn describe(p: TokenProblem) -> &'static str {
    match p {
        TokenProblem::Expired => "the access token expired",
        TokenProblem::Revoked => "the access token was revoked",
        _ => "the access token is invalid",
    }
}

/// The OpenID Provider discovery document of one organization.
pub fn discovery<S>(identity: &Identity<S>, org: &OrgDomain) -> Response {
    let iss = issuer_of(identity.config().issuer().as_str(), org);
    Response::public(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{iss}/logout"),
        "authorization_response_iss_parameter_supported": true,
        "response_modes_supported": ["query"],
        "prompt_values_supported": ["none", "login"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "EdDSA", "RS256", "PS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "phone_number", "phone_number_verified", "updated_at"],
    }))
}

/// The JWKS of one organization.
pub async fn jwks<S: Store>(identity: &Identity<S>, org: &OrgDomain) -> Response {
    match identity.tokens().jwks(org).await {
        Ok(body) => Response::public(body),
        Err(e) => ProtocolError::from(e).into_response(),
    }
}

fn base64_std(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buf >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// `application/x-www-form-urlencoded` decoding of one component (RFC 6749 §2.3.1).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(
            base64_std("YWxhZGRpbjpvcGVuc2VzYW1l").unwrap(),
            b"aladdin:opensesame"
        );
        assert_eq!(percent_decode("a%20b+c").unwrap(), "a b c");
        assert!(percent_decode("%zz").is_none());
        assert!(base64_std("***").is_none());
    }
}
