//! Custom claims: an organization's claim schema (Cryptr's metakeys and role definitions) and
//! what a user carries against it (metadata values and RBAC attributes, seed 000).
//!
//! The schema is one record per organization, written under a version check
//! ([`ClaimStore`](crate::store::ClaimStore)); a user's values live on the user record
//! (`User::metadata`, `User::rbac`), written under the user's version check. A value names
//! its key by [`MetaKeyId`], never by name, and [`ClaimSchema::resolve`] keeps only values whose
//! key is in the schema now: removing a key is one write, its values vanish from every next
//! token at once, and a key re-created with the same name does not inherit the old values.
//!
//! Everything here is bounded so that a token always fits: see [`MAX_METADATA_JSON`],
//! [`MAX_RBAC_JSON`] and [`MAX_ROLES_JSON`]. A value that would exceed a bound is refused when
//! it is set, never at sign-in.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::error::FieldProblem;
use crate::model::fields::Name;
use crate::model::ids::{MetaKeyId, OrgDomain};

/// At most this many metakeys per organization.
pub const MAX_METAKEYS: usize = 64;
/// At most this many role definitions per organization.
pub const MAX_ROLES: usize = 64;
/// At most this many entries in each RBAC list (roles, actions, attributes, groups) of a user,
/// and actions in a role definition.
pub const MAX_LIST: usize = 64;
/// Maximum length of a metakey name, in bytes.
pub const METAKEY_NAME_MAX: usize = 64;
/// Maximum length of a string metadata value, in code points.
pub const METADATA_VALUE_MAX: usize = 512;
/// Maximum length of a role, action, attribute or group, in bytes.
pub const LABEL_MAX: usize = 128;
/// The most a user's metadata may add to a token: the JSON length of its
/// `resource_owner_metadata` object.
pub const MAX_METADATA_JSON: usize = 3 * 1024;
/// The most a user's own RBAC lists may add to a token (their JSON length together).
pub const MAX_RBAC_JSON: usize = 1536;
/// The most an organization's role definitions may add to a token through the actions they
/// grant (the JSON length of all their actions together).
pub const MAX_ROLES_JSON: usize = 1536;

/// Claim names a metakey may not take (compared case-insensitively): the registered JWT claims
/// (RFC 7519), the OpenID Connect standard and ID token claims, the claims of RFC 9068 / 8693,
/// every claim idcore issues (the seeds' `cid dbs jtt scp tnt ver uid gid` …), the RBAC claims
/// and the seed's metadata containers. Names starting with `__` are refused too (the seed's
/// envelope members).
pub const RESERVED_CLAIMS: &[&str] = &[
    // RFC 7519
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti", // OIDC Core §2, §3.1.3.6, §5.1
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
    // RFC 9068, RFC 8693, RFC 7800, JOSE headers
    "client_id",
    "scope",
    "act",
    "may_act",
    "cnf",
    "typ",
    "alg",
    "kid",
    "jwk",
    "jku",
    "x5c",
    "crit", // idcore and the seeds
    "cid",
    "dbs",
    "jtt",
    "scp",
    "tnt",
    "ver",
    "uid",
    "gid",
    "roles",
    "actions",
    "attributes",
    "groups",
    "resource_owner_metadata",
    "application_metadata",
    "metadata",
];

/// The basic type a metakey's values must have. Parsed case-insensitively (the seed writes
/// both `STRING` and `string`); always written lowercase.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MetaKeyType {
    /// `string`: a single line of text, 1 to [`METADATA_VALUE_MAX`] code points.
    String,
    /// `integer`: a signed 64-bit integer, a JSON number in tokens.
    Integer,
    /// `boolean`: `true` or `false`, a JSON boolean in tokens.
    Boolean,
    /// `date`: a calendar date, `YYYY-MM-DD` in tokens.
    Date,
    /// `datetime`: an instant, RFC 3339 in UTC (`2026-12-07T08:15:16Z`) in tokens.
    DateTime,
}

