//! The token service: authorization codes → tokens, refresh rotation, verification, user info,
//! revocation and global sign-out.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::claims::{AccessClaims, IdClaims, Metadata, ProfileClaims, TYP_ACCESS, TYP_ID};
use super::jws;
use crate::Error;
use crate::cache::keyring::OrgKeys;
use crate::crypto::keys::{self, KeyPair};
use crate::crypto::pkce::CodeChallenge;
use crate::error::Resource;
use crate::identity::Identity;
use crate::model::application::{Application, TokenValidity};
use crate::model::claims::{ClaimSchema, CustomClaims};
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::model::user::User;
use crate::secret::Secret;
use crate::store::{FamilyId, Key, RefreshState, RefreshTokenRecord, Store};

/// Key namespace of authorization codes in the [`OneTimeStore`](crate::store::OneTimeStore).
pub(super) const CODE_NAMESPACE: &str = "authorization_code";
/// How long a used code is remembered, so a second redemption is detected (and revokes).
pub(super) const CODE_RETENTION: Duration = Duration::days(1);

/// How a client authenticates at the token, revocation and introspection endpoints.
#[derive(Clone, Debug)]
pub struct ClientAuth {
    /// The client id.
    pub client_id: ClientId,
    /// The client secret, for confidential clients (`client_secret_basic` or `client_secret_post`).
    pub secret: Option<Secret>,
}

impl ClientAuth {
    /// A public client (no secret).
    pub fn public(client_id: ClientId) -> Self {
        Self {
            client_id,
            secret: None,
        }
    }

    /// A confidential client with its secret.
    pub fn confidential(client_id: ClientId, secret: Secret) -> Self {
        Self {
            client_id,
            secret: Some(secret),
        }
    }
}

/// What an authorization code is minted for: an already-authenticated user, a client, and the
/// authorization request's parameters.
#[derive(Clone, Debug)]
pub struct CodeRequest {
    /// The user's organization.
    pub org: OrgDomain,
    /// The authenticated user.
    pub user_id: UserId,
    /// The client that asked.
    pub client_id: ClientId,
    /// The redirect URI of the request: exactly one of the application's allowed URLs.
    pub redirect_uri: String,
    /// The PKCE challenge (S256), required.
    pub code_challenge: CodeChallenge,
    /// The OIDC nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// The OAuth state, whose hash goes in the ID token (`s_hash`).
    pub state: Option<String>,
    /// Requested scopes.
    pub scope: Vec<String>,
    /// When the user authenticated.
    pub auth_time: OffsetDateTime,
    /// How (`pwd`, `otp` …).
    pub amr: Vec<String>,
}

/// A code's stored payload.
#[derive(Serialize, Deserialize)]
pub(super) struct CodePayload {
    pub(super) org: OrgDomain,
    pub(super) user_id: UserId,
    pub(super) client_id: ClientId,
    pub(super) redirect_uri: String,
    pub(super) code_challenge: String,
    pub(super) nonce: Option<String>,
    pub(super) state: Option<String>,
    pub(super) scope: Vec<String>,
    pub(super) auth_time: i64,
    pub(super) amr: Vec<String>,
    pub(super) grant: Uuid,
}

/// The token endpoint's answer.
#[derive(Debug)]
pub struct TokenSet {
    /// The access token (JWT, `typ` `at+jwt`).
    pub access_token: String,
    /// The ID token (JWT).
    pub id_token: String,
    /// The refresh token (opaque, 256 bits); idcore keeps only its digest.
    pub refresh_token: Secret,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// A verified access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Always `true`: a token whose signature does not verify is an error.
    pub signature_verified: bool,
    /// Always `false` from [`Tokens::verify`]; see [`Tokens::verify_report`].
    pub access_token_expired: bool,
    /// When the user authenticated (seconds since the epoch).
    pub auth_time: i64,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// The claims.
    pub claims: AccessClaims<'static>,
}

/// User info, from an access token (seed 000 "userinfofromaccesstoken").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    /// The user id.
    pub sub: UserId,
    /// The username: the preferred username, or the e-mail.
    pub username: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// When the access token expires.
    pub exp: i64,
    /// The profile claims, read from the directory now.
    #[serde(flatten)]
    pub profile: ProfileClaims,
    /// `resource_owner_metadata`, read now (omitted when empty).
    #[serde(
        rename = "resource_owner_metadata",
        skip_serializing_if = "Metadata::is_empty"
    )]
    pub metadata: Metadata,
    /// The user's roles, read now (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The actions granted now, directly or through roles (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The user's attributes (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The user's groups (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The token service of one [`Identity`]; see [`Identity::tokens`].
pub struct Tokens<'a, S> {
    pub(super) identity: &'a Identity<S>,
}

