//! The directory (seed 001): organizations, their users, and applications, in two fully
//! separate environments.
//!
//! Services are reached from [`Identity`](crate::Identity): `identity.organizations()`,
//! `identity.users(&domain)`, `identity.applications(scope)`. Inputs are built from raw strings
//! by parsing setters that name the failing field ([`Error::InvalidField`](crate::Error)); the
//! records they produce hold only valid values.

mod applications;
mod fields;
mod ids;
mod organizations;
mod users;

use serde::Serialize;
use time::OffsetDateTime;

pub use applications::{
    Application, ApplicationScope, ApplicationType, ApplicationUpdate, Applications,
    CreatedApplication, NewApplication, TokenValidity,
};
pub use fields::{
    Birthdate, CountryCode, EMAIL_MAX, Email, Gender, HexColor, HttpUrl, Locale, NAME_MAX, Name,
    Origin, PhoneNumber, RedirectUri, TEXT_MAX, Text, URL_MAX, ZoneInfo,
};
pub(crate) use ids::new_v7;
pub use ids::{ClientId, DOMAIN_MAX, Environment, OrgDomain, OrganizationId, UserId};
pub use organizations::{
    NewOrganization, Organization, OrganizationField, OrganizationUpdate, Organizations,
};
pub(crate) use users::new_user_record;
pub use users::{
    Address, MetadataEntry, NewUser, Profile, ProfileChanges, ProfileField, User, Users,
};

/// How many times a read-modify-write is retried when a concurrent writer wins
/// ([`StoreError::Precondition`](crate::store::StoreError::Precondition)) before
/// [`Error::Conflict`](crate::Error::Conflict) is returned.
pub(crate) const UPDATE_ATTEMPTS: usize = 5;

/// What retrieving a resource that can be deleted answers: the resource, or the subset the seed
/// returns for a deleted one.
#[derive(Clone, PartialEq, Debug)]
pub enum Retrieved<T> {
    /// The resource is live.
    Active(T),
    /// The resource was deleted.
    Deleted(Tombstone),
}

impl<T> Retrieved<T> {
    /// The live resource, if it is live.
    pub fn active(self) -> Option<T> {
        match self {
            Self::Active(t) => Some(t),
            Self::Deleted(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for Retrieved<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Active(t) => t.serialize(s),
            Self::Deleted(d) => d.serialize(s),
        }
    }
}

/// The subset of a deleted resource that stays visible: `{"__type__", "id", "deleted": true …}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Tombstone {
    /// `Organization` or `Application`.
    #[serde(rename = "__type__")]
    pub resource_type: &'static str,
    /// The resource's id (`id` of an organization, `client_id` of an application).
    pub id: String,
    /// The organization domain (of the organization itself, or of the application's scope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<OrgDomain>,
    /// Always `true`.
    pub deleted: bool,
    /// When it was deleted.
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
}
