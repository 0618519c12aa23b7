//! Ending sessions: one by its token, every one of a user but one, one of a user's devices by
//! its id; and listing a user's sessions.

use uuid::Uuid;

use crate::Error;
use crate::error::Resource;
use crate::model::event::EventCode;
use crate::model::ids::UserId;
use crate::secret::Secret;
use crate::store::Store;
use crate::store::sessions::user_session_set;

use super::service::{Sessions, session_member};
use super::types::SessionInfo;

impl<'a, S: Store> Sessions<'a, S> {
    /// Ends the session of a token (the seed's `DELETE /session/{token}`). Answers whether
    /// there was one; an unknown token, or another organization's, ends nothing and answers
    /// `false` (the seed answers success either way).
    ///
    /// # Errors
    /// [`Error::Store`] (nothing was ended: call again).
    pub async fn invalidate(&self, token: &str) -> Result<bool, Error> {
        let now = self.identity.now();
        let env = self.identity.environment();
        let digest = Secret::from_presented(token).digest();
        let Some(record) = self
            .identity
            .store()
            .session_by_token(env, &digest, now)
            .await?
            .filter(|r| &r.org == self.org)
        else {
            return Ok(false);
        };
        let ended = self.end_record(&record).await?;
        if ended {
            self.audit_required(
                self.event(EventCode::SESSION_INVALIDATED, now)
                    .detail("session_id", record.id.to_string())
                    .detail("user_id", record.user_id.as_uuid().to_string())
                    .detail("how", "invalidated"),
            )
            .await?;
        }
        Ok(ended)
    }

    /// Ends every session of the user a login names, except the session of `exclude` (the
    /// seed's `DELETE /session?username=…&exclude=…`). Answers how many ended. An `exclude`
    /// token that is not a live session of that user excludes nothing.
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the user (unknown login) or the organization;
    /// [`Error::Store`] (call again: it completes what a failed call began).
    pub async fn invalidate_user(&self, login: &str, exclude: Option<&str>) -> Result<u64, Error> {
        let signin = self.identity.signin(self.org);
        signin.require_live_org().await?;
        let user = signin
            .user_by_login(login)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        let now = self.identity.now();
        let env = self.identity.environment();
        let store = self.identity.store();
        let except = match exclude {
            Some(token) => store
                .session_by_token(env, &Secret::from_presented(token).digest(), now)
                .await?
                .filter(|r| &r.org == self.org && r.user_id == user.id)
                .map(|r| r.id),
            None => None,
        };
        let count = store
            .end_user_sessions(env, self.org, user.id, except)
            .await?;
        if self.settings().limit.is_some() {
            let set = user_session_set(self.org, user.id);
            for m in store.members(env, &set, now).await? {
                if except.is_none_or(|id| m.member != session_member(id)) {
                    store.leave(env, &set, &m.member, now).await?;
                }
            }
        }
        let mut event = self
            .user_event(EventCode::SESSIONS_ENDED, &user, now)
            .detail("count", count.to_string());
        if let Some(id) = except {
            event = event.detail("except", id.to_string());
        }
        self.audit_required(event).await?;
        Ok(count)
    }

    /// A user's live sessions, newest first: per device, its factors, when it was created and
    /// last validated — never a token — so the user can see them and [`end`](Self::end) one.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn list(&self, user_id: UserId) -> Result<Vec<SessionInfo>, Error> {
        let now = self.identity.now();
        let sessions = self
            .identity
            .store()
            .user_sessions(self.identity.environment(), self.org, user_id, now)
            .await?;
        Ok(sessions.iter().map(SessionInfo::of).collect())
    }

    /// Ends one of a user's sessions by its id (from [`list`](Self::list)).
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the user when the user has no live session with this id
    /// (another user's session included); [`Error::Store`].
    pub async fn end(&self, user_id: UserId, session_id: Uuid) -> Result<(), Error> {
        let now = self.identity.now();
        let record = self
            .identity
            .store()
            .user_sessions(self.identity.environment(), self.org, user_id, now)
            .await?
            .into_iter()
            .find(|r| r.id == session_id)
            .ok_or(Error::NotFound(Resource::User))?;
        if self.end_record(&record).await? {
            self.audit_required(
                self.event(EventCode::SESSION_INVALIDATED, now)
                    .detail("session_id", record.id.to_string())
                    .detail("user_id", user_id.as_uuid().to_string())
                    .detail("how", "by_user"),
            )
            .await?;
        }
        Ok(())
    }
}

impl<'a, S: Store> Sessions<'a, S> {
    /// Ends the session of a token, only if it is a live session of the user a login names (a
    /// user deleting its own token, apstrata `DeleteToken`). Answers whether it ended one.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn end_own(&self, login: &str, token: &str) -> Result<bool, Error> {
        let signin = self.identity.signin(self.org);
        let Some(user) = signin.user_by_login(login).await? else {
            return Ok(false);
        };
        let now = self.identity.now();
        let env = self.identity.environment();
        let record = self
            .identity
            .store()
            .session_by_token(env, &Secret::from_presented(token).digest(), now)
            .await?
            .filter(|r| &r.org == self.org && r.user_id == user.id);
        let Some(record) = record else {
            return Ok(false);
        };
        let ended = self.end_record(&record).await?;
        if ended {
            self.audit_required(
                self.user_event(EventCode::SESSION_INVALIDATED, &user, now)
                    .detail("session_id", record.id.to_string())
                    .detail("how", "by_user"),
            )
            .await?;
        }
        Ok(ended)
    }

    /// Deletes every token of the user a login names — its sessions, refresh tokens, and the
    /// access and ID tokens issued so far (for live verification) — on an account owner's
    /// request (apstrata `DeleteToken` with `userList`). Answers `false` for a login that names
    /// nobody (there is nothing to delete). Each user's deletion is one revocation: a failure
    /// leaves that user as it was, and calling again completes it.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn delete_user_tokens(&self, login: &str, requested_by: &str) -> Result<bool, Error> {
        let signin = self.identity.signin(self.org);
        let Some(user) = signin.user_by_login(login).await? else {
            return Ok(false);
        };
        let now = self.identity.now();
        self.identity
            .tokens()
            .revoke_user(self.org, user.id, now)
            .await?;
        self.audit_required(
            self.user_event(EventCode::USER_TOKENS_DELETED, &user, now)
                .detail("requested_by", requested_by),
        )
        .await?;
        Ok(true)
    }
}
