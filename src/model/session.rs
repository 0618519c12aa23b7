//! Crowd-style SSO sessions (seed 002): the validation factors a session is bound to, the rules
//! that say when presented factors match the bound ones, and the seed's JSON shapes.
//!
//! A session is created with a list of validation factors (`remote_address`, `X-Forwarded-For`,
//! a user agent, any name the host chooses) and every later get or validate presents factors
//! again: they must match under the application's [`FactorPolicy`]. By default every factor
//! bound at creation must be presented with the same value, except `remote_address`, which
//! matches exactly for IPv4 and by its /64 prefix for IPv6 (a device keeps its /64 while its
//! interface identifier rotates, RFC 8981). Presented factors that were not bound are ignored.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{ConfigError, Error, FieldProblem};
use crate::secret::Digest;

/// The longest factor name, in characters.
pub const FACTOR_NAME_MAX: usize = 64;
/// The longest factor value, in characters (an `X-Forwarded-For` chain, a user agent).
pub const FACTOR_VALUE_MAX: usize = 1024;
/// The most factors one session may be bound to.
pub const FACTORS_MAX: usize = 32;
/// The name of the client-address factor.
pub const REMOTE_ADDRESS: &str = "remote_address";

/// One validation factor as the seed writes it: `{"name": …, "value": …}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ValidationFactor {
    /// The factor's name (`remote_address`, `X-Forwarded-For`, `User-Agent` …).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A checked set of validation factors: names unique (case-sensitive, as the seed's), at most
/// [`FACTORS_MAX`], names and values bounded and free of control characters, kept sorted by
/// name so that two lists with the same factors compare and digest equal.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ValidationFactors(BTreeMap<String, String>);

impl ValidationFactors {
    /// Checks a list of factors.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `validation-factors` for too many factors, a repeated
    /// name, an empty or too long name or value, or control characters.
    pub fn parse(factors: Vec<ValidationFactor>) -> Result<Self, Error> {
        const FIELD: &str = "validation-factors";
        if factors.len() > FACTORS_MAX {
            return Err(Error::field(
                FIELD,
                FieldProblem::Format("at most 32 validation factors"),
            ));
        }
        let mut map = BTreeMap::new();
        for ValidationFactor { name, value } in factors {
            check_text(&name, FACTOR_NAME_MAX).map_err(|p| Error::field(FIELD, p))?;
            if value.chars().count() > FACTOR_VALUE_MAX {
                return Err(Error::field(
                    FIELD,
                    FieldProblem::TooLong {
                        max: FACTOR_VALUE_MAX,
                    },
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(Error::field(FIELD, FieldProblem::ControlCharacters));
            }
            if map.insert(name, value).is_some() {
                return Err(Error::field(
                    FIELD,
                    FieldProblem::Format("a validation factor name is repeated"),
                ));
            }
        }
        Ok(Self(map))
    }

    /// Factors as a store holds them (checked when the session was opened); a repeated name
    /// keeps its last value.
    pub fn from_stored(factors: &[ValidationFactor]) -> Self {
        Self(
            factors
                .iter()
                .map(|f| (f.name.clone(), f.value.clone()))
                .collect(),
        )
    }

    /// As [`from_stored`](Self::from_stored), taking the list.
    pub fn from_stored_list(factors: Vec<ValidationFactor>) -> Self {
        Self(factors.into_iter().map(|f| (f.name, f.value)).collect())
    }

    /// The value of one factor.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The factors, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many factors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The factors in the seed's list shape.
    pub fn to_list(&self) -> Vec<ValidationFactor> {
        self.iter()
            .map(|(name, value)| ValidationFactor {
                name: name.to_owned(),
                value: value.to_owned(),
            })
            .collect()
    }
}

fn check_text(s: &str, max: usize) -> Result<(), FieldProblem> {
    if s.is_empty() {
        return Err(FieldProblem::Empty);
    }
    if s.chars().count() > max {
        return Err(FieldProblem::TooLong { max });
    }
    if s.chars().any(char::is_control) {
        return Err(FieldProblem::ControlCharacters);
    }
    Ok(())
}

/// How one factor's presented value is compared with the bound one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FactorMatch {
    /// Byte for byte.
    Exact,
    /// Both are IP addresses of the same family sharing the first `v4` (IPv4) or `v6` (IPv6)
    /// bits. A value that is not an IP address never matches.
    IpPrefix {
        /// Prefix length for IPv4, 0–32.
        v4: u8,
        /// Prefix length for IPv6, 0–128.
        v6: u8,
    },
}

impl FactorMatch {
    /// `remote_address`'s default: IPv4 exactly, IPv6 by /64.
    pub const ADDRESS: Self = Self::IpPrefix { v4: 32, v6: 64 };

