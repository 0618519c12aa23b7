//! The domain model: the records and values every layer above shares — organizations, users,
//! applications, their fields and ids ([`ids`], [`fields`]), audit events ([`event`]), pages
//! ([`page`]) and usernames ([`username`]).
//!
//! Plain data, valid by construction: parsing setters name the failing field, records hold only
//! valid values. Nothing here reads a store, a clock or a key; the store contract
//! ([`crate::store`]) is written in these types, and the services ([`crate::directory`],
//! [`crate::signin`], [`crate::tokens`] …) re-export them where their users look for them.

pub mod api_key;
pub mod application;
pub mod claims;
pub mod event;
pub mod fields;
pub mod ids;
pub mod organization;
pub mod page;
pub mod session;
pub mod sso;
pub mod user;
pub mod username;

use serde::Serialize;
use time::OffsetDateTime;

use ids::OrgDomain;

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
