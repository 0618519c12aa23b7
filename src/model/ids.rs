//! Identifiers: uuid newtypes and the organization domain slug.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::{ContextV7, Timestamp, Uuid};

use crate::error::FieldProblem;

/// One process-wide v7 context: ids minted in the same millisecond still increase, so "newest
/// first" ties on `inserted_at` break by id in creation order.
static V7: Mutex<ContextV7> = Mutex::new(ContextV7::new());

/// A new v7 uuid stamped with `now` (the injected clock's time, never the wall clock).
pub(crate) fn new_v7(now: OffsetDateTime) -> Uuid {
    let nanos = now.unix_timestamp_nanos().max(0);
    let seconds = u64::try_from(nanos / 1_000_000_000).unwrap_or(0);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(&V7, seconds, subsec))
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $t:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $t(Uuid);

        impl $t {
            /// Wraps a uuid (as a store adapter reads it back).
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The uuid.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses a uuid in its hyphenated, simple, urn or braced form.
            ///
            /// # Errors
            /// [`FieldProblem::Format`] when it is not a uuid.
            pub fn parse(s: &str) -> Result<Self, FieldProblem> {
                Uuid::try_parse(s.trim())
                    .map(Self)
                    .map_err(|_| FieldProblem::Format("must be a uuid"))
            }

            pub(crate) fn generate(now: OffsetDateTime) -> Self {
                Self(new_v7(now))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.0.hyphenated())
            }
        }

        impl FromStr for $t {
            type Err = FieldProblem;
            fn from_str(s: &str) -> Result<Self, FieldProblem> {
                Self::parse(s)
            }
        }
    };
}

uuid_id!(
    /// The immutable id of an organization.
    OrganizationId
);
uuid_id!(
    /// The immutable id of a user (uuid v7).
    UserId
);
uuid_id!(
    /// The `client_id` of an application.
    ClientId
);
uuid_id!(
    /// The immutable id of a metakey (a re-created key of the same name gets a new one).
    MetaKeyId
);

/// Maximum length of an organization domain.
pub const DOMAIN_MAX: usize = 63;

/// An organization's immutable domain: a slug of lowercase ASCII letters, digits and single
/// dashes, 1 to [`DOMAIN_MAX`] characters, not starting or ending with a dash (`misapret`,
/// `awesome-company`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OrgDomain(String);

impl OrgDomain {
    /// Parses a domain exactly (no slugification: `Misapret` is refused, `misapret` accepted).
    ///
    /// # Errors
    /// [`FieldProblem`] when it is empty, too long or not a slug.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        if s.is_empty() {
            return Err(FieldProblem::Empty);
        }
        if s.len() > DOMAIN_MAX {
            return Err(FieldProblem::TooLong { max: DOMAIN_MAX });
        }
        let chars_ok = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !chars_ok || s.starts_with('-') || s.ends_with('-') || s.contains("--") {
            return Err(FieldProblem::Format(
                "must be lowercase letters, digits and single dashes, like awesome-company",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The slug of `name` (transliterated to ASCII by the `slug` crate), cut to
    /// [`DOMAIN_MAX`]. `None` when nothing sluggable remains (a name of only punctuation, say).
    pub(crate) fn slugify(name: &str) -> Option<Self> {
        Self::parse(cut(&slug::slugify(name), DOMAIN_MAX)).ok()
    }

    /// This domain with `-suffix` appended (`misapret-2`), the base cut so the whole fits in
    /// [`DOMAIN_MAX`]. `suffix` is ASCII lowercase letters and digits.
    pub(crate) fn with_suffix(&self, suffix: &str) -> Self {
        let base = cut(&self.0, DOMAIN_MAX.saturating_sub(suffix.len() + 1));
        Self(format!("{base}-{suffix}"))
    }

    /// The domain as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrgDomain {
    type Err = FieldProblem;
    fn from_str(s: &str) -> Result<Self, FieldProblem> {
        Self::parse(s)
    }
}

impl Serialize for OrgDomain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrgDomain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `s` cut to at most `max` bytes (slugs are ASCII), without a trailing dash.
fn cut(s: &str, max: usize) -> &str {
    let end = s.len().min(max);
    s.get(..end).unwrap_or(s).trim_end_matches('-')
}

/// The two fully separate environments of one deployment (the seed's `dbs` / `__environment__`).
///
/// One store may hold both; every store call names its environment and no call ever reads or
/// writes the other's data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Development and pre-production.
    Sandbox,
    /// Production.
    Production,
}

impl Environment {
    /// The wire name: `sandbox` or `production`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }

    /// Parses a wire name.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for anything but `sandbox` or `production`.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        match s {
            "sandbox" => Ok(Self::Sandbox),
            "production" => Ok(Self::Production),
            _ => Err(FieldProblem::Format("must be sandbox or production")),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
