//! Applications: the OAuth clients that sign users in, global or scoped to one organization.

use super::organizations::Organizations;
use super::{Retrieved, Tombstone, UPDATE_ATTEMPTS};
use crate::error::{Error, FieldProblem, Resource};
use crate::identity::Identity;
use crate::model::application::{
    Application, ApplicationScope, ApplicationUpdate, CreatedApplication, NewApplication,
    TokenValidity,
};
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::ClientId;
use crate::page::{List, ListKind, PageRequest};
use crate::secret::Secret;
use crate::store::{Store, StoreError};
use time::OffsetDateTime;

/// The applications of one scope; see [`Identity::applications`]. An application of another
/// scope answers [`Error::NotFound`].
pub struct Applications<'a, S> {
    identity: &'a Identity<S>,
    scope: ApplicationScope,
}

impl<'a, S: Store> Applications<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>, scope: ApplicationScope) -> Self {
        Self { identity, scope }
    }

    /// Creates an application; confidential types get a 256-bit client secret.
    ///
    /// # Errors
    /// [`Error::InvalidField`] when a default is not in its allowed list; [`Error::NotFound`]
    /// (organization) when the scope's organization does not exist; [`Error::Store`] when the
    /// store fails.
    pub async fn create(&self, new: NewApplication) -> Result<CreatedApplication, Error> {
        self.require_scope().await?;
        let env = self.identity.environment();
        let now = self.identity.now();
        let client_secret = match new.application_type.is_confidential() {
            true => Some(Secret::generate()?),
            false => None,
        };
        let mut app = Application {
            client_id: ClientId::generate(now),
            scope: self.scope.clone(),
            environment: env,
            managed_by: self.identity.config().managed_by().clone(),
            name: new.name,
            description: None,
            application_type: new.application_type,
            client_secret_digest: client_secret.as_ref().map(Secret::digest),
            allowed_redirect_urls: Vec::new(),
            allowed_logout_urls: Vec::new(),
            allowed_origins_cors: Vec::new(),
            allowed_web_origins: Vec::new(),
            default_redirect_uri_after_login: None,
            default_redirect_uri_after_logout: None,
            default_origin_cors: None,
            default_web_origin: None,
            token_validity: TokenValidity::default(),
            inserted_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
        };
        new.fields.apply(&mut app);
        app.application_type = new.application_type;
        app.check_defaults()?;
        for _ in 0..2 {
            let event = self.event(EventCode::APPLICATION_CREATED, now, app.client_id);
            match self
                .identity
                .store()
                .insert_application(env, &app, &event)
                .await
            {
                Ok(()) => {
                    return Ok(CreatedApplication {
                        application: app,
                        client_secret,
                    });
                }
                Err(StoreError::AlreadyExists { .. }) => app.client_id = ClientId::generate(now),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::Application))
    }

    /// The application with this client id, if it belongs to this scope.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is none in this scope, [`Error::Store`] when the store fails.
    pub async fn retrieve(&self, client_id: ClientId) -> Result<Retrieved<Application>, Error> {
        let app = self.in_scope(client_id).await?;
        Ok(match app.deleted_at {
            Some(at) => Retrieved::Deleted(app.tombstone(at)),
            None => Retrieved::Active(app),
        })
    }

    /// Applies changes.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no live application in this scope;
    /// [`Error::InvalidField`] when a default is not in its allowed list, or the type would
    /// switch between public and confidential; [`Error::Conflict`] if concurrent writers kept
    /// winning; [`Error::Store`] when the store fails.
    pub async fn update(
        &self,
        client_id: ClientId,
        update: ApplicationUpdate,
    ) -> Result<Application, Error> {
        self.modify(client_id, EventCode::APPLICATION_UPDATED, |app| {
            let confidential = app.application_type.is_confidential();
            update.apply(app);
            if app.application_type.is_confidential() != confidential {
                return Err(Error::field(
                    "application_type",
                    FieldProblem::Format("cannot switch between public and confidential types"),
                ));
            }
            app.check_defaults()
        })
        .await
    }

    /// Replaces a confidential application's client secret; the old one stops working at once.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `application_type` for a public client; otherwise as
    /// [`Applications::update`].
    pub async fn rotate_secret(&self, client_id: ClientId) -> Result<Secret, Error> {
        let secret = Secret::generate()?;
        let digest = secret.digest();
        self.modify(client_id, EventCode::APPLICATION_SECRET_ROTATED, |app| {
            if !app.application_type.is_confidential() {
                return Err(Error::field(
                    "application_type",
                    FieldProblem::Format("public clients have no secret"),
                ));
            }
            app.client_secret_digest = Some(digest);
            Ok(())
        })
        .await?;
        Ok(secret)
    }

    /// Sets the application's token lifetimes (seed 000 "update token validity period"); tokens
    /// issued from now on use them.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming the lifetime out of its bounds (see [`TokenValidity`]);
    /// otherwise as [`Applications::update`].
    pub async fn set_token_validity(
        &self,
        client_id: ClientId,
        validity: TokenValidity,
    ) -> Result<Application, Error> {
        validity.check()?;
        self.modify(client_id, EventCode::APPLICATION_UPDATED, |app| {
            app.token_validity = validity;
            Ok(())
        })
        .await
    }

    /// Deletes an application; retrieving it answers the tombstone. Its tokens are revoked
    /// first (as [`Tokens::revoke_client`](crate::tokens::Tokens::revoke_client) does, with
    /// `APPLICATION_DELETED` as the one event): live
    /// verification refuses them from then on, and a deletion that fails afterwards leaves them
    /// revoked (fail closed).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no live application in this scope, [`Error::Store`] when
    /// the store fails.
    pub async fn delete(&self, client_id: ClientId) -> Result<Tombstone, Error> {
        let app = self.in_scope(client_id).await?;
        let now = self.identity.now();
        self.identity
            .tokens()
            .revoke_client_tokens(app.client_id, now)
            .await?;
        let event = self.event(EventCode::APPLICATION_DELETED, now, app.client_id);
        match self
            .identity
            .store()
            .delete_application(self.identity.environment(), client_id, now, &event)
            .await
        {
            Ok(app) => Ok(app.tombstone(now)),
            Err(StoreError::NotFound) => Err(Error::NotFound(Resource::Application)),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of this scope's live applications, newest first.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization) when the scope's organization does not exist,
    /// [`Error::Store`] when the store fails.
    /// [`Error::InvalidField`] naming `cursor` when the request carries a cursor of another
    /// list.
    pub async fn list(&self, page: PageRequest) -> Result<List<Application>, Error> {
        page.check_cursor(ListKind::Applications)?;
        self.require_scope().await?;
        let (data, total) = self
            .identity
            .store()
            .list_applications(self.identity.environment(), &self.scope, page)
            .await?;
        Ok(List::new(data, page, total))
    }

    async fn modify(
        &self,
        client_id: ClientId,
        code: EventCode,
        change: impl Fn(&mut Application) -> Result<(), Error>,
    ) -> Result<Application, Error> {
        let env = self.identity.environment();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.in_scope(client_id).await?;
            if current.deleted_at.is_some() {
                return Err(Error::NotFound(Resource::Application));
            }
            let now = self.identity.now();
            let mut next = current.clone();
            change(&mut next)?;
            next.updated_at = now;
            next.version = current.version + 1;
            let event = self.event(code.clone(), now, client_id);
            match self
                .identity
                .store()
                .update_application(env, &next, current.version, &event)
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::Application)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::Application))
    }

    /// The application if it exists in this scope (deleted or not); the scope's organization
    /// must be live.
    async fn in_scope(&self, client_id: ClientId) -> Result<Application, Error> {
        self.require_scope().await?;
        self.identity
            .store()
            .application(self.identity.environment(), client_id)
            .await?
            .filter(|app| app.scope == self.scope)
            .ok_or(Error::NotFound(Resource::Application))
    }

    async fn require_scope(&self) -> Result<(), Error> {
        match &self.scope {
            ApplicationScope::Global => Ok(()),
            ApplicationScope::Organization(domain) => Organizations::new(self.identity)
                .require_live(domain)
                .await
                .map(drop),
        }
    }

    fn event(&self, code: EventCode, now: OffsetDateTime, client_id: ClientId) -> NewEvent {
        let event = NewEvent::new(code, now).client(client_id);
        match &self.scope {
            ApplicationScope::Global => event,
            ApplicationScope::Organization(d) => event.tenant(d),
        }
    }
}