impl MetaKeyType {
    /// The wire name (`string`, `integer`, `boolean`, `date`, `datetime`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::DateTime => "datetime",
        }
    }

    /// Parses a type name in any letter case.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for any other name.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        const ALL: [MetaKeyType; 5] = [
            MetaKeyType::String,
            MetaKeyType::Integer,
            MetaKeyType::Boolean,
            MetaKeyType::Date,
            MetaKeyType::DateTime,
        ];
        let s = s.trim();
        ALL.into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or(FieldProblem::Format(
                "must be one of string, integer, boolean, date, datetime",
            ))
    }
}

impl fmt::Display for MetaKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MetaKeyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MetaKeyType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a metakey name was refused.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NameProblem {
    /// The name is malformed.
    Field(FieldProblem),
    /// The name is a claim idcore or a standard reserves (the reserved name as given).
    Reserved(String),
}

/// A metakey's name: 1 to [`METAKEY_NAME_MAX`] bytes of ASCII letters, digits, `_`, `-`, `.`
/// and inner spaces, starting with a letter or `_`, not starting with `__`, and not one of
/// [`RESERVED_CLAIMS`] in any letter case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
#[serde(transparent)]
pub struct MetaKeyName(String);

impl MetaKeyName {
    /// Parses a name (trimmed).
    ///
    /// # Errors
    /// [`NameProblem::Field`] when malformed, [`NameProblem::Reserved`] when reserved.
    pub fn parse(s: &str) -> Result<Self, NameProblem> {
        let s = s.trim();
        let field = |p| Err(NameProblem::Field(p));
        if s.is_empty() {
            return field(FieldProblem::Empty);
        }
        if s.len() > METAKEY_NAME_MAX {
            return field(FieldProblem::TooLong {
                max: METAKEY_NAME_MAX,
            });
        }
        let first_ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        let chars_ok = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' '));
        if !first_ok || !chars_ok {
            return field(FieldProblem::Format(
                "must start with a letter or _ and hold only letters, digits, _ - . and spaces",
            ));
        }
        if s.starts_with("__") || RESERVED_CLAIMS.iter().any(|r| r.eq_ignore_ascii_case(s)) {
            return Err(NameProblem::Reserved(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetaKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MetaKeyName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(|_| serde::de::Error::custom("invalid metakey name"))
    }
}

/// A metakey: a typed custom claim an organization's users may carry (Cryptr's `MetaKey`).
/// Immutable once created; removing it and creating it again gives a new key.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MetaKey {
    /// Its id.
    pub id: MetaKeyId,
    /// Its name, unique in the organization (case-insensitively).
    pub name: MetaKeyName,
    /// The type of its values.
    #[serde(rename = "type")]
    pub kind: MetaKeyType,
    /// Whether every user must have a value to receive tokens (see the `claims` module docs).
    pub required: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub inserted_at: OffsetDateTime,
}

impl MetaKey {
    /// The seed's JSON shape: `{"__access__", "__domain__", "__managed_by__", "__type__":
    /// "MetaKey", "id", "name", "required", "type"}`.
    pub fn wire<'a>(&'a self, org: &'a OrgDomain, managed_by: &'a Name) -> MetaKeyWire<'a> {
        MetaKeyWire {
            key: self,
            org,
            managed_by,
        }
    }
}

impl crate::page::Keyed for MetaKey {
    fn cursor(&self) -> crate::page::Cursor {
        crate::page::Cursor::after_item(
            crate::page::ListKind::MetaKeys,
            self.inserted_at,
            self.id.as_uuid(),
        )
    }
}

/// [`MetaKey::wire`].
#[derive(Clone, Copy, Debug)]
pub struct MetaKeyWire<'a> {
    key: &'a MetaKey,
    org: &'a OrgDomain,
    managed_by: &'a Name,
}

