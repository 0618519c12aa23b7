//! The custom claims of the tokens: `resource_owner_metadata` (an organization's metakey
//! values, Cryptr) and the RBAC lists `roles`, `actions`, `attributes`, `groups` (seed 000),
//! with the checks a resource server makes after verifying an access token.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AccessClaims;
use crate::model::claims::MetaValue;

/// `resource_owner_metadata`: metakey name → value, sorted by name. A JSON object; reading one
/// with a repeated member is an error.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Metadata(pub Vec<(String, MetaValue)>);

impl Metadata {
    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of the metakey `name`.
    pub fn get(&self, name: &str) -> Option<&MetaValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The values, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetaValue)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            m.serialize_entry(name, value)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Metadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of metadata values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
                let mut out: Vec<(String, MetaValue)> = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, MetaValue>()? {
                    if out.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom("repeated metadata member"));
                    }
                    out.push((name, value));
                }
                Ok(Metadata(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// Whether the sorted list `list` holds `item`: a binary search, no allocation.
fn holds(list: &[String], item: &str) -> bool {
    list.binary_search_by(|s| s.as_str().cmp(item)).is_ok()
}

impl AccessClaims<'_> {
    /// Whether the token grants `action` (`App01:Read`): one of the user's actions, given
    /// directly or through a role its organization defines. Exact and case-sensitive; a binary
    /// search over the sorted list, without allocating.
    ///
    /// ```
    /// # async fn run(identity: &idcore::Identity<idcore::MemoryStore>, token: &str)
    /// #     -> Result<(), idcore::Error> {
    /// let verified = identity.tokens().verify_live(token).await?;
    /// if !verified.claims.has_action("App01:Update") {
    ///     return Err(idcore::Error::Forbidden("App01:Update"));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn has_action(&self, action: &str) -> bool {
        holds(&self.actions, action)
    }

    /// Whether the user has the role `role`.
    pub fn has_role(&self, role: &str) -> bool {
        holds(&self.roles, role)
    }

    /// Whether the user is in the group `group`.
    pub fn in_group(&self, group: &str) -> bool {
        holds(&self.groups, group)
    }

    /// Whether the user has the attribute `attribute` (a department …).
    pub fn has_attribute(&self, attribute: &str) -> bool {
        holds(&self.attributes, attribute)
    }

    /// Sorts the RBAC lists if they are not (idcore writes them sorted; a token from elsewhere
    /// may not be), so the checks above can search them.
    pub(super) fn sort_lists(&mut self) {
        for list in [
            &mut self.roles,
            &mut self.actions,
            &mut self.attributes,
            &mut self.groups,
        ] {
            if !list.is_sorted() {
                list.sort_unstable();
            }
        }
    }
}