    /// Whether two values match under this rule, without allocating.
    fn same(self, bound: &str, given: &str) -> bool {
        match self {
            Self::Exact => bound == given,
            Self::IpPrefix { v4, v6 } => match (prefix_of(bound, v4, v6), prefix_of(given, v4, v6))
            {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }

    /// The value under this rule: what two matching values have in common (the address
    /// masked to its prefix, or the value itself), or `None` if it cannot match anything.
    fn normalize(self, value: &str) -> Option<String> {
        match self {
            Self::Exact => Some(value.to_owned()),
            Self::IpPrefix { v4, v6 } => {
                let ip: IpAddr = value.trim().parse().ok()?;
                Some(match ip {
                    IpAddr::V4(a) => {
                        let bits = u32::from(a) & mask32(v4);
                        format!("{}/{}", std::net::Ipv4Addr::from(bits), v4.min(32))
                    }
                    IpAddr::V6(a) => match a.to_ipv4_mapped() {
                        // An IPv4 address written as ::ffff:a.b.c.d is that IPv4 address.
                        Some(a4) => {
                            let bits = u32::from(a4) & mask32(v4);
                            format!("{}/{}", std::net::Ipv4Addr::from(bits), v4.min(32))
                        }
                        None => {
                            let bits = u128::from(a) & mask128(v6);
                            format!("{}/{}", std::net::Ipv6Addr::from(bits), v6.min(128))
                        }
                    },
                })
            }
        }
    }
}

/// An address masked to its family's prefix (an IPv4-mapped IPv6 address is its IPv4
/// address), or `None` for a value that is no IP address.
fn prefix_of(value: &str, v4: u8, v6: u8) -> Option<(bool, u128)> {
    let ip: IpAddr = value.trim().parse().ok()?;
    let v4_of = |a: std::net::Ipv4Addr| (false, u128::from(u32::from(a) & mask32(v4)));
    Some(match ip {
        IpAddr::V4(a) => v4_of(a),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(a4) => v4_of(a4),
            None => (true, u128::from(a) & mask128(v6)),
        },
    })
}

fn mask32(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

fn mask128(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

/// Which bound factors must be presented again, and how each is compared. Set per application.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FactorPolicy {
    /// `None`: every factor bound at creation must match (the default). `Some(names)`: only
    /// these must (a bound factor not listed is not checked).
    pub required: Option<Vec<String>>,
    /// The rule for each named factor; a factor not listed matches [`FactorMatch::Exact`].
    /// Defaults to `remote_address` → [`FactorMatch::ADDRESS`].
    pub rules: BTreeMap<String, FactorMatch>,
}

impl Default for FactorPolicy {
    fn default() -> Self {
        Self {
            required: None,
            rules: BTreeMap::from([(REMOTE_ADDRESS.to_owned(), FactorMatch::ADDRESS)]),
        }
    }
}

/// Why presented factors do not match: for the audit log only (the caller answers one error).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FactorMismatch {
    /// A factor that must match was not presented.
    Missing(String),
    /// A factor was presented with another value.
    Different(String),
}

impl FactorPolicy {
    /// Checks the policy: prefix lengths within their family (IPv4 0–32, IPv6 0–128) and
    /// required names valid factor names.
    ///
    /// # Errors
    /// [`ConfigError::Inconsistent`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        for rule in self.rules.values() {
            if let FactorMatch::IpPrefix { v4, v6 } = *rule
                && (v4 > 32 || v6 > 128)
            {
                return Err(ConfigError::Inconsistent(
                    "a factor's IP prefix must be 0 to 32 bits (IPv4) and 0 to 128 bits (IPv6)",
                ));
            }
        }
        let names = self.rules.keys().chain(self.required.iter().flatten());
        for name in names {
            if check_text(name, FACTOR_NAME_MAX).is_err() {
                return Err(ConfigError::Inconsistent(
                    "a factor name must be 1 to 64 characters without control characters",
                ));
            }
        }
        Ok(())
    }

    fn rule(&self, name: &str) -> FactorMatch {
        self.rules.get(name).copied().unwrap_or(FactorMatch::Exact)
    }

