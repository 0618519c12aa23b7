//! Users of an organization, with their OpenID Connect profile.

use super::UPDATE_ATTEMPTS;
use super::organizations::Organizations;
use crate::error::{Error, FieldProblem, Resource};
use crate::identity::Identity;
use crate::join::join2;
use crate::model::event::{EventCode, NewEvent};
use crate::model::fields::{Email, HexColor};
use crate::model::ids::{OrgDomain, UserId};
use crate::model::sso::{AttributeSync, SYNCED_ATTRIBUTES};
use crate::model::user::{NewUser, Profile, ProfileChanges, User};
use crate::page::{List, ListKind, PageRequest};
use crate::store::{Store, StoreError};
use time::OffsetDateTime;

/// The record of a new user (version 1, a fresh v7 id), not yet stored.
pub(crate) fn new_user_record<S>(
    identity: &Identity<S>,
    org: &OrgDomain,
    new: NewUser,
    now: OffsetDateTime,
) -> Result<User, Error> {
    let mut profile = Profile::new(new.email);
    new.changes.apply(&mut profile);
    Ok(User {
        id: UserId::generate(now),
        org: org.clone(),
        environment: identity.environment(),
        managed_by: identity.config().managed_by().clone(),
        profile,
        metadata: Vec::new(),
        rbac: Default::default(),
        federation: None,
        active: true,
        avatar_hexa_color: HexColor::random()?,
        inserted_at: now,
        updated_at: now,
        version: 1,
    })
}

/// The users of one organization; see [`Identity::users`]. No call through it can read or
/// change a user of another organization: such a user answers [`Error::NotFound`].
pub struct Users<'a, S> {
    identity: &'a Identity<S>,
    org: &'a OrgDomain,
}

impl<'a, S: Store> Users<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>, org: &'a OrgDomain) -> Self {
        Self { identity, org }
    }

    /// Creates a user.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization) if the organization does not exist or was deleted;
    /// [`Error::AlreadyExists`] with key `email` if the address is taken in this organization
    /// (case-insensitively); [`Error::Store`] when the store fails.
    pub async fn create(&self, new: NewUser) -> Result<User, Error> {
        self.require_org().await?;
        let env = self.identity.environment();
        let now = self.identity.now();
        let mut user = new_user_record(self.identity, self.org, new, now)?;
        // A v7 id collision is practically impossible; one retry with a fresh id settles it.
        for _ in 0..2 {
            let event = NewEvent::new(EventCode::USER_CREATED, now)
                .tenant(self.org)
                .user(user.id, &user.profile.email);
            match self.identity.store().insert_user(env, &user, &event).await {
                Ok(()) => return Ok(user),
                Err(StoreError::AlreadyExists { key: "id" }) => user.id = UserId::generate(now),
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

    /// The user with this id.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Store`] when
    /// the store fails.
    pub async fn retrieve(&self, id: UserId) -> Result<User, Error> {
        // Two independent reads, issued together; the organization's answer comes first.
        let (org, user) = join2(
            self.require_org(),
            self.identity
                .store()
                .user(self.identity.environment(), self.org, id),
        )
        .await;
        org?;
        user?.ok_or(Error::NotFound(Resource::User))
    }

    /// The user with this e-mail address (compared case-insensitively).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Store`] when
    /// the store fails.
    pub async fn retrieve_by_email(&self, email: &Email) -> Result<User, Error> {
        self.require_org().await?;
        self.identity
            .store()
            .user_by_email(self.identity.environment(), self.org, email)
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// Applies a partial profile update: only the fields in `changes` change.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Conflict`] if
    /// concurrent writers kept winning, [`Error::Store`] when the store fails.
    pub async fn update(&self, id: UserId, changes: ProfileChanges) -> Result<User, Error> {
        self.require_org().await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = store
                .user(env, self.org, id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            self.check_not_synced(&current, &changes).await?;
            let now = self.identity.now();
            let mut next = current.clone();
            changes.apply(&mut next.profile);
            next.updated_at = now;
            next.version = current.version + 1;
            let event = NewEvent::new(EventCode::USER_UPDATED, now)
                .tenant(self.org)
                .user(id, &next.profile.email)
                .detail("fields", changes.changed_fields());
            match store.update_user(env, &next, current.version, &event).await {
                Ok(()) => return Ok(next),
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

    /// Refuses changes to the profile root attributes of a user whose SSO connection updates
    /// them from its identity provider at every sign-in (they are not editable here, as the
    /// seed says; a connection that takes them on creation only leaves them editable).
    async fn check_not_synced(&self, user: &User, changes: &ProfileChanges) -> Result<(), Error> {
        let Some(federation) = &user.federation else {
            return Ok(());
        };
        let changed = changes.changed_fields();
        let Some(field) = changed
            .split(',')
            .find_map(|f| SYNCED_ATTRIBUTES.iter().find(|a| **a == f))
        else {
            return Ok(());
        };
        let connection = self
            .identity
            .store()
            .sso_connection(self.identity.environment(), &federation.idp_id)
            .await?;
        match connection {
            Some(c) if c.org == *self.org && c.attribute_sync == AttributeSync::EverySignIn => {
                Err(Error::field(
                    field,
                    FieldProblem::Format("is kept in sync by the SSO identity provider"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Disables a user: from then on sign-in, code exchange, refresh and user info refuse it,
    /// and every token it holds is revoked (refresh tokens at once, access and ID tokens for
    /// live verification, as by a global sign-out). Disabling a disabled user revokes again and
    /// records nothing new, so a call that failed half-way is completed by calling it again.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Conflict`] if
    /// concurrent writers kept winning, [`Error::Store`] when the store fails (the user may then
    /// be disabled with its tokens not yet revoked: call again).
    pub async fn disable(&self, id: UserId) -> Result<User, Error> {
        let user = self.set_active(id, false).await?;
        self.identity
            .tokens()
            .revoke_user(self.org, id, self.identity.now())
            .await?;
        Ok(user)
    }

    /// Enables a disabled user again. Tokens revoked when it was disabled stay revoked.
    ///
    /// # Errors
    /// As [`Users::disable`].
    pub async fn enable(&self, id: UserId) -> Result<User, Error> {
        self.set_active(id, true).await
    }

    async fn set_active(&self, id: UserId, active: bool) -> Result<User, Error> {
        self.require_org().await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = store
                .user(env, self.org, id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            if current.active == active {
                return Ok(current);
            }
            let now = self.identity.now();
            let next = User {
                active,
                updated_at: now,
                version: current.version + 1,
                ..current.clone()
            };
            let code = if active {
                EventCode::USER_ENABLED
            } else {
                EventCode::USER_DISABLED
            };
            let event = NewEvent::new(code, now)
                .tenant(self.org)
                .user(id, &next.profile.email);
            match store.update_user(env, &next, current.version, &event).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// One page of this organization's users, newest first.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization) if it does not exist, [`Error::Store`] when the store
    /// fails.
    /// [`Error::InvalidField`] naming `cursor` when the request carries a cursor of another
    /// list.
    pub async fn list(&self, page: PageRequest) -> Result<List<User>, Error> {
        page.check_cursor(ListKind::Users)?;
        self.require_org().await?;
        let (data, total) = self
            .identity
            .store()
            .list_users(self.identity.environment(), self.org, page)
            .await?;
        Ok(List::new(data, page, total))
    }

    async fn require_org(&self) -> Result<(), Error> {
        Organizations::new(self.identity)
            .require_live(self.org)
            .await
            .map(drop)
    }
}
