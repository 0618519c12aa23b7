//! Issuing tokens: authorization codes minted and exchanged once, refresh rotation with reuse
//! detection, and the one place a token set is signed.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::claims::{
    AccessClaims, CLAIMS_VERSION, IdClaims, JTT_ACCESS, JTT_OPENID, Metadata, ProfileClaims,
    issuer_of,
};
use super::redirect_allowed;
use crate::Error;
use crate::cache::keyring::OrgKeys;
use crate::cache::revocation::Subject;
use crate::crypto::pkce::CodeChallenge;
use crate::join::join2;
use crate::model::event::{EventCode, NewEvent};
use crate::secret::{Digest, Secret, base64url, constant_time_eq};
use crate::store::{
    FamilyId, Key, OneTimeEntry, RefreshState, RefreshTokenRecord, Rotation, Store, Take,
};

use super::service::*;

impl<'a, S: Store> Tokens<'a, S> {
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
        let (user, schema) = self.user_and_schema(&request.org, request.user_id).await?;
        if !user.active {
            return Err(Error::Forbidden("the user is disabled"));
        }
        // A required metakey without a value is said at sign-in, not only at the exchange.
        self.custom_claims(&user, &schema).await?;
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
        let (user, schema) = match self.user_and_schema(&payload.org, payload.user_id).await {
            Ok((user, schema)) if user.active => (user, schema),
            Ok(_) | Err(Error::NotFound(_)) => return Err(Error::InvalidGrant),
            Err(e) => return Err(e),
        };
        let custom = self.custom_claims(&user, &schema).await?;
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
            custom: &custom,
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
        let (set, record) = self.issue(&keys, &grant, 0, None, now, None)?;
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
    pub(super) async fn code_not_redeemable(
        &self,
        key: &Key,
        now: OffsetDateTime,
    ) -> Result<TokenSet, Error> {
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
    /// user must still exist. A rotated token presented again is reuse: the whole family and
    /// its access tokens are revoked.
    ///
    /// # The reuse interval
    /// Several tabs of one application, or a retry racing its original, refresh the same token
    /// at once. With [`TokenSettings::refresh_grace`](crate::TokenSettings::refresh_grace) (the
    /// reuse interval, default 0: off) set, a token rotated less than that long ago and
    /// presented again gets **the same successor** instead of a revocation: the same refresh
    /// token, and access and ID tokens with the same claims (`jti`, `iat`, `exp`) re-signed —
    /// an idempotent rotation, as Okta's grace period and Auth0's reuse interval do. Exactly
    /// one rotation is stored and audited (`TOKENS_REFRESHED`); each repetition is audited as
    /// `TOKENS_REFRESH_REPEATED`. The family keeps exactly one current token. It still counts
    /// as reuse, and revokes the family, when the interval has passed, or when the successor
    /// is no longer current (it was itself rotated or revoked). The successor's scope is the
    /// one the first rotation granted, whatever a repetition asks.
    ///
    /// How: with an interval set, a successor is a keyed function (HMAC-SHA256 under a key
    /// derived from the key-encryption key) of the presented token, which only its holder
    /// knows; the store keeps only digests, as always. A stolen token replayed within the
    /// interval gets what its owner got — the price of any reuse interval; keep it short (it is
    /// at most 2 minutes).
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
        let (user, schema) = match self.user_and_schema(&record.org, record.user_id).await {
            Ok((user, schema)) if user.active => (user, schema),
            Ok(_) | Err(Error::NotFound(_)) => return Err(Error::InvalidGrant),
            Err(e) => return Err(e),
        };
        let custom = self.custom_claims(&user, &schema).await?;
        let mut grant = Grant {
            org: &record.org,
            user: &user,
            custom: &custom,
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
        let reuse_interval = self.identity.config().refresh_grace();
        let successor_token = if reuse_interval.is_positive() {
            Some(self.successor_of(refresh_token)?)
        } else {
            None
        };
        let keys = self.keys_for_signing(&record.org).await?;
        let generation = record.generation + 1;
        let family_expires_at = Some(record.family_expires_at);
        let (set, successor) = self.issue(
            &keys,
            &grant,
            generation,
            family_expires_at,
            now,
            successor_token.as_ref(),
        )?;
        // Written with the rotation (one commit, where the store can).
        let refreshed = NewEvent::new(EventCode::TOKENS_REFRESHED, now)
            .tenant(&record.org)
            .client(app.client_id)
            .user(user.id, &user.profile.email)
            .detail("grant", record.family.0.to_string());
        let stored = match store
            .rotate_refresh_token_audited(env, &presented, &successor, now, &refreshed)
            .await?
        {
            Rotation::Rotated(_) => return Ok(set),
            Rotation::NotCurrent(stored) => stored,
            Rotation::Expired(_) | Rotation::Missing => return Err(Error::InvalidGrant),
        };
        match stored.state {
            RefreshState::Revoked { .. } => return Err(Error::InvalidGrant),
            // Presented again within the interval: the same successor, if it is still the
            // family's current token.
            RefreshState::Rotated {
                at,
                successor: next,
            } if successor_token.is_some()
                && now - at < reuse_interval
                && constant_time_eq(next.as_bytes(), successor.digest.as_bytes()) =>
            {
                if let Some(current) = store.refresh_token(env, &next).await?
                    && current.state == RefreshState::Active
                    && current.family == record.family
                {
                    let scope: Vec<String> = current
                        .scope
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect();
                    grant.scope = &scope;
                    let (set, _) = self.issue(
                        &keys,
                        &grant,
                        generation,
                        family_expires_at,
                        at,
                        successor_token.as_ref(),
                    )?;
                    self.audit(
                        NewEvent::new(EventCode::TOKENS_REFRESH_REPEATED, now)
                            .tenant(&record.org)
                            .client(app.client_id)
                            .user(user.id, &user.profile.email)
                            .detail("grant", record.family.0.to_string())
                            .detail("rotated_at", at.unix_timestamp().to_string()),
                    )
                    .await;
                    return Ok(set);
                }
            }
            _ => {}
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

    /// The successor of a presented refresh token under a reuse interval: a keyed function of
    /// the token and the environment.
    fn successor_of(&self, presented: &str) -> Result<Secret, Error> {
        let mac = self
            .identity
            .signin_keys()?
            .refresh_successor(&[self.env().as_str().as_bytes(), presented.as_bytes()]);
        Ok(Secret::from_presented(base64url(mac.as_bytes())))
    }

    /// Builds the token set of a grant and the refresh record to store.
    pub(super) fn issue(
        &self,
        keys: &OrgKeys,
        grant: &Grant<'_>,
        generation: u32,
        family_expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
        successor: Option<&Secret>,
    ) -> Result<(TokenSet, RefreshTokenRecord), Error> {
        let defaults = self.identity.config().lifetimes();
        let refresh_lifetime = grant
            .validity
            .refresh_token
            .unwrap_or(defaults.refresh_token);
        let issuer = issuer_of(self.identity.config().issuer().as_str(), grant.org);
        let (mut access, mut id) = self.claim_sets(&issuer, grant, now);
        let refresh_token = match successor {
            // A derived successor: the claims a repetition re-creates are the same, so the
            // token ids are derived from it too.
            Some(token) => {
                access.jti = derived_jti(access.iat, b"access", token);
                id.jti = derived_jti(id.iat, b"id", token);
                token.clone()
            }
            None => Secret::generate()?,
        };
        let (access_exp, iat) = (access.exp, access.iat);
        let (access_token, id_token) =
            sign_pair(&keys.signing, &access, &mut id, grant.code, grant.state)?;
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

    /// The access and ID claims a grant issues at `now` (the ID token's hashes not yet set).
    pub(super) fn claim_sets<'c>(
        &'c self,
        issuer: &'c str,
        grant: &Grant<'c>,
        now: OffsetDateTime,
    ) -> (AccessClaims<'c>, IdClaims<'c>) {
        let config = self.identity.config();
        let defaults = config.lifetimes();
        let access_lifetime = grant.validity.access_token.unwrap_or(defaults.access_token);
        let id_lifetime = grant.validity.id_token.unwrap_or(defaults.id_token);
        let iat = now.unix_timestamp();
        let access_exp = iat + access_lifetime.whole_seconds();
        let access = AccessClaims {
            iss: Cow::Borrowed(issuer),
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
            metadata: Metadata(grant.custom.metadata.clone()),
            roles: grant.custom.roles.clone(),
            actions: grant.custom.actions.clone(),
            attributes: grant.custom.attributes.clone(),
            groups: grant.custom.groups.clone(),
        };
        let id = IdClaims {
            iss: Cow::Borrowed(issuer),
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
            metadata: access.metadata.clone(),
            roles: access.roles.clone(),
            actions: access.actions.clone(),
            attributes: access.attributes.clone(),
            groups: access.groups.clone(),
        };
        (access, id)
    }
}

/// A version 7 token id whose time is `iat` and whose other bits come from the token it is
/// derived from: the same for every repetition of one rotation, unguessable without the token.
fn derived_jti(iat: i64, what: &[u8], token: &Secret) -> uuid::Uuid {
    let digest = Digest::of(&[b"idcore jti ", what, b" ", token.expose().as_bytes()].concat());
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest.as_bytes()[..10]);
    let millis = u64::try_from(iat).unwrap_or(0).saturating_mul(1000);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