    fn checked<'a>(
        &'a self,
        bound: &'a ValidationFactors,
    ) -> impl Iterator<Item = (&'a str, &'a str)> {
        bound.iter().filter(move |(name, _)| self.is_required(name))
    }

    /// Whether `presented` matches the factors a session was bound to.
    ///
    /// # Errors
    /// The first factor (by name) that is missing or different.
    pub fn check(
        &self,
        bound: &ValidationFactors,
        presented: &ValidationFactors,
    ) -> Result<(), FactorMismatch> {
        self.check_each(bound.iter(), presented)
    }

    /// As [`check`](Self::check), with the bound factors as a store holds them (sorted by
    /// name, names unique). Allocates nothing unless a factor does not match.
    ///
    /// # Errors
    /// The first factor (by name) that is missing or different.
    pub fn check_stored(
        &self,
        bound: &[ValidationFactor],
        presented: &ValidationFactors,
    ) -> Result<(), FactorMismatch> {
        self.check_each(
            bound.iter().map(|f| (f.name.as_str(), f.value.as_str())),
            presented,
        )
    }

    fn check_each<'b>(
        &self,
        bound: impl Iterator<Item = (&'b str, &'b str)>,
        presented: &ValidationFactors,
    ) -> Result<(), FactorMismatch> {
        for (name, value) in bound {
            if !self.is_required(name) {
                continue;
            }
            let Some(given) = presented.get(name) else {
                return Err(FactorMismatch::Missing(name.to_owned()));
            };
            if !self.rule(name).same(value, given) {
                return Err(FactorMismatch::Different(name.to_owned()));
            }
        }
        Ok(())
    }

    fn is_required(&self, name: &str) -> bool {
        self.required
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
    }

    /// A digest of the factors as this policy compares them: two factor sets with the same
    /// fingerprint match each other, so an ongoing session of the same user with the same
    /// fingerprint is the one a new authentication reuses (seed).
    pub fn fingerprint(&self, factors: &ValidationFactors) -> Digest {
        let mut bytes = Vec::new();
        for (name, value) in self.checked(factors) {
            let normalized = self
                .rule(name)
                .normalize(value)
                .unwrap_or_else(|| format!("\u{0}unmatchable\u{0}{value}"));
            for part in [name, normalized.as_str()] {
                bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
                bytes.extend_from_slice(part.as_bytes());
            }
        }
        Digest::of(&bytes)
    }
}

/// The seed's `validation-factors` object: `{"validation-factor": [{"name", "value"} …]}`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct FactorsWire {
    /// The factors.
    #[serde(rename = "validation-factor", default)]
    pub validation_factor: Vec<ValidationFactor>,
}

/// The seed's authentication request body: `userName`, `password`, `validation-factors`.
#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
pub struct AuthenticationWire {
    /// The user name (a username or an e-mail address).
    #[serde(rename = "userName")]
    pub user_name: String,
    /// The password; absent with `validate-password=false`.
    #[serde(default)]
    pub password: Option<String>,
    /// The factors to bind the session to.
    #[serde(rename = "validation-factors", default)]
    pub validation_factors: FactorsWire,
}

/// The seed's `link` object.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Link {
    /// The URL.
    pub href: String,
    /// The relation (`self`).
    pub rel: String,
}

/// The user of a session answer, with the fields the seed shows (null where idcore has none).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct SessionUserWire {
    /// Always null.
    pub link: Option<Link>,
    /// The user's name: its preferred username, or else its e-mail address.
    pub name: String,
    /// The given name.
    #[serde(rename = "firstName")]
    pub first_name: Option<String>,
    /// The family name.
    #[serde(rename = "lastName")]
    pub last_name: Option<String>,
    /// The display name.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// Always null.
    #[serde(rename = "directoryId")]
    pub directory_id: Option<u64>,
    /// Always null: never a password.
    pub password: Option<()>,
    /// Always null.
    #[serde(rename = "encryptedPassword")]
    pub encrypted_password: Option<()>,
    /// The user's id.
    pub key: Option<String>,
    /// When the user was created, epoch milliseconds.
    #[serde(rename = "createdDate")]
    pub created_date: Option<i64>,
    /// When the user was last updated, epoch milliseconds.
    #[serde(rename = "updatedDate")]
    pub updated_date: Option<i64>,
    /// The organization domain.
    #[serde(rename = "directoryName")]
    pub directory_name: Option<String>,
    /// Whether the user may sign in.
    pub active: Option<bool>,
    /// Always null.
    pub attributes: Option<()>,
    /// `true`: the user is expanded.
    pub expanded: bool,
    /// The e-mail address.
    pub email: Option<String>,
}

