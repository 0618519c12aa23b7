//! The token service: authorization codes → tokens, refresh rotation, verification, user info,
//! revocation and global sign-out.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::claims::{
    AccessClaims, CLAIMS_VERSION, IdClaims, JTT_ACCESS, JTT_OPENID, ProfileClaims, TYP_ACCESS,
    TYP_ID, issuer_of,
};
use super::{jws, redirect_allowed};
use crate::Error;
use crate::cache::keyring::OrgKeys;
use crate::cache::revocation::Subject;
use crate::crypto::keys::{self, KeyPair};
use crate::crypto::pkce::CodeChallenge;
use crate::error::{Resource, TokenProblem};
use crate::identity::Identity;
use crate::join::join2;
use crate::model::application::{Application, TokenValidity};
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::model::organization::Organization;
use crate::model::user::User;
use crate::secret::Secret;
use crate::store::tokens::Revocation;
use crate::store::{
    FamilyId, Key, OneTimeEntry, RefreshState, RefreshTokenRecord, Rotation, Store, Take,
};

/// Key namespace of authorization codes in the [`OneTimeStore`](crate::store::OneTimeStore).
const CODE_NAMESPACE: &str = "authorization_code";
/// How long a used code is remembered, so a second redemption is detected (and revokes).
const CODE_RETENTION: Duration = Duration::days(1);

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
struct CodePayload {
    org: OrgDomain,
    user_id: UserId,
    client_id: ClientId,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    state: Option<String>,
    scope: Vec<String>,
    auth_time: i64,
    amr: Vec<String>,
    grant: Uuid,
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
}

/// The token service of one [`Identity`]; see [`Identity::tokens`].
pub struct Tokens<'a, S> {
    identity: &'a Identity<S>,
}

