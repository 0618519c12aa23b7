//! The directory (seed 001): organizations, their users, and applications, in two fully
//! separate environments.
//!
//! Services are reached from [`Identity`]: `identity.organizations()`,
//! `identity.users(&domain)`, `identity.applications(scope)`. Inputs are built from raw strings
//! by parsing setters that name the failing field ([`Error::InvalidField`](crate::Error)); the
//! records they produce hold only valid values. The records and values themselves live in the
//! model layer ([`crate::model`]) and are re-exported here.

mod applications;
mod organizations;
mod users;

pub use applications::Applications;
pub use organizations::Organizations;
pub use users::Users;
pub(crate) use users::new_user_record;

pub use crate::model::application::{
    Application, ApplicationScope, ApplicationType, ApplicationUpdate, CreatedApplication,
    NewApplication, TokenValidity,
};
pub use crate::model::fields::{
    Birthdate, CountryCode, EMAIL_MAX, Email, Gender, HexColor, HttpUrl, Locale, NAME_MAX, Name,
    Origin, PhoneNumber, RedirectUri, TEXT_MAX, Text, URL_MAX, ZoneInfo,
};
pub use crate::model::ids::{
    ClientId, DOMAIN_MAX, Environment, MetaKeyId, OrgDomain, OrganizationId, UserId,
};
pub use crate::model::organization::{
    NewOrganization, Organization, OrganizationField, OrganizationUpdate,
};
pub use crate::model::user::{
    Address, MetadataEntry, NewUser, Profile, ProfileChanges, ProfileField, User,
};
pub use crate::model::{Retrieved, Tombstone};

use crate::identity::Identity;
use crate::store::Store;

/// How many times a read-modify-write is retried when a concurrent writer wins
/// ([`StoreError::Precondition`](crate::store::StoreError::Precondition)) before
/// [`Error::Conflict`](crate::Error::Conflict) is returned.
pub(crate) const UPDATE_ATTEMPTS: usize = 5;

impl<S: Store> Identity<S> {
    /// The organizations of this environment.
    pub fn organizations(&self) -> Organizations<'_, S> {
        Organizations::new(self)
    }

    /// The users of one organization. Every call through it is confined to that organization.
    pub fn users<'a>(&'a self, org: &'a OrgDomain) -> Users<'a, S> {
        Users::new(self, org)
    }

    /// The applications of one scope (one organization, or global).
    pub fn applications(&self, scope: ApplicationScope) -> Applications<'_, S> {
        Applications::new(self, scope)
    }
}
