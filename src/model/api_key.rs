//! API keys of an organization (seed 003, account keys): a public key id, a role, and the
//! metadata an owner sees. The secret is never here: it is shown once at creation or rotation
//! and stored sealed (see [`crate::store::api_keys`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, FieldProblem};
use crate::model::fields::{Name, Text};
use crate::model::ids::{OrgDomain, new_v7};
use crate::page::{Cursor, Keyed, ListKind};

/// The prefix of every key id.
pub const KEY_ID_PREFIX: &str = "ak_";

/// The public id of an API key: `ak_` and 32 lowercase hex digits (a uuid v7). Not a secret:
/// requests name their key with it (`apsws.authKey`), logs and audit events show it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(Uuid);

impl ApiKeyId {
    /// Wraps a uuid (as a store adapter reads it back).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The uuid.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// Parses `ak_` followed by exactly 32 lowercase hex digits.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for anything else.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        const BAD: FieldProblem = FieldProblem::Format("must be ak_ and 32 lowercase hex digits");
        let hex = s.strip_prefix(KEY_ID_PREFIX).ok_or(BAD)?;
        if hex.len() != 32 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(BAD);
        }
        Uuid::try_parse(hex).map(Self).map_err(|_| BAD)
    }

    pub(crate) fn generate(now: OffsetDateTime) -> Self {
        Self(new_v7(now))
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_ID_PREFIX}{}", self.0.simple())
    }
}

impl fmt::Debug for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyId({self})")
    }
}

impl FromStr for ApiKeyId {
    type Err = FieldProblem;
    fn from_str(s: &str) -> Result<Self, FieldProblem> {
        Self::parse(s)
    }
}

impl Serialize for ApiKeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiKeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What a signed request made with a key may do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyRole {
    /// The account owner: every operation, including the owner-only ones of the seed
    /// (`DeleteToken` with a `userList`). Owner requests must be signed.
    Owner,
    /// Reads only.
    Read,
}

impl ApiKeyRole {
    /// The wire name: `owner` or `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Read => "read",
        }
    }

    /// Parses a wire name.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for anything but `owner` and `read`.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        match s {
            "owner" => Ok(Self::Owner),
            "read" => Ok(Self::Read),
            _ => Err(FieldProblem::Format("must be owner or read")),
        }
    }
}

impl fmt::Display for ApiKeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key as its owner sees it: everything but the secret.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "__type__", rename = "ApiKey")]
pub struct ApiKey {
    /// The public key id.
    pub id: ApiKeyId,
    /// The organization the key belongs to.
    pub org: OrgDomain,
    /// What it may do.
    pub role: ApiKeyRole,
    /// A name for people.
    pub name: Name,
    /// A description for people.
    pub description: Option<Text>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops verifying by itself, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When a signed request last verified with it (updated at most once a minute).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When its secret was last rotated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
    /// Until when the secret it had before the last rotation still verifies.
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// Whether the key verifies requests at `now`: not revoked, not expired.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none_or(|r| now < r) && self.expires_at.is_none_or(|e| now < e)
    }
}

impl Keyed for ApiKey {
    fn cursor(&self) -> Cursor {
        Cursor::after_item(ListKind::ApiKeys, self.created_at, self.id.as_uuid())
    }
}

/// A key to create: a name, a role, optionally a description and an expiry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewApiKey {
    pub(crate) name: Name,
    pub(crate) role: ApiKeyRole,
    pub(crate) description: Option<Text>,
    pub(crate) expires_at: Option<OffsetDateTime>,
}

impl NewApiKey {
    /// A key named `name` with `role`, no description, never expiring.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `name` when it is empty, too long or has control
    /// characters.
    pub fn new(name: &str, role: ApiKeyRole) -> Result<Self, Error> {
        Ok(Self {
            name: Name::parse(name).map_err(|p| Error::field("name", p))?,
            role,
            description: None,
            expires_at: None,
        })
    }

    /// Sets the description.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `description`.
    pub fn description(mut self, description: &str) -> Result<Self, Error> {
        self.description =
            Some(Text::parse(description).map_err(|p| Error::field("description", p))?);
        Ok(self)
    }

    /// The key stops verifying at `expires_at` (which must be in the future when it is
    /// created).
    pub fn expires_at(mut self, expires_at: OffsetDateTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_print_and_parse_strictly() {
        let id = ApiKeyId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_002a));
        assert_eq!(id.to_string(), "ak_0190000000007000800000000000002a");
        assert_eq!(ApiKeyId::parse(&id.to_string()), Ok(id));
        for bad in [
            "",
            "ak_",
            "0190000000007000800000000000002a",
            "AK_0190000000007000800000000000002a",
            "ak_0190000000007000800000000000002A",
            "ak_019000000000700080000000000002a",
            "ak_01900000-0000-7000-8000-00000000002a",
        ] {
            assert!(ApiKeyId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"ak_0190000000007000800000000000002a\""
        );
    }

    #[test]
    fn roles_have_wire_names() {
        for role in [ApiKeyRole::Owner, ApiKeyRole::Read] {
            assert_eq!(ApiKeyRole::parse(role.as_str()), Ok(role));
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert!(ApiKeyRole::parse("Owner").is_err());
    }
}