/// A session as the seed answers it: `token`, `user`, `link`, `createdDate`, `expiryDate`
/// (epoch milliseconds), `unaliasedUsername`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct SessionWire {
    /// The session token.
    pub token: String,
    /// The user, expanded.
    pub user: SessionUserWire,
    /// `{"href": <the session's URL>, "rel": "self"}`.
    pub link: Link,
    /// When the session was created, epoch milliseconds.
    #[serde(rename = "createdDate")]
    pub created_date: i64,
    /// When it expires if not validated again, epoch milliseconds.
    #[serde(rename = "expiryDate")]
    pub expiry_date: i64,
    /// Always null.
    #[serde(rename = "unaliasedUsername")]
    pub unaliased_username: Option<String>,
}

/// An instant as the seed writes it: milliseconds since the Unix epoch.
pub fn epoch_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors(list: &[(&str, &str)]) -> ValidationFactors {
        ValidationFactors::parse(
            list.iter()
                .map(|(n, v)| ValidationFactor {
                    name: (*n).to_owned(),
                    value: (*v).to_owned(),
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn factors_parse_the_seed_body() {
        let body = r#"{ "userName": "my_username", "password": "my_password",
            "validation-factors": { "validation-factor": [
                { "name": "remote_address", "value": "127.0.0.1" } ] } }"#;
        let wire: AuthenticationWire = serde_json::from_str(body).unwrap();
        assert_eq!(wire.user_name, "my_username");
        assert_eq!(wire.password.as_deref(), Some("my_password"));
        let parsed = ValidationFactors::parse(wire.validation_factors.validation_factor).unwrap();
        assert_eq!(parsed.get(REMOTE_ADDRESS), Some("127.0.0.1"));
        let validate: FactorsWire = serde_json::from_str(
            r#"{"validation-factor":[{"name":"remote_address","value":"::1"}]}"#,
        )
        .unwrap();
        assert_eq!(validate.validation_factor.len(), 1);
    }

    #[test]
    fn factors_refuse_repeats_and_bad_text() {
        let bad = |n: &str, v: &str, times: usize| {
            let list = (0..times)
                .map(|_| ValidationFactor {
                    name: n.to_owned(),
                    value: v.to_owned(),
                })
                .collect();
            match ValidationFactors::parse(list) {
                Err(Error::InvalidField {
                    field: "validation-factors",
                    problem,
                }) => problem,
                other => panic!("{n:?}={v:?} x{times}: {other:?}"),
            }
        };
        assert_eq!(
            bad("remote_address", "1.2.3.4", 2),
            FieldProblem::Format("a validation factor name is repeated")
        );
        assert_eq!(bad("", "x", 1), FieldProblem::Empty);
        assert_eq!(bad("ua", "a\nb", 1), FieldProblem::ControlCharacters);
        assert_eq!(
            bad(&"n".repeat(65), "x", 1),
            FieldProblem::TooLong { max: 64 }
        );
        assert_eq!(
            bad("ua", &"v".repeat(1025), 1),
            FieldProblem::TooLong { max: 1024 }
        );
        let many: Vec<ValidationFactor> = (0..33)
            .map(|i| ValidationFactor {
                name: format!("f{i}"),
                value: "v".into(),
            })
            .collect();
        assert!(matches!(
            ValidationFactors::parse(many),
            Err(Error::InvalidField {
                field: "validation-factors",
                problem: FieldProblem::Format("at most 32 validation factors")
            })
        ));
        assert_eq!(
            factors(&[("b", "2"), ("a", "1")]),
            factors(&[("a", "1"), ("b", "2")])
        );
    }

    #[test]
    fn remote_address_matches_ipv4_exactly_and_ipv6_by_slash_64() {
        let policy = FactorPolicy::default();
        let bound = factors(&[(REMOTE_ADDRESS, "203.0.113.7")]);
        assert_eq!(
            policy.check(&bound, &factors(&[(REMOTE_ADDRESS, "203.0.113.7")])),
            Ok(())
        );
        assert_eq!(
            policy.check(&bound, &factors(&[(REMOTE_ADDRESS, "203.0.113.8")])),
            Err(FactorMismatch::Different(REMOTE_ADDRESS.into()))
        );
        assert_eq!(
            policy.check(&bound, &factors(&[(REMOTE_ADDRESS, "::ffff:203.0.113.7")])),
            Ok(()),
            "an IPv4-mapped IPv6 address is that IPv4 address"
        );
        let bound6 = factors(&[(REMOTE_ADDRESS, "2001:db8:1:2:aaaa::1")]);
        assert_eq!(
            policy.check(
                &bound6,
                &factors(&[(REMOTE_ADDRESS, "2001:db8:1:2:ffff::9")])
            ),
            Ok(()),
            "same /64"
        );
        assert_eq!(
            policy.check(&bound6, &factors(&[(REMOTE_ADDRESS, "2001:db8:1:3::1")])),
            Err(FactorMismatch::Different(REMOTE_ADDRESS.into())),
            "another /64"
        );
        assert_eq!(
            policy.check(&bound, &factors(&[(REMOTE_ADDRESS, "not an address")])),
            Err(FactorMismatch::Different(REMOTE_ADDRESS.into()))
        );
    }

    #[test]
    fn every_bound_factor_must_be_presented_unless_the_policy_names_fewer() {
        let bound = factors(&[(REMOTE_ADDRESS, "10.0.0.1"), ("User-Agent", "curl/8")]);
        let presented = factors(&[(REMOTE_ADDRESS, "10.0.0.1"), ("extra", "ignored")]);
        let strict = FactorPolicy::default();
        assert_eq!(
            strict.check(&bound, &presented),
            Err(FactorMismatch::Missing("User-Agent".into()))
        );
        let address_only = FactorPolicy {
            required: Some(vec![REMOTE_ADDRESS.into()]),
            ..FactorPolicy::default()
        };
        assert_eq!(address_only.check(&bound, &presented), Ok(()));
        let exact = FactorPolicy {
            rules: BTreeMap::new(),
            ..FactorPolicy::default()
        };
        let bound6 = factors(&[(REMOTE_ADDRESS, "2001:db8::1")]);
        assert_eq!(
            exact.check(&bound6, &factors(&[(REMOTE_ADDRESS, "2001:db8::2")])),
            Err(FactorMismatch::Different(REMOTE_ADDRESS.into())),
            "configured exact matching"
        );
    }

    #[test]
    fn fingerprints_agree_exactly_when_factors_match() {
        let policy = FactorPolicy::default();
        let a = factors(&[(REMOTE_ADDRESS, "2001:db8:0:1::5"), ("ua", "x")]);
        let b = factors(&[("ua", "x"), (REMOTE_ADDRESS, "2001:db8:0:1::77")]);
        let c = factors(&[(REMOTE_ADDRESS, "2001:db8:0:2::5"), ("ua", "x")]);
        assert_eq!(policy.fingerprint(&a), policy.fingerprint(&b));
        assert_ne!(policy.fingerprint(&a), policy.fingerprint(&c));
        assert_ne!(
            policy.fingerprint(&factors(&[("a", "bc")])),
            policy.fingerprint(&factors(&[("ab", "c")])),
            "names and values are length-prefixed"
        );
    }

    #[test]
    fn a_session_serializes_as_the_seed_shows() {
        let wire = SessionWire {
            token: "abc123".into(),
            user: SessionUserWire {
                link: None,
                name: "sampleuser".into(),
                first_name: None,
                last_name: None,
                display_name: None,
                directory_id: None,
                password: None,
                encrypted_password: None,
                key: None,
                created_date: None,
                updated_date: None,
                directory_name: None,
                active: None,
                attributes: None,
                expanded: true,
                email: None,
            },
            link: Link {
                href: "https://crowdserver/crowd/session/abcc123".into(),
                rel: "self".into(),
            },
            created_date: epoch_millis(OffsetDateTime::from_unix_timestamp(1_464_453_000).unwrap()),
            expiry_date: 1_464_456_600_000,
            unaliased_username: None,
        };
        let seed = r#"{ "token": "abc123", "user": { "link": null, "name": "sampleuser",
            "firstName": null, "lastName": null, "displayName": null, "directoryId": null,
            "password": null, "encryptedPassword": null, "key": null, "createdDate": null,
            "updatedDate": null, "directoryName": null, "active": null, "attributes": null,
            "expanded": true, "email": null }, "link": { "href":
            "https://crowdserver/crowd/session/abcc123", "rel": "self" },
            "createdDate": 1464453000000, "expiryDate": 1464456600000,
            "unaliasedUsername": null }"#;
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            serde_json::from_str::<serde_json::Value>(seed).unwrap()
        );
    }
}
