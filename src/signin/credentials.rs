//! Passwords and credentials: setting, importing and changing a password, roles, and the
//! credential records behind them (hashing, rehashing, conditional updates).

use time::OffsetDateTime;

use super::Username;
use crate::Error;
use crate::crypto::password::{
    Exposure, Password, Verification, check_password_hash, dummy_verification, hash_password,
    offloaded, verify_password,
};
use crate::directory::Organizations;
use crate::error::{FieldProblem, Resource};
use crate::model::event::{EventCode, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{ClientId, UserId};
use crate::model::user::User;
use crate::risk::RequestContext;
use crate::store::{AccountRole, CredentialRecord, Store, StoreError};
use crate::tokens::redirect_allowed;

use super::service::*;
use super::types::*;

impl<'a, S: Store> SignIn<'a, S> {
    // ---------------------------------------------------------------- passwords

    /// Sets a user's password without the current one (an administrator, a reset flow the host
    /// authenticated, a user created through the directory). Every token of the user is revoked.
    ///
    /// # Errors
    /// As [`sign_up`](Self::sign_up) for the password; [`Error::NotFound`] (user).
    pub async fn set_password(&self, user_id: UserId, password: &Password) -> Result<(), Error> {
        let user = self.user(user_id).await?;
        let username = self.credentials(user_id).await?.and_then(|c| c.username);
        let username = username.and_then(|u| Username::parse(&u).ok());
        self.check_new_password(password, &user.profile.email, username.as_ref())
            .await?;
        let hash = self.hash(password).await?;
        self.store_password_hash(&user, hash, "set").await
    }

    /// Imports a password hash from another system (argon2 or PBKDF2-SHA256 PHC strings, see
    /// [`password`](super::password)). It is replaced by an argon2id hash at the user's next
    /// successful sign-in.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `password_hash`; [`Error::NotFound`] (user).
    pub async fn import_password_hash(&self, user_id: UserId, phc: &str) -> Result<(), Error> {
        check_password_hash(phc)?;
        let user = self.user(user_id).await?;
        self.store_password_hash(&user, phc.to_owned(), "imported")
            .await
    }

    /// Changes a user's password given the current one. Wrong current passwords count toward
    /// the lockout. Every token of the user is revoked.
    ///
    /// # Errors
    /// [`Error::SignInFailed`] when the current password is wrong or the account is locked; as
    /// [`sign_up`](Self::sign_up) for the new password. After any error the current password
    /// still works (the user's tokens are revoked before the new password is stored, so some may
    /// already be revoked); a retry finishes the change.
    pub async fn change_password(
        &self,
        user_id: UserId,
        current: &Password,
        new: &Password,
        context: &RequestContext,
    ) -> Result<(), Error> {
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let creds = self.credentials(user_id).await?;
        let guard = match self.reserve(Subject::User(user_id), context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self
                    .failed(
                        EventCode::PASSWORD_CHANGE_FAILED,
                        why,
                        Some(&user),
                        None,
                        None,
                        now,
                    )
                    .await);
            }
        };
        // A hashing offload that fails evaluated nothing: the reservation is given back.
        let (matched, guard) = match creds.as_ref().and_then(|c| c.password_hash.clone()) {
            Some(phc) => {
                self.unless_failed(self.verify(phc, current).await, guard, now)
                    .await?
            }
            None => {
                let ((), guard) = self
                    .unless_failed(self.dummy(current).await, guard, now)
                    .await?;
                (Ok(Verification::Mismatch), guard)
            }
        };
        if !matches!(
            matched,
            Ok(Verification::Match | Verification::MatchNeedsRehash)
        ) {
            return Err(self
                .failed(
                    EventCode::PASSWORD_CHANGE_FAILED,
                    "wrong current password",
                    Some(&user),
                    None,
                    Some(&guard),
                    now,
                )
                .await);
        }
        self.release(guard, now).await?;
        let username = creds
            .and_then(|c| c.username)
            .and_then(|u| Username::parse(&u).ok());
        self.check_new_password(new, &user.profile.email, username.as_ref())
            .await?;
        let hash = self.hash(new).await?;
        self.store_password_hash(&user, hash, "changed").await
    }

    /// Sets a user's role (for example the organization's admin account, which cannot be
    /// unregistered).
    ///
    /// # Errors
    /// [`Error::NotFound`] (user), [`Error::Conflict`], [`Error::Store`].
    pub async fn set_role(&self, user_id: UserId, role: AccountRole) -> Result<(), Error> {
        let user = self.user(user_id).await?;
        let now = self.identity.now();
        let event = self
            .event(EventCode::ROLE_CHANGED, now)
            .user(user.id, &user.profile.email)
            .detail(
                "role",
                match role {
                    AccountRole::Member => "member",
                    AccountRole::OrganizationAdmin => "organization_admin",
                },
            );
        self.upsert_credentials(&user, event, |c| c.role = role)
            .await
    }

    // ---------------------------------------------------------------- internals: records

    pub(super) async fn check_new_password(
        &self,
        password: &Password,
        email: &Email,
        username: Option<&Username>,
    ) -> Result<(), Error> {
        // Every rule sees the normalized form: the one that is hashed.
        let password = &Password::new(password.normalized());
        self.settings().password.check(password)?;
        let lowered = password.expose().to_lowercase();
        let email_key = email.key();
        let local = email_key.split('@').next().unwrap_or_default();
        if lowered == email_key
            || lowered == local
            || username.is_some_and(|u| u.as_str() == lowered)
        {
            return Err(Error::field(
                "password",
                FieldProblem::Format("must not be the e-mail address or the username"),
            ));
        }
        if let Some(checker) = self.identity.breached_passwords() {
            match checker.check(password).await {
                Ok(Exposure::NotFound) => {}
                Ok(Exposure::Breached) => {
                    return Err(Error::field(
                        "password",
                        FieldProblem::Format("appears in a list of breached passwords"),
                    ));
                }
                Err(_) => return Err(Error::Unavailable("breached-password check")),
            }
        }
        Ok(())
    }

    pub(super) async fn hash(&self, password: &Password) -> Result<String, Error> {
        let password = password.clone();
        let params = self.settings().argon2;
        self.offload("hash", move || hash_password(&password, &params))
            .await?
    }

    /// Runs `f` on the hashing offload; an offload that cannot run it is audited (best effort:
    /// the caller answers `Unavailable` either way).
    async fn offload<T, F>(&self, operation: &'static str, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let result = offloaded(self.identity.password_offload(), f).await;
        if result.is_err() {
            let event = self
                .event(EventCode::PASSWORD_HASHING_UNAVAILABLE, self.identity.now())
                .detail("operation", operation);
            self.audit(event).await;
        }
        result
    }

    /// Verifies off the executor; the inner `Err` is an unreadable stored hash.
    pub(super) async fn verify(
        &self,
        phc: String,
        password: &Password,
    ) -> Result<Result<Verification, &'static str>, Error> {
        let password = password.clone();
        let params = self.settings().argon2;
        let verified = self
            .offload("verify", move || verify_password(&phc, &password, &params))
            .await?;
        Ok(verified.map_err(|_| "stored password hash unreadable"))
    }

    pub(super) async fn dummy(&self, password: &Password) -> Result<(), Error> {
        let password = password.clone();
        let params = self.settings().argon2;
        self.offload("verify", move || dummy_verification(&password, &params))
            .await
    }

    /// Replaces an old-parameter hash after a successful sign-in (best effort: it is retried
    /// at the next sign-in).
    pub(super) async fn rehash(&self, user: &User, password: &Password, now: OffsetDateTime) {
        let Ok(hash) = self.hash(password).await else {
            return;
        };
        let event = self
            .event(EventCode::PASSWORD_REHASHED, now)
            .user(user.id, &user.profile.email);
        let _ = self
            .update_credentials(user.id, Some(event), |c| {
                c.password_hash = Some(hash.clone());
                Ok(())
            })
            .await;
    }

    pub(super) async fn store_password_hash(
        &self,
        user: &User,
        hash: String,
        how: &str,
    ) -> Result<(), Error> {
        let now = self.identity.now();
        let code = if how == "changed" {
            EventCode::PASSWORD_CHANGED
        } else {
            EventCode::PASSWORD_SET
        };
        let event = self
            .event(code, now)
            .user(user.id, &user.profile.email)
            .detail("how", how);
        // Tokens first: a failure anywhere leaves the old password in place (a retry does it
        // all), never the new password with the old tokens alive.
        self.identity
            .tokens()
            .revoke_user(self.org, user.id, now)
            .await?;
        self.upsert_credentials(user, event, |c| c.password_hash = Some(hash.clone()))
            .await
    }

    /// Applies `change` to the user's credentials, creating them first if the user has none.
    pub(super) async fn upsert_credentials(
        &self,
        user: &User,
        event: NewEvent,
        change: impl Fn(&mut CredentialRecord),
    ) -> Result<(), Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let now = self.identity.now();
            match self.credentials(user.id).await? {
                Some(current) => {
                    let mut next = current.clone();
                    change(&mut next);
                    next.updated_at = now;
                    next.version = current.version + 1;
                    match store
                        .update_credentials(env, &next, current.version, Some(&event))
                        .await
                    {
                        Ok(()) => return Ok(()),
                        Err(StoreError::Precondition) => continue,
                        Err(StoreError::NotFound) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    let mut fresh = new_credentials(user, now);
                    change(&mut fresh);
                    match store.insert_credentials(env, &fresh, &event).await {
                        Ok(()) => return Ok(()),
                        Err(StoreError::AlreadyExists { key: "user" }) => continue,
                        Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Read-modify-write of existing credentials, retried on lost races.
    pub(super) async fn update_credentials(
        &self,
        user_id: UserId,
        event: Option<NewEvent>,
        change: impl Fn(&mut CredentialRecord) -> Result<(), Error>,
    ) -> Result<CredentialRecord, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .credentials(user_id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            let mut next = current.clone();
            change(&mut next)?;
            next.updated_at = self.identity.now();
            next.version = current.version + 1;
            match store
                .update_credentials(env, &next, current.version, event.as_ref())
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    pub(super) async fn user(&self, id: UserId) -> Result<User, Error> {
        self.identity
            .store()
            .user(self.identity.environment(), self.org, id)
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    pub(super) async fn credentials(&self, id: UserId) -> Result<Option<CredentialRecord>, Error> {
        Ok(self
            .identity
            .store()
            .credentials(self.identity.environment(), self.org, id)
            .await?)
    }

    /// A user and its credentials; `None` when either is missing.
    pub(super) async fn account(
        &self,
        id: UserId,
    ) -> Result<Option<(User, CredentialRecord)>, Error> {
        let env = self.identity.environment();
        let Some(user) = self.identity.store().user(env, self.org, id).await? else {
            return Ok(None);
        };
        Ok(self.credentials(id).await?.map(|c| (user, c)))
    }

    pub(super) async fn account_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, CredentialRecord)>, Error> {
        let env = self.identity.environment();
        match self
            .identity
            .store()
            .user_by_email(env, self.org, email)
            .await?
        {
            Some(user) => Ok(self.credentials(user.id).await?.map(|c| (user, c))),
            None => Ok(None),
        }
    }

    /// The account a login names: an e-mail address (it has an `@`) or a username. A login that
    /// parses as neither names nobody.
    pub(super) async fn account_by_login(
        &self,
        login: &str,
    ) -> Result<Option<(User, CredentialRecord)>, Error> {
        let login = login.trim();
        if login.contains('@') {
            return match Email::parse(login) {
                Ok(email) => self.account_by_email(&email).await,
                Err(_) => Ok(None),
            };
        }
        let Ok(username) = Username::parse(login) else {
            return Ok(None);
        };
        let env = self.identity.environment();
        let Some(creds) = self
            .identity
            .store()
            .credentials_by_username(env, self.org, username.as_str())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .identity
            .store()
            .user(env, self.org, creds.user_id)
            .await?
            .map(|u| (u, creds)))
    }

    pub(super) async fn check_client(&self, a: &Authorization) -> Result<(), Error> {
        self.check_client_redirect(a.client_id, &a.redirect_uri)
            .await
    }

    /// Fails with [`Error::InvalidClient`] unless `client_id` is a live application of this
    /// organization (or of every organization), and with [`Error::InvalidRequest`] unless
    /// `redirect_uri` is one of its allowed redirect URLs.
    pub(crate) async fn check_client_redirect(
        &self,
        client_id: ClientId,
        redirect_uri: &str,
    ) -> Result<(), Error> {
        let app = self
            .identity
            .store()
            .application(self.identity.environment(), client_id)
            .await?
            .filter(|app| app.deleted_at.is_none())
            .ok_or(Error::InvalidClient)?;
        if app.scope.organization().is_some_and(|o| o != self.org) {
            return Err(Error::InvalidClient);
        }
        if !redirect_allowed(&app.allowed_redirect_urls, redirect_uri) {
            return Err(Error::InvalidRequest(
                "redirect_uri is not registered for this client",
            ));
        }
        Ok(())
    }

    pub(super) async fn require_org(&self) -> Result<(), Error> {
        Organizations::new(self.identity)
            .require_live(self.org)
            .await
            .map(drop)
    }
}