impl Serialize for MetaKeyWire<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("__access__", &format!("limited_to:{}", self.org))?;
        m.serialize_entry("__domain__", self.org)?;
        m.serialize_entry("__managed_by__", self.managed_by)?;
        m.serialize_entry("__type__", "MetaKey")?;
        m.serialize_entry("id", &self.key.id)?;
        m.serialize_entry("name", &self.key.name)?;
        m.serialize_entry("required", &self.key.required)?;
        m.serialize_entry("type", &self.key.kind)?;
        m.end()
    }
}

/// A metadata value, already checked against its key's type: text (strings, dates and
/// datetimes in their canonical form), an integer or a boolean — exactly the JSON scalar that
/// tokens carry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetaValue {
    /// `boolean`.
    Boolean(bool),
    /// `integer`.
    Integer(i64),
    /// `string`, `date` (`YYYY-MM-DD`) or `datetime` (RFC 3339, UTC, whole seconds).
    Text(String),
}

impl MetaValue {
    /// Parses a value given as text (the seed's `key_value`) for a key of type `kind`.
    ///
    /// # Errors
    /// [`FieldProblem`] saying what the type needs.
    pub fn parse(kind: MetaKeyType, s: &str) -> Result<Self, FieldProblem> {
        let t = s.trim();
        match kind {
            MetaKeyType::String => {
                if t.is_empty() {
                    return Err(FieldProblem::Empty);
                }
                if t.chars().take(METADATA_VALUE_MAX + 1).count() > METADATA_VALUE_MAX {
                    return Err(FieldProblem::TooLong {
                        max: METADATA_VALUE_MAX,
                    });
                }
                if t.chars().any(char::is_control) {
                    return Err(FieldProblem::ControlCharacters);
                }
                Ok(Self::Text(t.to_owned()))
            }
            MetaKeyType::Integer => t
                .parse::<i64>()
                .map(Self::Integer)
                .map_err(|_| FieldProblem::Format("must be an integer")),
            MetaKeyType::Boolean => match t {
                _ if t.eq_ignore_ascii_case("true") => Ok(Self::Boolean(true)),
                _ if t.eq_ignore_ascii_case("false") => Ok(Self::Boolean(false)),
                _ => Err(FieldProblem::Format("must be true or false")),
            },
            MetaKeyType::Date => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(t, &format)
                    .ok()
                    .and_then(|d| d.format(&format).ok())
                    .map(Self::Text)
                    .ok_or(FieldProblem::Format("must be a date, YYYY-MM-DD"))
            }
            MetaKeyType::DateTime => OffsetDateTime::parse(t, &Rfc3339)
                .ok()
                .and_then(|at| {
                    let utc = at
                        .to_offset(time::UtcOffset::UTC)
                        .replace_nanosecond(0)
                        .ok()?;
                    utc.format(&Rfc3339).ok()
                })
                .map(Self::Text)
                .ok_or(FieldProblem::Format("must be an RFC 3339 date and time")),
        }
    }

    /// Parses a value given as JSON: a string is read as [`MetaValue::parse`] reads text; a
    /// number is accepted for `integer` (whole, in range) and a boolean for `boolean`.
    ///
    /// # Errors
    /// [`FieldProblem`] saying what the type needs.
    pub fn from_json(kind: MetaKeyType, v: &serde_json::Value) -> Result<Self, FieldProblem> {
        match (kind, v) {
            (_, serde_json::Value::String(s)) => Self::parse(kind, s),
            (MetaKeyType::Integer, serde_json::Value::Number(n)) => n
                .as_i64()
                .map(Self::Integer)
                .ok_or(FieldProblem::Format("must be an integer")),
            (MetaKeyType::Boolean, serde_json::Value::Bool(b)) => Ok(Self::Boolean(*b)),
            _ => Err(FieldProblem::Format(match kind {
                MetaKeyType::String => "must be a string",
                MetaKeyType::Integer => "must be an integer",
                MetaKeyType::Boolean => "must be true or false",
                MetaKeyType::Date => "must be a date, YYYY-MM-DD",
                MetaKeyType::DateTime => "must be an RFC 3339 date and time",
            })),
        }
    }

    /// Whether the value has the shape of `kind` (how a stored value is checked again before
    /// it goes into a token).
    pub fn fits(&self, kind: MetaKeyType) -> bool {
        match (self, kind) {
            (Self::Boolean(_), MetaKeyType::Boolean) | (Self::Integer(_), MetaKeyType::Integer) => {
                true
            }
            (Self::Text(s), MetaKeyType::String | MetaKeyType::Date | MetaKeyType::DateTime) => {
                Self::parse(kind, s).as_ref() == Ok(self)
            }
            _ => false,
        }
    }

    /// Its JSON length in a token (the escaping of strings counted).
    pub fn json_len(&self) -> usize {
        match self {
            Self::Boolean(true) => 4,
            Self::Boolean(false) => 5,
            Self::Integer(n) => n.to_string().len(),
            Self::Text(s) => json_str_len(s),
        }
    }
}