impl<'a, S: Store> Tokens<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>) -> Self {
        Self { identity }
    }

    pub(super) fn env(&self) -> Environment {
        self.identity.environment()
    }

    /// Adds a signing key to the organization that signs from now on; older keys keep verifying
    /// for the configured overlap. Returns the new `kid`.
    ///
    /// # Errors
    /// [`Error::Keys`], [`Error::Store`].
    pub async fn rotate_keys(&self, org: &OrgDomain) -> Result<String, Error> {
        let now = self.identity.now();
        let kid = self
            .identity
            .key_ring()
            .rotate(self.identity.store(), self.env(), org, now)
            .await?;
        self.audit(
            NewEvent::new(EventCode::SIGNING_KEY_ROTATED, now)
                .tenant(org)
                .detail("kid", kid.clone()),
        )
        .await;
        Ok(kid)
    }

    /// Imports a private key (the only way to use RS256/PS256) that signs from now on.
    /// Importing the organization's current signing key again is a no-op answering its `kid`.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] (409, key `kid`) for a key that is already stored otherwise:
    /// rotated out, imported under another algorithm (one key, one algorithm), or imported by
    /// another organization; [`Error::Keys`]; [`Error::Store`].
    pub async fn import_key(&self, org: &OrgDomain, pair: &KeyPair) -> Result<String, Error> {
        let now = self.identity.now();
        self.identity
            .key_ring()
            .import(self.identity.store(), self.env(), org, pair, now)
            .await
    }

    /// The organization's JWKS: every public key that verifies now.
    ///
    /// # Errors
    /// [`Error::Keys`], [`Error::Store`].
    pub async fn jwks(&self, org: &OrgDomain) -> Result<serde_json::Value, Error> {
        let now = self.identity.now();
        let keys = self.keys_for_signing(org).await?;
        let jwks: Vec<serde_json::Value> = keys
            .published(now)
            .filter_map(|k| serde_json::to_value(k.to_jwk()).ok())
            .collect();
        Ok(serde_json::json!({ "keys": jwks }))
    }

    /// Authenticates a client (its secret, for a confidential one).
    ///
    /// # Errors
    /// [`Error::InvalidClient`], [`Error::Store`].
    pub async fn authenticate_client(&self, client: &ClientAuth) -> Result<Application, Error> {
        self.authenticate(client).await
    }

    /// The stored record of a refresh token that is current and unexpired (for introspection);
    /// `None` for anything else.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn refresh_token_info(
        &self,
        token: &str,
    ) -> Result<Option<RefreshTokenRecord>, Error> {
        let digest = Secret::from_presented(token).digest();
        let now = self.identity.now();
        Ok(self
            .identity
            .store()
            .refresh_token(self.env(), &digest)
            .await?
            .filter(|r| r.state == RefreshState::Active && now < r.expires_at))
    }

    pub(super) async fn authenticate(&self, client: &ClientAuth) -> Result<Application, Error> {
        let app = self.application(client.client_id).await?;
        let ok = match (&app.client_secret_digest, &client.secret) {
            (Some(_), Some(secret)) => app.verify_secret(secret),
            (None, None) => true,
            _ => false,
        };
        if ok {
            Ok(app)
        } else {
            Err(Error::InvalidClient)
        }
    }

    pub(super) async fn application(&self, client_id: ClientId) -> Result<Application, Error> {
        self.identity
            .store()
            .application(self.env(), client_id)
            .await?
            .filter(|a| a.deleted_at.is_none())
            .ok_or(Error::InvalidClient)
    }

    /// The user, if it and its organization are live: one store read.
    pub(super) async fn user(&self, org: &OrgDomain, id: UserId) -> Result<User, Error> {
        self.identity
            .store()
            .live_user(self.env(), org, id)
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// The user and its organization's claim schema, if both are live: one store call.
    pub(super) async fn user_and_schema(
        &self,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<(User, ClaimSchema), Error> {
        self.identity
            .store()
            .live_user_claims(self.env(), org, id)
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// The custom claims `user`'s tokens carry now; a required metakey without a value refuses
    /// them, naming the key, and is audited.
    ///
    /// # Errors
    /// [`Error::MetadataRequired`].
    pub(crate) async fn custom_claims(
        &self,
        user: &User,
        schema: &ClaimSchema,
    ) -> Result<CustomClaims, Error> {
        match schema.resolve(&user.metadata, &user.rbac) {
            Ok(custom) => Ok(custom),
            Err(missing) => {
                self.audit(
                    NewEvent::new(
                        EventCode::TOKENS_DENIED_METADATA_REQUIRED,
                        self.identity.now(),
                    )
                    .tenant(&user.org)
                    .user(user.id, &user.profile.email)
                    .detail("key_name", missing.key.as_str()),
                )
                .await;
                Err(Error::MetadataRequired {
                    key: missing.key.as_str().to_owned(),
                })
            }
        }
    }

    pub(super) async fn keys_for_signing(
        &self,
        org: &OrgDomain,
    ) -> Result<std::sync::Arc<OrgKeys>, Error> {
        self.identity
            .key_ring()
            .for_signing(self.identity.store(), self.env(), org, self.identity.now())
            .await
    }

    /// Records an informative event: failing to record it does not fail the call.
    pub(super) async fn audit(&self, event: NewEvent) {
        let _ = self.identity.store().record_event(self.env(), &event).await;
    }

    /// Records that the client `caller` reached for a code, grant or token of another client
    /// (`owner`, of organization `org`) and was refused (SECURITY 55: a required event; the
    /// refusal stands either way, and a failure to record it is answered as that store error).
    pub(crate) async fn cross_tenant_denied(
        &self,
        action: &'static str,
        caller: &Application,
        org: &OrgDomain,
        owner: ClientId,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        self.audit_required(
            NewEvent::new(EventCode::CROSS_TENANT_DENIED, now)
                .tenant(org)
                .client(caller.client_id)
                .detail("action", action)
                .detail("token_client_id", owner.to_string()),
        )
        .await
    }

    /// Records a required event: failing to record it is an error.
    pub(super) async fn audit_required(&self, event: NewEvent) -> Result<(), Error> {
        self.identity
            .store()
            .record_event(self.env(), &event)
            .await?;
        Ok(())
    }
}

/// Signs an access token and its ID token with one key: the pure core of issuance.
///
/// Fills the ID token's `at_hash` (of the access token), `c_hash` (of `code`, when the tokens
/// come from a code) and `s_hash` (of `state`, when one was given), with the hash the key's
/// algorithm calls for.
///
/// # Errors
/// [`Error::Keys`] when signing fails.
pub fn sign_pair(
    key: &KeyPair,
    access: &AccessClaims<'_>,
    id: &mut IdClaims<'_>,
    code: Option<&str>,
    state: Option<&str>,
) -> Result<(String, String), Error> {
    let access_json = access.to_json();
    let access_token = jws::encode(
        &jws::Header::for_key(key).with_typ(TYP_ACCESS),
        &access_json,
        key,
    )
    .map_err(|_| Error::Keys("signing failed"))?;
    let alg = key.algorithm();
    id.at_hash = Some(keys::half_hash(alg, access_token.as_bytes()));
    id.c_hash = code.map(|c| keys::half_hash(alg, c.as_bytes()));
    id.s_hash = state.map(|s| keys::half_hash(alg, s.as_bytes()));
    let id_json = id.to_json();
    let id_token = jws::encode(&jws::Header::for_key(key).with_typ(TYP_ID), &id_json, key)
        .map_err(|_| Error::Keys("signing failed"))?;
    Ok((access_token, id_token))
}

/// The parameters of one issuance.
pub(super) struct Grant<'a> {
    pub(super) org: &'a OrgDomain,
    pub(super) user: &'a User,
    /// The user's custom claims, resolved against its organization's schema.
    pub(super) custom: &'a CustomClaims,
    pub(super) client_id: ClientId,
    pub(super) scope: &'a [String],
    pub(super) auth_time: i64,
    pub(super) amr: &'a [String],
    pub(super) nonce: Option<&'a str>,
    pub(super) state: Option<&'a str>,
    pub(super) code: Option<&'a str>,
    pub(super) family: FamilyId,
    /// The application's own lifetimes, where it set them.
    pub(super) validity: TokenValidity,
}

pub(super) fn code_key(code: &Secret) -> Key {
    Key::digest(CODE_NAMESPACE, &code.digest())
}

pub(super) fn app_serves(app: &Application, org: &OrgDomain) -> bool {
    app.scope.organization().is_none_or(|scoped| scoped == org)
}

/// The first whole second after `now`: "not before" instants cover tokens of the same second.
pub(super) fn next_second(now: OffsetDateTime) -> OffsetDateTime {
    let floor = now.replace_nanosecond(0).unwrap_or(now);
    floor + Duration::seconds(1)
}

/// The claims of a token already checked, owning their strings.
/// Whether `iss` is exactly `{issuer}/t/{tnt}`.
/// What [`Tokens::check_with`] found.
// The large variant is the hot one: boxing it would allocate on every verification.
#[allow(clippy::large_enum_variant)]
pub(super) enum Checked {
    /// The answer.
    Done(Result<Verified, Error>),
    /// The keys of organization `tnt` must be loaded before `kid` can be looked up.
    LoadKeys { tnt: OrgDomain, kid: String },
}

/// What [`Tokens::check`] answers for an expired token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// `Err(Expired)`: the token must not authorize anything.
    Refuse,
    /// `Ok` with `access_token_expired: true` (the seed's verify answer; revocation by `jti`).
    Report,
}

pub(super) fn issued_by(issuer: &str, iss: &str, tnt: &OrgDomain) -> bool {
    iss.strip_prefix(issuer)
        .and_then(|rest| rest.strip_prefix("/t/"))
        .is_some_and(|tenant| tenant == tnt.as_str())
}
