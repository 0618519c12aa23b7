//! Revoking tokens: refresh and access tokens (RFC 7009), global sign-out, and the revocations
//! that deleting or disabling a user, client or organization records.

use time::OffsetDateTime;

use crate::Error;
use crate::error::TokenProblem;
use crate::model::application::ApplicationScope;
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::{ClientId, OrgDomain, UserId};
use crate::model::organization::Organization;
use crate::secret::Secret;
use crate::store::sessions::user_session_set;
use crate::store::tokens::Revocation;
use crate::store::{FamilyId, Store};

use super::service::*;

impl<'a, S: Store> Tokens<'a, S> {
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

    /// Revokes every token of a user and ends its sessions (used by global sign-out, password
    /// change, disabling and deletion).
    pub(crate) async fn revoke_user(
        &self,
        org: &OrgDomain,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let not_before = next_second(now);
        let store = self.identity.store();
        store
            .revoke_user_refresh_tokens(self.env(), org, user_id, now)
            .await?;
        // Every SSO session of the user ends with its tokens (SECURITY 30), and its seats in
        // the session limit with them.
        store
            .end_user_sessions(self.env(), org, user_id, None)
            .await?;
        store
            .clear(self.env(), &user_session_set(org, user_id), now)
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
        // The event names the application's organization, so the organization's log shows it;
        // read first, so a failed read revokes nothing and the caller retries the whole call.
        let scope = self
            .identity
            .store()
            .application(self.env(), client_id)
            .await?
            .map(|app| app.scope);
        self.revoke_client_tokens(client_id, now).await?;
        let mut event = NewEvent::new(EventCode::CLIENT_TOKENS_REVOKED, now).client(client_id);
        if let Some(ApplicationScope::Organization(org)) = &scope {
            event = event.tenant(org);
        }
        self.audit_required(event).await
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

    /// Revokes a grant: its refresh tokens in the store, its access tokens in the feed; records
    /// `code` (reuse detected, or a plain revocation) with the reason.
    pub(super) async fn revoke_grant(
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

    pub(super) async fn record(&self, revocation: &Revocation) -> Result<(), Error> {
        self.identity
            .store()
            .record_revocation(self.env(), revocation)
            .await?;
        self.identity.revocations().apply_local(revocation);
        Ok(())
    }
}