/// A user's value for one metakey (Cryptr's `MetaData`), as stored on the user.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MetadataEntry {
    /// The `MetaData` id.
    pub id: Uuid,
    /// The key it is a value of.
    pub key_id: MetaKeyId,
    /// The value.
    pub value: MetaValue,
}

/// A role, action, attribute or group: trimmed, 1 to [`LABEL_MAX`] bytes, no control
/// characters and no comma (the seed writes lists as comma-separated text).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    /// Parses a label.
    ///
    /// # Errors
    /// [`FieldProblem`] saying what was wrong.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let t = s.trim();
        if t.is_empty() {
            return Err(FieldProblem::Empty);
        }
        if t.len() > LABEL_MAX {
            return Err(FieldProblem::TooLong { max: LABEL_MAX });
        }
        if t.chars().any(char::is_control) {
            return Err(FieldProblem::ControlCharacters);
        }
        if t.contains(',') {
            return Err(FieldProblem::Format("must not contain a comma"));
        }
        Ok(Self(t.to_owned()))
    }

    /// Parses an action, `<application>:<action>` (`App01:Update`): both parts non-empty,
    /// without whitespace, and one colon.
    ///
    /// # Errors
    /// [`FieldProblem`] saying what was wrong.
    pub fn parse_action(s: &str) -> Result<Self, FieldProblem> {
        let label = Self::parse(s)?;
        let shaped = label.0.split_once(':').is_some_and(|(app, action)| {
            !app.is_empty()
                && !action.is_empty()
                && !action.contains(':')
                && !label.0.contains(char::is_whitespace)
        });
        if !shaped {
            return Err(FieldProblem::Format(
                "must be <application>:<action>, without spaces",
            ));
        }
        Ok(label)
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a list of labels given as items, each of which may itself be comma-separated
/// (`["App01:Update, App01:Read"]` is two actions): sorted, duplicates removed, at most
/// [`MAX_LIST`].
///
/// # Errors
/// The first item's problem, or [`FieldProblem::OutOfRange`] for too many.
pub fn parse_labels<'a>(
    items: impl IntoIterator<Item = &'a str>,
    action: bool,
) -> Result<Vec<Label>, FieldProblem> {
    let mut out = Vec::new();
    for item in items {
        for part in item.split(',') {
            if part.trim().is_empty() {
                continue;
            }
            out.push(if action {
                Label::parse_action(part)?
            } else {
                Label::parse(part)?
            });
            if out.len() > MAX_LIST * 4 {
                break;
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.len() > MAX_LIST {
        return Err(FieldProblem::OutOfRange {
            min: 0,
            max: MAX_LIST as i64,
        });
    }
    Ok(out)
}

/// A user's RBAC attributes (seed 000 "update user attribute"): each list sorted and without
/// duplicates.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Rbac {
    /// Roles (`App01AdministrationRole`); a role defined by the organization grants its actions.
    #[serde(default)]
    pub roles: Vec<Label>,
    /// Actions granted directly, `<application>:<action>` (`App01:Update`).
    #[serde(default)]
    pub actions: Vec<Label>,
    /// Attributes (departments, destinations …: `ITAdminDept`).
    #[serde(default)]
    pub attributes: Vec<Label>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<Label>,
}

impl Rbac {
    /// Whether every list is empty.
    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
            && self.actions.is_empty()
            && self.attributes.is_empty()
            && self.groups.is_empty()
    }

    /// The JSON length the four lists add to a token (an upper bound, commas and names
    /// included).
    pub fn json_len(&self) -> usize {
        [
            ("roles", &self.roles),
            ("actions", &self.actions),
            ("attributes", &self.attributes),
            ("groups", &self.groups),
        ]
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(name, l)| name.len() + 5 + labels_json_len(l))
        .sum()
    }
}