impl<'a, S: Store> Tokens<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>) -> Self {
        Self { identity }
    }

    fn env(&self) -> Environment {
        self.identity.environment()
    }

    /// Mints an authorization code for an already-authenticated user (the sign-in flow calls
    /// this). The code is single-use and lives for the configured code lifetime (≤ 10 minutes).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when the redirect URI is not exactly one of the application's
    /// allowed URLs; [`Error::InvalidClient`] when the client is unknown or not usable by the
    /// user's organization; [`Error::NotFound`] for an unknown user; [`Error::Forbidden`] for a
    /// disabled user; [`Error::Store`].
    pub async fn mint_code(&self, request: CodeRequest) -> Result<Secret, Error> {
        let now = self.identity.now();
        let app = self.application(request.client_id).await?;
        if !app_serves(&app, &request.org) {
            return Err(Error::InvalidClient);
        }
        if !redirect_allowed(&app.allowed_redirect_urls, &request.redirect_uri) {
            return Err(Error::InvalidRequest(
                "redirect_uri is not registered for this client",
            ));
        }
        if !self.user(&request.org, request.user_id).await?.active {
            return Err(Error::Forbidden("the user is disabled"));
        }
        let payload = CodePayload {
            org: request.org,
            user_id: request.user_id,
            client_id: request.client_id,
            redirect_uri: request.redirect_uri,
            code_challenge: request.code_challenge.as_str().to_owned(),
            nonce: request.nonce,
            state: request.state,
            scope: request.scope,
            auth_time: request.auth_time.unix_timestamp(),
            amr: request.amr,
            grant: crate::model::ids::new_v7(now),
        };
        let bytes = serde_json::to_vec(&payload).map_err(|_| Error::ApiMisuse("code payload"))?;
        let code = Secret::generate()?;
        let expires_at = now + self.identity.config().lifetimes().authorization_code;
        let entry = OneTimeEntry {
            payload: bytes,
            expires_at,
            retain_until: expires_at + CODE_RETENTION,
        };
        self.identity
            .store()
            .put_once(self.env(), &code_key(&code), &entry, now)
            .await?;
        Ok(code)
    }

    /// Redeems an authorization code (seed 000 "GetTokenFromCode").
    ///
    /// Checks the client (and its secret for confidential clients), that the code was issued to
    /// it, the exact redirect URI, and the PKCE verifier. A code redeemed a second time answers
    /// `invalid_grant` and revokes every token the first redemption issued.
    ///
    /// Order: everything that writes (the refresh token) happens before the code is taken, so a
    /// store failure leaves the code redeemable and a retry works.
    ///
    /// # Errors
    /// [`Error::InvalidClient`], [`Error::InvalidGrant`] (unknown, expired, used, other client,
    /// other redirect URI, wrong verifier), [`Error::Store`].
    pub async fn exchange_code(
        &self,
        client: &ClientAuth,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenSet, Error> {
        let env = self.env();
        let store = self.identity.store();
        let app = self.authenticate(client).await?;
        let code = Secret::from_presented(code);
        let key = code_key(&code);
        let now = self.identity.now();
        let Some(payload) = store.peek_once(env, &key, now).await? else {
            return self.code_not_redeemable(&key, now).await;
        };
        let payload: CodePayload =
            serde_json::from_slice(&payload).map_err(|_| Error::InvalidGrant)?;
        let binding_ok = payload.client_id == app.client_id
            && payload.redirect_uri == redirect_uri
            && CodeChallenge::parse(&payload.code_challenge, Some("S256"))
                .is_ok_and(|c| c.verify(code_verifier));
        if payload.client_id != app.client_id {
            self.cross_tenant_denied("exchange_code", &app, &payload.org, payload.client_id, now)
                .await?;
        }
        if !binding_ok {
            self.audit(
                NewEvent::new(EventCode::TOKEN_EXCHANGE_FAILED, now)
                    .tenant(&payload.org)
                    .client(client.client_id)
                    .detail("reason", "client, redirect_uri or code_verifier mismatch"),
            )
            .await;
            return Err(Error::InvalidGrant);
        }
        let user = match self.user(&payload.org, payload.user_id).await {
            Ok(user) if user.active => user,
            Ok(_) | Err(Error::NotFound(_)) => return Err(Error::InvalidGrant),
            Err(e) => return Err(e),
        };
        // A code whose authentication predates a revocation of the user's or the client's
        // tokens (password change, global sign-out, disable, client revocation) is dead too:
        // otherwise a sign-in under way during a password change would outlive it.
        let subject = Subject {
            tenant: &payload.org,
            jti: payload.grant,
            grant: payload.grant,
            user_id: payload.user_id,
            client_id: payload.client_id,
            issued_at: OffsetDateTime::from_unix_timestamp(payload.auth_time)
                .map_err(|_| Error::InvalidGrant)?,
        };
        match self.check_revocations(&subject).await {
            Ok(()) => {}
            Err(Error::InvalidToken(_)) => return Err(Error::InvalidGrant),
            Err(e) => return Err(e),
        }
        let family = FamilyId(payload.grant);
        let grant = Grant {
            org: &payload.org,
            user: &user,
            client_id: app.client_id,
            scope: &payload.scope,
            auth_time: payload.auth_time,
            amr: &payload.amr,
            nonce: payload.nonce.as_deref(),
            state: payload.state.as_deref(),
            code: Some(code.expose()),
            family,
            validity: app.token_validity,
        };
        let keys = self.keys_for_signing(&payload.org).await?;
        let (set, record) = self.issue(&keys, &grant, 0, None, now)?;
        store.insert_refresh_token(env, &record).await?;
        match store.take(env, &key, now).await? {
            Take::Taken(_) => {
                self.audit(
                    NewEvent::new(EventCode::TOKENS_ISSUED, now)
                        .tenant(&payload.org)
                        .client(app.client_id)
                        .user(user.id, &user.profile.email)
                        .detail("grant", payload.grant.to_string()),
                )
                .await;
                Ok(set)
            }
            Take::AlreadyTaken { .. } => {
                self.revoke_grant(
                    &payload.org,
                    family,
                    EventCode::TOKEN_REUSE_DETECTED,
                    "authorization code reused",
                    now,
                )
                .await?;
                Err(Error::InvalidGrant)
            }
            Take::Expired | Take::Missing => {
                store.revoke_family(env, family, now).await?;
                Err(Error::InvalidGrant)
            }
        }
    }

    /// A code that cannot be peeked: unknown, expired — or used, which revokes its grant.
    async fn code_not_redeemable(&self, key: &Key, now: OffsetDateTime) -> Result<TokenSet, Error> {
        // `take` tells a used code from an unknown one; it cannot take a used or expired code.
        if let Take::AlreadyTaken { payload, .. } =
            self.identity.store().take(self.env(), key, now).await?
            && let Ok(p) = serde_json::from_slice::<CodePayload>(&payload)
        {
            self.revoke_grant(
                &p.org,
                FamilyId(p.grant),
                EventCode::TOKEN_REUSE_DETECTED,
                "authorization code reused",
                now,
            )
            .await?;
        }
        Err(Error::InvalidGrant)
    }

    /// Rotates a refresh token (seed 000 "RefreshAccessToken").
    ///
    /// The presented token must be the current one of its family and bound to this client; the
    /// user must still exist. A rotated token presented again after the grace window is reuse:
    /// the whole family and its access tokens are revoked. Within the grace window (default 0)
    /// the immediately rotated token may be presented again once more: its successor (which the
    /// client evidently did not receive) is rotated in turn, so the family keeps exactly one
    /// current token.
    ///
    /// Clients must refresh one token at a time: two refreshes of one token at once (two tabs,
    /// a retry racing the original) are indistinguishable from a stolen token being replayed,
    /// so the second one revokes the family (a grace window tolerates one such retry). A client
    /// that may refresh from several places shares one refresh in flight among them.
    ///
    /// `scope`: `None` keeps the granted scopes; a narrower set is allowed; a broader one is
    /// `invalid_scope`. Profile claims are read again from the directory.
    ///
    /// # Errors
    /// [`Error::InvalidClient`], [`Error::InvalidGrant`], [`Error::InvalidScope`], [`Error::Store`].
    pub async fn refresh(
        &self,
        client: &ClientAuth,
        refresh_token: &str,
        scope: Option<&[String]>,
    ) -> Result<TokenSet, Error> {
        let env = self.env();
        let store = self.identity.store();
        let presented = Secret::from_presented(refresh_token).digest();
        // Independent reads, issued together; the client's answer is looked at first.
        let (app, record) = join2(
            self.authenticate(client),
            store.refresh_token(env, &presented),
        )
        .await;
        let app = app?;
        let now = self.identity.now();
        let record = record?.ok_or(Error::InvalidGrant)?;
        if record.client_id != app.client_id {
            self.cross_tenant_denied("refresh", &app, &record.org, record.client_id, now)
                .await?;
            return Err(Error::InvalidGrant);
        }
        let granted: Vec<String> = record.scope.split_whitespace().map(str::to_owned).collect();
        let scope = match scope {
            None => granted,
            Some(asked) if asked.iter().all(|s| granted.contains(s)) => asked.to_vec(),
            Some(_) => return Err(Error::InvalidScope),
        };
        let user = match self.user(&record.org, record.user_id).await {
            Ok(user) if user.active => user,
            Ok(_) | Err(Error::NotFound(_)) => return Err(Error::InvalidGrant),
            Err(e) => return Err(e),
        };
        let grant = Grant {
            org: &record.org,
            user: &user,
            client_id: app.client_id,
            scope: &scope,
            auth_time: record.auth_time.unix_timestamp(),
            amr: &[],
            nonce: None,
            state: None,
            code: None,
            family: record.family,
            validity: app.token_validity,
        };
        let keys = self.keys_for_signing(&record.org).await?;
        let (set, successor) = self.issue(
            &keys,
            &grant,
            record.generation + 1,
            Some(record.family_expires_at),
            now,
        )?;
        // Written with the rotation (one commit, where the store can).
        let refreshed = NewEvent::new(EventCode::TOKENS_REFRESHED, now)
            .tenant(&record.org)
            .client(app.client_id)
            .user(user.id, &user.profile.email)
            .detail("grant", record.family.0.to_string());
        let mut target = presented;
        for _ in 0..2 {
            match store
                .rotate_refresh_token_audited(env, &target, &successor, now, &refreshed)
                .await?
            {
                Rotation::Rotated(_) => return Ok(set),
                Rotation::NotCurrent(stored) => match stored.state {
                    RefreshState::Rotated {
                        at,
                        successor: next,
                    } if target == presented
                        && now - at < self.identity.config().refresh_grace() =>
                    {
                        target = next;
                    }
                    RefreshState::Revoked { .. } => return Err(Error::InvalidGrant),
                    _ => {
                        self.revoke_grant(
                            &record.org,
                            record.family,
                            EventCode::TOKEN_REUSE_DETECTED,
                            "refresh token reused",
                            now,
                        )
                        .await?;
                        return Err(Error::InvalidGrant);
                    }
                },
                Rotation::Expired(_) | Rotation::Missing => return Err(Error::InvalidGrant),
            }
        }
        self.revoke_grant(
            &record.org,
            record.family,
            EventCode::TOKEN_REUSE_DETECTED,
            "refresh token reused",
            now,
        )
        .await?;
        Err(Error::InvalidGrant)
    }

    /// Verifies an access token without consulting revocations (stateless).
    ///
    /// Always checked: the compact form, the header (`alg` of the key, no `none`, no `crit`, no
    /// embedded keys, `typ` `at+jwt`), the signature with the organization's key named by
    /// `kid`, `iss` (exactly `{issuer}/t/{tnt}`), `aud` (exactly the configured audience),
    /// `dbs` (this environment), `jtt` (`access`), `nbf` and `exp` with the configured leeway.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] with the reason, [`Error::Store`] or [`Error::Keys`] when the
    /// organization's keys cannot be loaded.
    pub async fn verify(&self, token: &str) -> Result<Verified, Error> {
        self.check(token, Expiry::Refuse).await
    }

    /// [`Tokens::verify`], then revocations: the token's `jti`, its grant, its user's and its
    /// client's "not before" (global sign-out, password change, deletion, client revocation).
    /// Uses an in-process view of the store's revocation feed: revocations made through this
    /// [`Identity`] apply at once; those made by other instances sharing the store are seen
    /// within [`TokenSettings::revocation_poll_interval`](crate::TokenSettings::revocation_poll_interval)
    /// (500 ms by default) plus one store round trip. If the view cannot catch up for
    /// `revocation_max_staleness` (5 s), this fails closed.
    ///
    /// # Errors
    /// As [`Tokens::verify`], plus [`Error::InvalidToken`]`(Revoked)`, and [`Error::Store`] when
    /// the revocation view is too stale and the store cannot be reached (fail closed).
    pub async fn verify_live(&self, token: &str) -> Result<Verified, Error> {
        let verified = self.verify(token).await?;
        let c = &verified.claims;
        let subject = Subject {
            tenant: &c.tnt,
            jti: c.jti,
            grant: c.gid,
            user_id: c.uid,
            client_id: c.cid,
            issued_at: OffsetDateTime::from_unix_timestamp(c.iat)
                .map_err(|_| Error::InvalidToken(TokenProblem::Claims))?,
        };
        self.check_revocations(&subject).await?;
        Ok(verified)
    }

    /// The seed's verify answer: like [`Tokens::verify`], except that an expired but otherwise
    /// valid token is `Ok` with `access_token_expired: true` (so the client knows to refresh).
    /// Never use this to authorize a request.
    ///
    /// # Errors
    /// As [`Tokens::verify`], except expiry.
    pub async fn verify_report(&self, token: &str) -> Result<Verified, Error> {
        self.check(token, Expiry::Report).await
    }

    /// Verifies an ID token issued to `client_id` (for example an `id_token_hint`), without
    /// consulting revocations.
    ///
    /// Always checked: the compact form, the header (`alg` of the key, `typ` `JWT`), the
    /// signature with the organization's key named by `kid`, `iss`, `dbs`, `aud`, `azp` and
    /// `cid` (all exactly `client_id`), `jtt` (`openid`), `nbf` and `exp` with the leeway.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] with the reason (an access token is `Type`; another client's ID
    /// token is `Audience`), [`Error::Store`] or [`Error::Keys`] as [`Tokens::verify`].
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: ClientId,
    ) -> Result<IdClaims<'static>, Error> {
        let config = self.identity.config();
        let decoded =
            jws::decode(token).map_err(|_| Error::InvalidToken(TokenProblem::Malformed))?;
        if decoded.typ() != Some(TYP_ID) {
            return Err(Error::InvalidToken(TokenProblem::Type));
        }
        let claims: IdClaims<'_> = serde_json::from_slice(decoded.payload())
            .map_err(|_| Error::InvalidToken(TokenProblem::Claims))?;
        let now = self.identity.now();
        self.check_signature(&decoded, &claims.tnt, now).await?;
        if !issued_by(config.issuer().as_str(), &claims.iss, &claims.tnt)
            || claims.dbs != self.env()
        {
            return Err(Error::InvalidToken(TokenProblem::Issuer));
        }
        if claims.aud != client_id || claims.azp != client_id || claims.cid != client_id {
            return Err(Error::InvalidToken(TokenProblem::Audience));
        }
        if claims.jtt != JTT_OPENID || claims.ver != CLAIMS_VERSION {
            return Err(Error::InvalidToken(TokenProblem::Type));
        }
        let expired =
            self.check_times(claims.exp, claims.iat, claims.nbf, claims.auth_time, now)?;
        if expired {
            return Err(Error::InvalidToken(TokenProblem::Expired));
        }
        Ok(IdClaims {
            iss: Cow::Owned(claims.iss.into_owned()),
            jtt: Cow::Borrowed(JTT_OPENID),
            nonce: claims.nonce.map(|n| Cow::Owned(n.into_owned())),
            ..claims
        })
    }

    /// [`Tokens::verify_id_token`], then revocations, as [`Tokens::verify_live`] does for access
    /// tokens: after a global sign-out, a password change, a disable, a deletion, a revoked
    /// grant or a revoked client, the ID tokens issued before fail here too.
    ///
    /// # Errors
    /// As [`Tokens::verify_id_token`], plus [`Error::InvalidToken`]`(Revoked)`, and
    /// [`Error::Store`] when the revocation view is too stale (fail closed).
    pub async fn verify_id_token_live(
        &self,
        token: &str,
        client_id: ClientId,
    ) -> Result<IdClaims<'static>, Error> {
        let claims = self.verify_id_token(token, client_id).await?;
        let subject = Subject {
            tenant: &claims.tnt,
            jti: claims.jti,
            grant: claims.gid,
            user_id: claims.sub,
            client_id: claims.cid,
            issued_at: OffsetDateTime::from_unix_timestamp(claims.iat)
                .map_err(|_| Error::InvalidToken(TokenProblem::Claims))?,
        };
        self.check_revocations(&subject).await?;
        Ok(claims)
    }

    /// User info from an access token (live-verified): the current profile claims.
    ///
    /// # Errors
    /// As [`Tokens::verify_live`]; [`Error::InvalidToken`]`(Revoked)` when the user no longer
    /// exists or is disabled.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, Error> {
        let verified = self.verify_live(access_token).await?;
        let c = &verified.claims;
        let user = match self.user(&c.tnt, c.uid).await {
            Ok(user) if user.active => user,
            Ok(_) | Err(Error::NotFound(_)) => {
                return Err(Error::InvalidToken(TokenProblem::Revoked));
            }
            Err(e) => return Err(e),
        };
        let profile = ProfileClaims::of(&user);
        Ok(UserInfo {
            sub: user.id,
            username: user
                .profile
                .preferred_username
                .as_ref()
                .map_or_else(|| user.profile.email.to_string(), |n| n.to_string()),
            auth_time: c.auth_time,
            exp: c.exp,
            profile,
        })
    }

    /// Revokes a refresh token and every token of its grant (RFC 7009). An unknown token is a
    /// success; another client's token is refused and stays active.
    ///
    /// # Errors
    /// [`Error::InvalidClient`] (also for another client's token), [`Error::Store`] — a revocation
    /// that could not be stored is reported, never a success.
    pub async fn revoke_refresh_token(
        &self,
        client: &ClientAuth,
        token: &str,
    ) -> Result<(), Error> {
        let app = self.authenticate(client).await?;
        let digest = Secret::from_presented(token).digest();
        let Some(record) = self
            .identity
            .store()
            .refresh_token(self.env(), &digest)
            .await?
        else {
            return Ok(());
        };
        let now = self.identity.now();
        if record.client_id != app.client_id {
            self.cross_tenant_denied("revoke", &app, &record.org, record.client_id, now)
                .await?;
            return Err(Error::InvalidClient);
        }
        self.revoke_grant(
            &record.org,
            record.family,
            EventCode::TOKEN_REVOKED,
            "revoked by its client",
            now,
        )
        .await
    }

    /// Revokes one access token by its `jti` (RFC 7009 with an access token). The token must
    /// verify and belong to the client.
    ///
    /// # Errors
    /// [`Error::InvalidClient`], [`Error::InvalidToken`], [`Error::Store`].
    pub async fn revoke_access_token(&self, client: &ClientAuth, token: &str) -> Result<(), Error> {
        let app = self.authenticate(client).await?;
        let verified = match self.check(token, Expiry::Report).await {
            Ok(v) => v,
            // Unknown or invalid tokens: nothing to revoke (RFC 7009 §2.2).
            Err(Error::InvalidToken(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if verified.claims.cid != app.client_id {
            let now = self.identity.now();
            let (org, owner) = (&verified.claims.tnt, verified.claims.cid);
            self.cross_tenant_denied("revoke", &app, org, owner, now)
                .await?;
            return Err(Error::InvalidClient);
        }
        let expires_at = OffsetDateTime::from_unix_timestamp(verified.exp)
            .map_err(|_| Error::InvalidToken(TokenProblem::Claims))?;
        let revocation = Revocation::Token {
            jti: verified.claims.jti,
            expires_at: expires_at + self.identity.config().leeway(),
        };
        self.record(&revocation).await?;
        // A required event (SECURITY 55): a revocation answered as a success is in the log.
        self.audit_required(
            NewEvent::new(EventCode::TOKEN_REVOKED, self.identity.now())
                .tenant(&verified.claims.tnt)
                .client(app.client_id)
                .detail("jti", verified.claims.jti.to_string()),
        )
        .await
    }

    /// Global sign-out (seed 000 "GlobalSignOut"): every refresh token of the user is revoked,
    /// and every access and ID token issued up to now fails live verification (tokens issued in
    /// the same second are included).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown user, [`Error::Store`].
    pub async fn global_sign_out(&self, org: &OrgDomain, user_id: UserId) -> Result<(), Error> {
        let user = self.user(org, user_id).await?;
        let now = self.identity.now();
        self.revoke_user(org, user_id, now).await?;
        self.audit_required(
            NewEvent::new(EventCode::GLOBAL_SIGN_OUT, now)
                .tenant(org)
                .user(user.id, &user.profile.email),
        )
        .await
    }

    /// Revokes every token of a user (used by global sign-out, password change and deletion).
    pub(crate) async fn revoke_user(
        &self,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let not_before = next_second(now);
        self.identity
            .store()
            .revoke_user_refresh_tokens(self.env(), org, user_id, now)
            .await?;
        self.record(&Revocation::User {
            org: org.clone(),
            user_id,
            not_before,
            expires_at: not_before + self.identity.config().longest_token_lifetime(),
        })
        .await
    }

    /// Revokes every token of an organization that is being deleted: live verification refuses
    /// its access and ID tokens from now on (its refresh tokens, codes and user info already
    /// need a live organization).
    pub(crate) async fn revoke_organization(&self, org: &Organization) -> Result<(), Error> {
        let not_before = next_second(self.identity.now());
        self.record(&Revocation::Organization {
            id: org.id,
            org: org.domain.clone(),
            not_before,
            expires_at: not_before + self.identity.config().longest_token_lifetime(),
        })
        .await
    }

    /// Revokes every token of a client.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn revoke_client(&self, client_id: ClientId) -> Result<(), Error> {
        let now = self.identity.now();
        self.revoke_client_tokens(client_id, now).await?;
        self.audit_required(NewEvent::new(EventCode::CLIENT_TOKENS_REVOKED, now).client(client_id))
            .await
    }

    /// [`Tokens::revoke_client`] without its audit event (deleting the application records
    /// its own).
    pub(crate) async fn revoke_client_tokens(
        &self,
        client_id: ClientId,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let not_before = next_second(now);
        self.identity
            .store()
            .revoke_client_refresh_tokens(self.env(), client_id, now)
            .await?;
        self.record(&Revocation::Client {
            client_id,
            not_before,
            expires_at: not_before + self.identity.config().longest_token_lifetime(),
        })
        .await
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
    ///
    /// # Errors
    /// [`Error::Keys`], [`Error::Store`].
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

    // --- internals ---

    /// Parses and checks a token; `access_token_expired` tells expiry instead of failing.
    async fn check_revocations(&self, subject: &Subject<'_>) -> Result<(), Error> {
        let revoked = self
            .identity
            .revocations()
            .is_revoked(
                self.identity.store(),
                self.env(),
                subject,
                self.identity.now(),
            )
            .await?;
        if revoked {
            return Err(Error::InvalidToken(TokenProblem::Revoked));
        }
        Ok(())
    }

    /// The signature of a decoded token, with the key its `kid` names among `tnt`'s keys.
    async fn check_signature(
        &self,
        decoded: &jws::Decoded<'_>,
        tnt: &OrgDomain,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let kid = decoded
            .kid()
            .ok_or(Error::InvalidToken(TokenProblem::Header))?;
        let keys = self
            .identity
            .key_ring()
            .for_verifying(self.identity.store(), self.env(), tnt, kid, now)
            .await?
            .ok_or(Error::InvalidToken(TokenProblem::UnknownKey))?;
        let key = keys
            .verifying(kid, now)
            .ok_or(Error::InvalidToken(TokenProblem::UnknownKey))?;
        jws::verify(decoded, key).map_err(|_| Error::InvalidToken(TokenProblem::Signature))
    }

    /// Checks the NumericDate claims of a verified token; answers whether it has expired.
    fn check_times(
        &self,
        exp: i64,
        iat: i64,
        nbf: i64,
        auth_time: i64,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        if exp <= 0 || iat <= 0 || nbf <= 0 || auth_time <= 0 {
            return Err(Error::InvalidToken(TokenProblem::Claims));
        }
        let leeway = self.identity.config().leeway().whole_seconds();
        let now_s = now.unix_timestamp();
        if nbf > now_s + leeway || iat > now_s + leeway {
            return Err(Error::InvalidToken(TokenProblem::NotYetValid));
        }
        Ok(now_s >= exp.saturating_add(leeway))
    }

    /// Verifies an access token. The hot path awaits nothing: with its organization's keys in
    /// memory, [`Self::check_with`] answers at once; only a token whose keys must be loaded first
    /// takes the (boxed, so the hot future stays small) loading path.
    async fn check(&self, token: &str, expiry: Expiry) -> Result<Verified, Error> {
        match self.check_with(token, expiry, None) {
            Checked::Done(result) => result,
            Checked::LoadKeys { tnt, kid } => {
                Box::pin(self.check_loading(token, expiry, tnt, kid)).await
            }
        }
    }

    /// Loads the keys of organization `tnt` (see [`KeyRing`](super::keyring)), then verifies
    /// with them.
    async fn check_loading(
        &self,
        token: &str,
        expiry: Expiry,
        tnt: OrgDomain,
        kid: String,
    ) -> Result<Verified, Error> {
        let keys = self
            .identity
            .key_ring()
            .for_verifying(
                self.identity.store(),
                self.env(),
                &tnt,
                &kid,
                self.identity.now(),
            )
            .await?
            .ok_or(Error::InvalidToken(TokenProblem::UnknownKey))?;
        match self.check_with(token, expiry, Some(&keys)) {
            Checked::Done(result) => result,
            Checked::LoadKeys { .. } => Err(Error::InvalidToken(TokenProblem::UnknownKey)),
        }
    }

    /// Verifies an access token with `keys` (its organization's), or with the key ring's keys
    /// when they are in memory and fresh; [`Checked::LoadKeys`] when they must be loaded first.
    fn check_with(&self, token: &str, expiry: Expiry, keys: Option<&OrgKeys>) -> Checked {
        let invalid = |problem| Checked::Done(Err(Error::InvalidToken(problem)));
        let config = self.identity.config();
        let Ok(decoded) = jws::decode(token) else {
            return invalid(TokenProblem::Malformed);
        };
        if decoded.typ() != Some(TYP_ACCESS) {
            return invalid(TokenProblem::Type);
        }
        let Some(claims) = AccessClaims::from_json(decoded.payload()) else {
            return invalid(TokenProblem::Claims);
        };
        let now = self.identity.now();
        let Some(kid) = decoded.kid() else {
            return invalid(TokenProblem::Header);
        };
        let cached;
        let keys = match keys {
            Some(keys) => keys,
            None => match self.identity.key_ring().fresh(&claims.tnt, kid, now) {
                Some(fresh) => {
                    cached = fresh;
                    &cached
                }
                None => {
                    return Checked::LoadKeys {
                        tnt: claims.tnt,
                        kid: kid.to_owned(),
                    };
                }
            },
        };
        let Some(key) = keys.verifying(kid, now) else {
            return invalid(TokenProblem::UnknownKey);
        };
        if jws::verify(&decoded, key).is_err() {
            return invalid(TokenProblem::Signature);
        }
        // Only claims of a verified token are looked at from here on.
        if !issued_by(config.issuer().as_str(), &claims.iss, &claims.tnt)
            || claims.dbs != self.env()
        {
            return invalid(TokenProblem::Issuer);
        }
        if claims.aud != config.audience() {
            return invalid(TokenProblem::Audience);
        }
        if claims.jtt != JTT_ACCESS || claims.ver != CLAIMS_VERSION || claims.sub != claims.uid {
            return invalid(TokenProblem::Type);
        }
        let expired =
            match self.check_times(claims.exp, claims.iat, claims.nbf, claims.auth_time, now) {
                Ok(expired) => expired,
                Err(e) => return Checked::Done(Err(e)),
            };
        if expired && expiry == Expiry::Refuse {
            return invalid(TokenProblem::Expired);
        }
        Checked::Done(Ok(Verified {
            signature_verified: true,
            access_token_expired: expired,
            auth_time: claims.auth_time,
            exp: claims.exp,
            claims,
        }))
    }

    /// Builds the token set of a grant and the refresh record to store.
    fn issue(
        &self,
        keys: &OrgKeys,
        grant: &Grant<'_>,
        generation: u32,
        family_expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(TokenSet, RefreshTokenRecord), Error> {
        let config = self.identity.config();
        let defaults = config.lifetimes();
        let access_lifetime = grant.validity.access_token.unwrap_or(defaults.access_token);
        let id_lifetime = grant.validity.id_token.unwrap_or(defaults.id_token);
        let refresh_lifetime = grant
            .validity
            .refresh_token
            .unwrap_or(defaults.refresh_token);
        let iat = now.unix_timestamp();
        let issuer = issuer_of(config.issuer().as_str(), grant.org);
        let access_exp = iat + access_lifetime.whole_seconds();
        let access = AccessClaims {
            iss: Cow::Borrowed(&issuer),
            sub: grant.user.id,
            aud: Cow::Borrowed(config.audience()),
            cid: grant.client_id,
            dbs: self.env(),
            exp: access_exp,
            iat,
            nbf: iat,
            jti: crate::model::ids::new_v7(now),
            jtt: Cow::Borrowed(JTT_ACCESS),
            scp: grant
                .scope
                .iter()
                .map(|s| Cow::Borrowed(s.as_str()))
                .collect(),
            tnt: grant.org.clone(),
            ver: CLAIMS_VERSION,
            uid: grant.user.id,
            auth_time: grant.auth_time,
            gid: grant.family.0,
        };
        let mut id = IdClaims {
            iss: Cow::Borrowed(&issuer),
            sub: grant.user.id,
            aud: grant.client_id,
            azp: grant.client_id,
            cid: grant.client_id,
            dbs: self.env(),
            exp: iat + id_lifetime.whole_seconds(),
            iat,
            nbf: iat,
            jti: crate::model::ids::new_v7(now),
            jtt: Cow::Borrowed(JTT_OPENID),
            tnt: grant.org.clone(),
            ver: CLAIMS_VERSION,
            auth_time: grant.auth_time,
            gid: grant.family.0,
            nonce: grant.nonce.map(Cow::Borrowed),
            at_hash: None,
            c_hash: None,
            s_hash: None,
            amr: grant.amr.to_vec(),
            profile: ProfileClaims::of(grant.user),
        };
        let (access_token, id_token) =
            sign_pair(&keys.signing, &access, &mut id, grant.code, grant.state)?;
        let refresh_token = Secret::generate()?;
        let family_expires_at = family_expires_at.unwrap_or(now + refresh_lifetime);
        let scope = grant.scope.join(" ");
        let record = RefreshTokenRecord {
            digest: refresh_token.digest(),
            family: grant.family,
            generation,
            org: grant.org.clone(),
            user_id: grant.user.id,
            client_id: grant.client_id,
            scope: scope.clone(),
            auth_time: OffsetDateTime::from_unix_timestamp(grant.auth_time)
                .map_err(|_| Error::ApiMisuse("auth_time"))?,
            issued_at: now,
            expires_at: family_expires_at,
            family_expires_at,
            state: RefreshState::Active,
        };
        Ok((
            TokenSet {
                access_token,
                id_token,
                refresh_token,
                expires_in: access_exp - iat,
                scope,
            },
            record,
        ))
    }

    /// Revokes a grant: its refresh tokens in the store, its access tokens in the feed; records
    /// `code` (reuse detected, or a plain revocation) with the reason.
    async fn revoke_grant(
        &self,
        org: &OrgDomain,
        family: FamilyId,
        code: EventCode,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        self.identity
            .store()
            .revoke_family(self.env(), family, now)
            .await?;
        self.record(&Revocation::Grant {
            family,
            expires_at: now + self.identity.config().longest_token_lifetime(),
        })
        .await?;
        self.audit_required(
            NewEvent::new(code, now)
                .tenant(org)
                .detail("grant", family.0.to_string())
                .detail("reason", reason),
        )
        .await
    }

    async fn record(&self, revocation: &Revocation) -> Result<(), Error> {
        self.identity
            .store()
            .record_revocation(self.env(), revocation)
            .await?;
        self.identity.revocations().apply_local(revocation);
        Ok(())
    }

    async fn authenticate(&self, client: &ClientAuth) -> Result<Application, Error> {
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

    async fn application(&self, client_id: ClientId) -> Result<Application, Error> {
        self.identity
            .store()
            .application(self.env(), client_id)
            .await?
            .filter(|a| a.deleted_at.is_none())
            .ok_or(Error::InvalidClient)
    }

    /// The user, if it and its organization are live: one store read.
    async fn user(&self, org: &OrgDomain, id: UserId) -> Result<User, Error> {
        self.identity
            .store()
            .live_user(self.env(), org, id)
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    async fn keys_for_signing(&self, org: &OrgDomain) -> Result<std::sync::Arc<OrgKeys>, Error> {
        self.identity
            .key_ring()
            .for_signing(self.identity.store(), self.env(), org, self.identity.now())
            .await
    }

    /// Records an informative event: failing to record it does not fail the call.
    async fn audit(&self, event: NewEvent) {
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
    async fn audit_required(&self, event: NewEvent) -> Result<(), Error> {
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
struct Grant<'a> {
    org: &'a OrgDomain,
    user: &'a User,
    client_id: ClientId,
    scope: &'a [String],
    auth_time: i64,
    amr: &'a [String],
    nonce: Option<&'a str>,
    state: Option<&'a str>,
    code: Option<&'a str>,
    family: FamilyId,
    /// The application's own lifetimes, where it set them.
    validity: TokenValidity,
}

fn code_key(code: &Secret) -> Key {
    Key::digest(CODE_NAMESPACE, &code.digest())
}

fn app_serves(app: &Application, org: &OrgDomain) -> bool {
    app.scope.organization().is_none_or(|scoped| scoped == org)
}

/// The first whole second after `now`: "not before" instants cover tokens of the same second.
fn next_second(now: OffsetDateTime) -> OffsetDateTime {
    let floor = now.replace_nanosecond(0).unwrap_or(now);
    floor + Duration::seconds(1)
}

/// The claims of a token already checked, owning their strings.
/// Whether `iss` is exactly `{issuer}/t/{tnt}`.
/// What [`Tokens::check_with`] found.
// The large variant is the hot one: boxing it would allocate on every verification.
#[allow(clippy::large_enum_variant)]
enum Checked {
    /// The answer.
    Done(Result<Verified, Error>),
    /// The keys of organization `tnt` must be loaded before `kid` can be looked up.
    LoadKeys { tnt: OrgDomain, kid: String },
}

/// What [`Tokens::check`] answers for an expired token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// `Err(Expired)`: the token must not authorize anything.
    Refuse,
    /// `Ok` with `access_token_expired: true` (the seed's verify answer; revocation by `jti`).
    Report,
}

fn issued_by(issuer: &str, iss: &str, tnt: &OrgDomain) -> bool {
    iss.strip_prefix(issuer)
        .and_then(|rest| rest.strip_prefix("/t/"))
        .is_some_and(|tenant| tenant == tnt.as_str())
}
