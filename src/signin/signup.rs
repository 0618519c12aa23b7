//! Sign-up and e-mail codes: creating an account, verifying its address, changing it.

use crate::Error;
use crate::directory::new_user_record;
use crate::error::Resource;
use crate::mail::Mail;
use crate::model::event::EventCode;
use crate::model::fields::Email;
use crate::model::ids::UserId;
use crate::model::user::{ProfileChanges, User};
use crate::risk::RequestContext;
use crate::store::{AccountStatus, Store, StoreError};

use super::service::*;
use super::types::*;

impl<'a, S: Store> SignIn<'a, S> {
    // ---------------------------------------------------------------- sign-up and e-mail codes

    /// Signs a user up (seed 000): checks the password (length, breached list, not the
    /// address or username), hashes it, creates the user and its credentials in one atomic
    /// step, and e-mails a verification code. The account signs in once
    /// [`confirm_email`](Self::confirm_email) verified the address.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `password`; [`Error::AlreadyExists`] with key `email` or
    /// `username`; [`Error::NotFound`] (organization); [`Error::Unavailable`] when the
    /// breached-password check or the hashing offload fails; [`Error::Keys`] without a
    /// key-encryption key; [`Error::Store`]; [`Error::Mail`] when the code could not be handed
    /// to the mailer — the account exists then, and
    /// [`resend_email_code`](Self::resend_email_code) sends another.
    pub async fn sign_up(&self, request: SignUp) -> Result<User, Error> {
        self.keys()?;
        self.require_org().await?;
        let email = request.user.email().clone();
        self.check_new_password(&request.password, &email, request.username.as_ref())
            .await?;
        let hash = self.hash(&request.password).await?;
        let env = self.identity.environment();
        let now = self.identity.now();
        let mut user = new_user_record(self.identity, self.org, request.user, now)?;
        let mut creds = new_credentials(&user, now);
        creds.username = request.username.map(|u| u.as_str().to_owned());
        creds.password_hash = Some(hash);
        for _ in 0..2 {
            let event = self
                .event(EventCode::USER_CREATED, now)
                .user(user.id, &user.profile.email)
                .detail("flow", "sign_up");
            match self
                .identity
                .store()
                .insert_account(env, &user, &creds, &event)
                .await
            {
                Ok(()) => {
                    // Not counted toward the send limit: an address signs up once, and a
                    // limit exhausted beforehand through `resend_email_code` must not keep
                    // its owner from getting the first code.
                    self.deliver_code(Purpose::VerifyEmail, &user, &email, "", now)
                        .await?;
                    return Ok(user);
                }
                Err(StoreError::AlreadyExists { key: "id" }) => {
                    user.id = UserId::generate(now);
                    creds.user_id = user.id;
                }
                Err(StoreError::AlreadyExists { key }) => {
                    return Err(Error::AlreadyExists {
                        resource: Resource::User,
                        key,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Sends a new verification code to an address that signed up and is not verified yet.
    /// Answers `Ok` whatever the address (unknown, verified …), so the answer tells nothing; the
    /// send limit counts every address alike.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::RateLimited`] past the send limit;
    /// [`Error::Mail`], [`Error::Store`].
    pub async fn resend_email_code(&self, email: &str) -> Result<(), Error> {
        let email = Email::parse(email).map_err(|p| Error::field("email", p))?;
        let now = self.identity.now();
        self.count_send(Purpose::VerifyEmail, &email, now).await?;
        if let Some((user, creds)) = self.account_by_email(&email).await?
            && creds.status == AccountStatus::Unverified
        {
            self.deliver_code(Purpose::VerifyEmail, &user, &email, "", now)
                .await?;
        }
        Ok(())
    }

    /// Verifies a signed-up address with the e-mailed code: the account becomes active. The
    /// code is single use, bound to this address and purpose, expires with
    /// [`Lifetimes::email_code`](crate::Lifetimes::email_code); wrong codes count toward the
    /// code's attempt limit and the lockout.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::InvalidCode`] for a wrong, used,
    /// expired or exhausted code, an unknown address or a locked account (one variant: the
    /// reason is in the audit log); [`Error::Store`].
    pub async fn confirm_email(
        &self,
        email: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<User, Error> {
        let email = Email::parse(email).map_err(|p| Error::field("email", p))?;
        self.keys()?;
        let now = self.identity.now();
        let account = self.account_by_email(&email).await?;
        let subject = match &account {
            Some((user, _)) => Subject::User(user.id),
            None => Subject::Unknown(self.login_key(&email.key())?),
        };
        let user = account.as_ref().map(|(u, _)| u);
        let guard = match self.reserve(subject, context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self.code_failed(why, user, None, now).await);
            }
        };
        let Some((user, creds)) = account else {
            return Err(self
                .code_failed("unknown address", None, Some(&guard), now)
                .await);
        };
        if creds.status == AccountStatus::Active {
            return Err(self
                .code_failed("address already verified", Some(&user), Some(&guard), now)
                .await);
        }
        let checked = self
            .check_email_code(Purpose::VerifyEmail, &user, &email, "", code, now)
            .await;
        let (checked, guard) = self.unless_failed(checked, guard, now).await?;
        if let Err(why) = checked {
            return Err(self.code_failed(why, Some(&user), Some(&guard), now).await);
        }
        self.release(guard, now).await?;
        let user = self
            .identity
            .users(self.org)
            .update(user.id, ProfileChanges::new().email_verified(true))
            .await?;
        let event = self
            .event(EventCode::EMAIL_VERIFIED, now)
            .user(user.id, &user.profile.email);
        self.update_credentials(user.id, Some(event), |c| {
            c.status = AccountStatus::Active;
            Ok(())
        })
        .await?;
        Ok(user)
    }

    /// Starts changing a user's address: e-mails a code to the new address. Nothing changes
    /// until [`confirm_email_change`](Self::confirm_email_change) presents that code. Call it
    /// for an authenticated user only.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::InvalidRequest`] when it is the current
    /// address; [`Error::AlreadyExists`] (key `email`) when another user has it;
    /// [`Error::NotFound`] (user); [`Error::RateLimited`]; [`Error::Mail`], [`Error::Store`].
    pub async fn request_email_change(
        &self,
        user_id: UserId,
        new_email: &str,
    ) -> Result<(), Error> {
        let email = Email::parse(new_email).map_err(|p| Error::field("email", p))?;
        self.keys()?;
        let user = self.user(user_id).await?;
        if user.profile.email.key() == email.key() {
            return Err(Error::InvalidRequest("the new address is the current one"));
        }
        if self.account_by_email(&email).await?.is_some()
            || self
                .identity
                .store()
                .user_by_email(self.identity.environment(), self.org, &email)
                .await?
                .is_some()
        {
            return Err(Error::AlreadyExists {
                resource: Resource::User,
                key: "email",
            });
        }
        let now = self.identity.now();
        self.send_code(Purpose::ChangeEmail, &user, &email, "", now)
            .await?;
        self.audit(
            self.event(EventCode::EMAIL_CHANGE_REQUESTED, now)
                .user(user.id, &user.profile.email)
                .detail("new_email", email.as_str()),
        )
        .await;
        Ok(())
    }

    /// Changes a user's address to `new_email`, which must come with the code e-mailed to it by
    /// [`request_email_change`](Self::request_email_change). The new address is verified by
    /// that; the old one is told.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `email`; [`Error::InvalidCode`]; [`Error::AlreadyExists`]
    /// when another user took the address meanwhile; [`Error::NotFound`] (user);
    /// [`Error::Conflict`], [`Error::Store`].
    pub async fn confirm_email_change(
        &self,
        user_id: UserId,
        new_email: &str,
        code: &str,
        context: &RequestContext,
    ) -> Result<User, Error> {
        let email = Email::parse(new_email).map_err(|p| Error::field("email", p))?;
        self.keys()?;
        let now = self.identity.now();
        let user = self.user(user_id).await?;
        let guard = match self.reserve(Subject::User(user.id), context, now).await? {
            Reserved::Held(g) => g,
            Reserved::Locked(why) => {
                return Err(self.code_failed(why, Some(&user), None, now).await);
            }
        };
        let checked = self
            .check_email_code(Purpose::ChangeEmail, &user, &email, "", code, now)
            .await;
        let (checked, guard) = self.unless_failed(checked, guard, now).await?;
        if let Err(why) = checked {
            return Err(self.code_failed(why, Some(&user), Some(&guard), now).await);
        }
        self.release(guard, now).await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.user(user_id).await?;
            let mut next = current.clone();
            next.profile.email = email.clone();
            next.profile.email_verified = true;
            next.updated_at = now;
            next.version = current.version + 1;
            let event = self
                .event(EventCode::EMAIL_CHANGED, now)
                .user(next.id, &next.profile.email)
                .detail("old_email", current.profile.email.as_str());
            match store.update_user(env, &next, current.version, &event).await {
                Ok(()) => {
                    let notice = Mail::new(
                        current.profile.email.clone(),
                        "Your e-mail address was changed",
                        format!(
                            "The e-mail address of your account was changed to {}. If you did not do this, contact support.",
                            next.profile.email
                        ),
                    );
                    // Best effort: the change is done and audited whether or not the old
                    // address can be told.
                    let _ = self.identity.mailer().send(&notice).await;
                    return Ok(next);
                }
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(StoreError::AlreadyExists { key }) => {
                    return Err(Error::AlreadyExists {
                        resource: Resource::User,
                        key,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }
}