/// A role definition of an organization: the actions a role grants.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RoleDefinition {
    /// The role.
    pub name: Label,
    /// The actions it grants (sorted, without duplicates).
    pub actions: Vec<Label>,
}

/// An organization's claim schema: its metakeys and role definitions, versioned as one record.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ClaimSchema {
    /// Metakeys, sorted by name.
    #[serde(default)]
    pub metakeys: Vec<MetaKey>,
    /// Role definitions, sorted by name.
    #[serde(default)]
    pub roles: Vec<RoleDefinition>,
    /// Optimistic-concurrency version: 0 for an organization that never had a schema, +1 per
    /// write.
    #[serde(skip)]
    pub version: u64,
}

/// A required metakey without a value: the user cannot receive tokens until it is set.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MissingMetadata {
    /// The key's name.
    pub key: MetaKeyName,
}

/// The custom claims of one user's tokens, resolved against the schema.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CustomClaims {
    /// `resource_owner_metadata`: key name → value, by name.
    pub metadata: Vec<(String, MetaValue)>,
    /// `roles`.
    pub roles: Vec<String>,
    /// `actions`: direct and role-granted, sorted, without duplicates.
    pub actions: Vec<String>,
    /// `attributes`.
    pub attributes: Vec<String>,
    /// `groups`.
    pub groups: Vec<String>,
}

impl CustomClaims {
    /// Whether there is no custom claim at all.
    pub fn is_empty(&self) -> bool {
        self.metadata.is_empty()
            && self.roles.is_empty()
            && self.actions.is_empty()
            && self.attributes.is_empty()
            && self.groups.is_empty()
    }
}

