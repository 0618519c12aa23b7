//! Organizations: the B2B customers, each with an immutable slug domain.

use super::{Retrieved, Tombstone, UPDATE_ATTEMPTS};
use crate::error::{Error, Resource};
use crate::identity::Identity;
use crate::model::event::{EventCode, NewEvent};
use crate::model::ids::{OrgDomain, OrganizationId};
use crate::model::organization::{NewOrganization, Organization, OrganizationUpdate};
use crate::page::{List, ListKind, PageRequest};
use crate::secret::{hex, random_array};
use crate::store::{Store, StoreError};

/// How many numbered domains (`name`, `name-2` … `name-20`) are tried before random suffixes.
const NUMBERED_ATTEMPTS: u32 = 20;
/// How many random 8-hex-digit suffixes are tried after that.
const RANDOM_ATTEMPTS: u32 = 10;

/// The organizations of one environment; see [`Identity::organizations`].
pub struct Organizations<'a, S> {
    identity: &'a Identity<S>,
}

impl<'a, S: Store> Organizations<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>) -> Self {
        Self { identity }
    }

    /// Creates an organization. Its domain is the slug of its name (`Awesome company` →
    /// `awesome-company`).
    ///
    /// **Collisions** get a suffix, never an error: `name`, then `name-2` … `name-20`, then
    /// `name-` and 8 random hex digits. The store's unique key decides each attempt atomically,
    /// so concurrent creates of one name always get distinct domains. A deleted organization's
    /// domain stays taken.
    ///
    /// # Errors
    /// [`Error::Conflict`] if every attempt collided (30 domains taken), [`Error::Store`] when
    /// the store fails.
    pub async fn create(&self, new: NewOrganization) -> Result<Organization, Error> {
        let env = self.identity.environment();
        let now = self.identity.now();
        // Invariant: NewOrganization::new checked that the name has a slug.
        let base =
            OrgDomain::slugify(new.name.as_str()).ok_or(Error::ApiMisuse("unsluggable name"))?;
        let mut org = Organization {
            id: OrganizationId::generate(now),
            domain: base.clone(),
            environment: env,
            managed_by: self.identity.config().managed_by().clone(),
            name: new.name,
            locality: None,
            state: None,
            country_name: None,
            privacy_policy_url: None,
            terms_of_service_url: None,
            inserted_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
        };
        new.changes.apply(&mut org);
        for attempt in 1..=NUMBERED_ATTEMPTS + RANDOM_ATTEMPTS {
            org.domain = match attempt {
                1 => base.clone(),
                n if n <= NUMBERED_ATTEMPTS => base.with_suffix(&n.to_string()),
                _ => base.with_suffix(&hex(&random_array::<4>()?)),
            };
            let event = NewEvent::new(EventCode::ORGANIZATION_CREATED, now).tenant(&org.domain);
            match self
                .identity
                .store()
                .insert_organization(env, &org, &event)
                .await
            {
                Ok(()) => return Ok(org),
                Err(StoreError::AlreadyExists { key: "domain" }) => continue,
                Err(StoreError::AlreadyExists { key: "id" }) => {
                    org.id = OrganizationId::generate(now)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::Organization))
    }

    /// The organization with this domain; a deleted one answers [`Retrieved::Deleted`].
    ///
    /// # Errors
    /// [`Error::NotFound`] if there never was one, [`Error::Store`] when the store fails.
    pub async fn retrieve(&self, domain: &OrgDomain) -> Result<Retrieved<Organization>, Error> {
        let org = self
            .identity
            .store()
            .organization(self.identity.environment(), domain)
            .await?
            .ok_or(Error::NotFound(Resource::Organization))?;
        Ok(match org.deleted_at {
            Some(at) => Retrieved::Deleted(org.tombstone(at)),
            None => Retrieved::Active(org),
        })
    }

    /// Applies a partial update; the domain never changes.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist or was deleted, [`Error::Conflict`] if concurrent
    /// writers kept winning, [`Error::Store`] when the store fails.
    pub async fn update(
        &self,
        domain: &OrgDomain,
        update: OrganizationUpdate,
    ) -> Result<Organization, Error> {
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = store
                .organization(env, domain)
                .await?
                .filter(|o| o.deleted_at.is_none())
                .ok_or(Error::NotFound(Resource::Organization))?;
            let now = self.identity.now();
            let mut next = current.clone();
            update.apply(&mut next);
            next.updated_at = now;
            next.version = current.version + 1;
            let event = NewEvent::new(EventCode::ORGANIZATION_UPDATED, now)
                .tenant(domain)
                .detail("fields", update.changed_fields());
            match store
                .update_organization(env, &next, current.version, &event)
                .await
            {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::Organization)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::Organization))
    }

    /// Deletes an organization. Its domain stays reserved; retrieving it answers the tombstone;
    /// its users and applications become unreachable through idcore, and every token issued
    /// for it is revoked: live verification refuses its access and ID tokens (stateless
    /// verification cannot know, as with any revocation).
    ///
    /// The revocation is recorded before the deletion: if the deletion then fails, the tokens
    /// stay revoked (fail closed) and the call can be retried.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist or is already deleted, [`Error::Store`] when the
    /// store fails.
    pub async fn delete(&self, domain: &OrgDomain) -> Result<Tombstone, Error> {
        let live = self.require_live(domain).await?;
        self.identity.tokens().revoke_organization(&live).await?;
        let now = self.identity.now();
        let event = NewEvent::new(EventCode::ORGANIZATION_DELETED, now).tenant(domain);
        match self
            .identity
            .store()
            .delete_organization(self.identity.environment(), domain, now, &event)
            .await
        {
            Ok(org) => Ok(org.tombstone(now)),
            Err(StoreError::NotFound) => Err(Error::NotFound(Resource::Organization)),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of live organizations, newest first.
    ///
    /// # Errors
    /// [`Error::Store`] when the store fails.
    /// [`Error::InvalidField`] naming `cursor` when the request carries a cursor of another
    /// list.
    pub async fn list(&self, page: PageRequest) -> Result<List<Organization>, Error> {
        page.check_cursor(ListKind::Organizations)?;
        let (data, total) = self
            .identity
            .store()
            .list_organizations(self.identity.environment(), page)
            .await?;
        Ok(List::new(data, page, total))
    }

    /// The live organization with this domain, for services that act inside it.
    pub(crate) async fn require_live(&self, domain: &OrgDomain) -> Result<Organization, Error> {
        self.identity
            .store()
            .organization(self.identity.environment(), domain)
            .await?
            .filter(|o| o.deleted_at.is_none())
            .ok_or(Error::NotFound(Resource::Organization))
    }
}