impl ClaimSchema {
    /// The metakey with this name (case-insensitively).
    pub fn metakey(&self, name: &str) -> Option<&MetaKey> {
        self.metakeys
            .iter()
            .find(|k| k.name.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The metakey with this id.
    pub fn metakey_by_id(&self, id: MetaKeyId) -> Option<&MetaKey> {
        self.metakeys.iter().find(|k| k.id == id)
    }

    /// The role definition with this name.
    pub fn role(&self, name: &str) -> Option<&RoleDefinition> {
        self.roles.iter().find(|r| r.name.as_str() == name.trim())
    }

    /// The JSON length of every action of every role definition.
    pub fn roles_json_len(&self) -> usize {
        self.roles.iter().map(|r| labels_json_len(&r.actions)).sum()
    }

    /// The JSON length of `resource_owner_metadata` for these entries: only values of keys in
    /// this schema count (others are not issued).
    pub fn metadata_json_len(&self, entries: &[MetadataEntry]) -> usize {
        let (count, members) = entries
            .iter()
            .filter_map(|e| {
                let key = self.metakey_by_id(e.key_id)?;
                Some(json_str_len(key.name.as_str()) + 1 + e.value.json_len())
            })
            .fold((0usize, 0usize), |(n, len), member| (n + 1, len + member));
        // `{`, `}`, and a comma between members.
        members + 2 + count.saturating_sub(1)
    }

    /// The custom claims a user with these `metadata` and `rbac` receives now (a user's
    /// [`User::metadata`](crate::model::user::User::metadata) and
    /// [`User::rbac`](crate::model::user::User::rbac)): its values of the keys in this schema
    /// (others are dropped; a value that no longer fits its key's type is dropped too), its
    /// RBAC lists, and the actions of its defined roles.
    ///
    /// # Errors
    /// [`MissingMetadata`] naming the first required key (by name) the user has no value for.
    pub fn resolve(
        &self,
        metadata: &[MetadataEntry],
        rbac: &Rbac,
    ) -> Result<CustomClaims, MissingMetadata> {
        let mut out = CustomClaims::default();
        if !self.metakeys.is_empty() {
            for key in &self.metakeys {
                let value = metadata
                    .iter()
                    .find(|e| e.key_id == key.id && e.value.fits(key.kind));
                match value {
                    Some(e) => out
                        .metadata
                        .push((key.name.as_str().to_owned(), e.value.clone())),
                    None if key.required => {
                        return Err(MissingMetadata {
                            key: key.name.clone(),
                        });
                    }
                    None => {}
                }
            }
        }
        // Sorted by name (the schema keeps its keys so; a store may not): the token scanner
        // reads sorted names fastest.
        if !out.metadata.is_sorted_by(|a, b| a.0 < b.0) {
            out.metadata.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        let strings = |l: &[Label]| l.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
        out.roles = strings(&rbac.roles);
        out.attributes = strings(&rbac.attributes);
        out.groups = strings(&rbac.groups);
        let mut actions: Vec<&str> = rbac.actions.iter().map(Label::as_str).collect();
        for role in &rbac.roles {
            if let Some(def) = self.role(role.as_str()) {
                actions.extend(def.actions.iter().map(Label::as_str));
            }
        }
        actions.sort_unstable();
        actions.dedup();
        out.actions = actions.into_iter().map(str::to_owned).collect();
        Ok(out)
    }
}

fn labels_json_len(l: &[Label]) -> usize {
    2 + l.iter().map(|s| json_str_len(&s.0) + 1).sum::<usize>()
}

/// The length of `s` as a JSON string, quotes and escapes included.
pub(crate) fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_in_any_case_and_answer_lowercase() {
        assert_eq!(MetaKeyType::parse("STRING"), Ok(MetaKeyType::String));
        assert_eq!(MetaKeyType::parse("string"), Ok(MetaKeyType::String));
        assert_eq!(MetaKeyType::parse("DateTime"), Ok(MetaKeyType::DateTime));
        assert!(MetaKeyType::parse("float").is_err());
        assert_eq!(
            serde_json::to_string(&MetaKeyType::Integer).expect("serializes"),
            "\"integer\""
        );
    }

    #[test]
    fn names_refuse_reserved_claims_in_any_case() {
        for reserved in [
            "iss",
            "UID",
            "auth_time",
            "Roles",
            "at_hash",
            "__type__",
            "cid",
        ] {
            assert_eq!(
                MetaKeyName::parse(reserved),
                Err(NameProblem::Reserved(reserved.to_owned())),
                "{reserved}"
            );
        }
        assert_eq!(
            MetaKeyName::parse(" department ").map(|n| n.0),
            Ok("department".to_owned())
        );
        assert!(MetaKeyName::parse("my user metakey").is_ok());
        assert!(matches!(
            MetaKeyName::parse("1abc"),
            Err(NameProblem::Field(FieldProblem::Format(_)))
        ));
        assert!(matches!(
            MetaKeyName::parse("a\"b"),
            Err(NameProblem::Field(_))
        ));
        assert!(matches!(
            MetaKeyName::parse(&"a".repeat(65)),
            Err(NameProblem::Field(FieldProblem::TooLong { max: 64 }))
        ));
    }

    #[test]
    fn values_are_checked_and_canonical() {
        use MetaKeyType as T;
        assert_eq!(
            MetaValue::parse(T::Integer, " 42 "),
            Ok(MetaValue::Integer(42))
        );
        assert!(MetaValue::parse(T::Integer, "4.2").is_err());
        assert_eq!(
            MetaValue::parse(T::Boolean, "TRUE"),
            Ok(MetaValue::Boolean(true))
        );
        assert_eq!(
            MetaValue::parse(T::Date, "2026-12-07"),
            Ok(MetaValue::Text("2026-12-07".into()))
        );
        assert!(MetaValue::parse(T::Date, "2026-13-07").is_err());
        assert_eq!(
            MetaValue::parse(T::DateTime, "2026-12-07T09:15:16.5+01:00"),
            Ok(MetaValue::Text("2026-12-07T08:15:16Z".into()))
        );
        assert_eq!(
            MetaValue::from_json(T::Integer, &serde_json::json!(7)),
            Ok(MetaValue::Integer(7))
        );
        assert!(MetaValue::from_json(T::Boolean, &serde_json::json!(1)).is_err());
        assert!(MetaValue::parse(T::String, "line\nbreak").is_err());
        assert!(MetaValue::parse(T::String, &"x".repeat(513)).is_err());
        assert!(MetaValue::Text("2026-12-07".into()).fits(T::Date));
        assert!(!MetaValue::Text("soon".into()).fits(T::Date));
        assert!(!MetaValue::Integer(1).fits(T::String));
    }

    #[test]
    fn labels_split_sort_and_deduplicate() {
        let actions = parse_labels(["App01:Update, App01:Delete", "App01:Update"], true)
            .expect("valid actions");
        let names: Vec<&str> = actions.iter().map(Label::as_str).collect();
        assert_eq!(names, ["App01:Delete", "App01:Update"]);
        assert!(parse_labels(["App01"], true).is_err());
        assert!(parse_labels(["App 01:Read"], true).is_err());
        assert!(parse_labels(["a:b:c"], true).is_err());
        let many: Vec<String> = (0..65).map(|i| format!("g{i}")).collect();
        assert_eq!(
            parse_labels(many.iter().map(String::as_str), false),
            Err(FieldProblem::OutOfRange { min: 0, max: 64 })
        );
    }

    #[test]
    fn the_metadata_length_is_the_json_length_of_the_issued_object() {
        let next = std::cell::Cell::new(1u128);
        let fresh = || {
            next.set(next.get() + 1);
            Uuid::from_u128(next.get())
        };
        let key = |name: &str, kind| MetaKey {
            id: MetaKeyId::from_uuid(fresh()),
            name: MetaKeyName::parse(name).expect("a valid name"),
            kind,
            required: false,
            inserted_at: OffsetDateTime::UNIX_EPOCH,
        };
        let schema = ClaimSchema {
            metakeys: vec![
                key("a b", MetaKeyType::String),
                key("n", MetaKeyType::Integer),
            ],
            ..ClaimSchema::default()
        };
        let entry = |k: &MetaKey, value| MetadataEntry {
            id: fresh(),
            key_id: k.id,
            value,
        };
        let removed = key("gone", MetaKeyType::String);
        let entries = vec![
            entry(&schema.metakeys[0], MetaValue::Text("q\"uote".into())),
            entry(&removed, MetaValue::Text("not issued".into())),
            entry(&schema.metakeys[1], MetaValue::Integer(-40)),
        ];
        let issued = schema
            .resolve(&entries, &Rbac::default())
            .expect("no required key");
        let object: serde_json::Map<String, serde_json::Value> = issued
            .metadata
            .iter()
            .map(|(n, v)| (n.clone(), serde_json::to_value(v).expect("a value")))
            .collect();
        let json = serde_json::to_string(&object).expect("serializes");
        assert_eq!(schema.metadata_json_len(&entries), json.len(), "{json}");
        assert_eq!(schema.metadata_json_len(&[]), 2);
    }

    #[test]
    fn json_lengths_match_serde() {
        for s in ["plain", "quo\"te", "back\\slash", "tab\tx", "ctl\u{1}"] {
            assert_eq!(
                json_str_len(s),
                serde_json::to_string(s).expect("serializes").len(),
                "{s:?}"
            );
        }
        for v in [
            MetaValue::Integer(-12),
            MetaValue::Boolean(false),
            MetaValue::Text("é\"".into()),
        ] {
            assert_eq!(
                v.json_len(),
                serde_json::to_string(&v).expect("serializes").len()
            );
        }
    }
}
