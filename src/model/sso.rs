//! Enterprise SSO connections (Cryptr, seed 001 "The SSO Connection type" to "User Policy
//! Configuration"): an organization signs its people in through its own identity provider.
//!
//! A connection is one record with its admin onboarding and its default redirection nested in
//! it (each belongs to exactly one connection), written under a version like every record.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::FieldProblem;
use crate::model::fields::{Email, HttpUrl, Name, RedirectUri};
use crate::model::ids::{ClientId, Environment, OrgDomain};

/// Declares a wire enum: its variants with their wire names, `as_str`, `parse` (exact wire
/// name, ASCII case-insensitive) and serde as the wire name.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $t:ident, $what:literal { $($(#[$vdoc:meta])* $v:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $t {
            $($(#[$vdoc])* $v,)+
        }

        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $wire,)+
                }
            }

            /// Parses a wire name (ASCII case-insensitively, surrounding whitespace ignored).
            ///
            /// # Errors
            /// [`FieldProblem::Format`] naming what is expected.
            pub fn parse(s: &str) -> Result<Self, FieldProblem> {
                let s = s.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or(FieldProblem::Format($what))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_enum!(
    /// The identity provider solution of a connection (the seed's list, plus Google
    /// Workspace, which its onboarding names).
    ProviderType, "must be one of azure_ad, adfs, okta, ping_federate, ping_one, auth0, one_login, google_workspace, custom_saml" {
        /// Azure Active Directory (Microsoft Entra ID).
        AzureAd = "azure_ad",
        /// Active Directory Federation Services.
        Adfs = "adfs",
        /// Okta.
        Okta = "okta",
        /// Ping Federate (Ping Identity).
        PingFederate = "ping_federate",
        /// Ping One (Ping Identity).
        PingOne = "ping_one",
        /// Auth0.
        Auth0 = "auth0",
        /// One Login.
        OneLogin = "one_login",
        /// Google Workspace.
        GoogleWorkspace = "google_workspace",
        /// Any other SAML identity provider.
        CustomSaml = "custom_saml",
    }
);

wire_enum!(
    /// Who may open a session through a connection (`user_security_type`).
    UserSecurityType, "must be one of none, user_registered, seats_limited" {
        /// Anyone the identity provider vouches for; unknown users are provisioned at their
        /// first sign-in.
        None = "none",
        /// Only users already in the organization.
        UserRegistered = "user_registered",
        /// Anyone the identity provider vouches for (provisioned as with `none`), at most
        /// `seats_limit` SSO sessions at once.
        SeatsLimited = "seats_limited",
    }
);

wire_enum!(
    /// When the profile root attributes (`name`, `nickname`, `given_name`, `family_name`,
    /// `picture`) are taken from the identity provider.
    AttributeSync, "must be one of every_sign_in, on_creation" {
        /// At every sign-in; they are not editable through idcore (the default, as the seed
        /// says).
        EverySignIn = "every_sign_in",
        /// Only when the user is created; afterwards they are editable.
        OnCreation = "on_creation",
    }
);

wire_enum!(
    /// Where an SSO administrator is in configuring a connection. The seed names only its
    /// first state; the rest follow its tutorial: the administrator opened the link, chose the
    /// provider, gave the metadata, and the connection is configured.
    OnboardingState, "must be one of not_initialized, initialized, provider_chosen, metadata_provided, completed" {
        /// Created; the administrator has not opened the link.
        NotInitialized = "not_initialized",
        /// The administrator opened the magic link.
        Initialized = "initialized",
        /// The administrator chose the provider type.
        ProviderChosen = "provider_chosen",
        /// The identity provider's metadata was given.
        MetadataProvided = "metadata_provided",
        /// The connection is configured.
        Completed = "completed",
    }
);

/// A connection's immutable identifier (`idp_id`, also its `id`): the organization's domain
/// with `_` for `-`, then `_` and 22 random base58 characters (`misapret_EFBpWGQRVBCUSagNu2Tp9S`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdpId(String);

/// The alphabet of the random part of [`IdpId`] and [`SpId`] (Bitcoin's base58).
pub(crate) const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// The length of the random part of an [`IdpId`] or [`SpId`] (128 bits and more).
pub(crate) const RANDOM_PART: usize = 22;

/// The longest identifier accepted.
const ID_MAX: usize = 128;

/// `prefix_random`: a prefix of lowercase ASCII letters, digits and `_`, then `_` and
/// [`RANDOM_PART`] base58 characters.
fn check_id(s: &str) -> Result<(), FieldProblem> {
    const FORMAT: FieldProblem =
        FieldProblem::Format("must be a prefix, `_` and 22 base58 characters");
    if s.is_empty() {
        return Err(FieldProblem::Empty);
    }
    if s.len() > ID_MAX {
        return Err(FieldProblem::TooLong { max: ID_MAX });
    }
    let (prefix, random) = s.rsplit_once('_').ok_or(FORMAT)?;
    let prefix_ok = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let random_ok = random.len() == RANDOM_PART && random.bytes().all(|b| BASE58.contains(&b));
    if prefix_ok && random_ok {
        Ok(())
    } else {
        Err(FORMAT)
    }
}

/// The prefix an identifier takes from a domain or name: lowercase ASCII letters and digits,
/// anything else `_`, runs of `_` collapsed, none at the ends; `sso` when nothing is left.
pub(crate) fn id_prefix(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= ID_MAX - RANDOM_PART - 1 {
            break;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("sso");
    }
    out
}

/// `RANDOM_PART` base58 characters from `bytes` (rejection sampling keeps them uniform).
pub(crate) fn base58_from(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(RANDOM_PART);
    for &b in bytes {
        // 58 × 4 = 232: bytes at or above it would bias the first characters.
        if b < 232 {
            out.push(char::from(BASE58[usize::from(b % 58)]));
            if out.len() == RANDOM_PART {
                return Some(out);
            }
        }
    }
    None
}

macro_rules! id_type {
    ($t:ident) => {
        impl $t {
            /// Parses a stored or presented identifier.
            ///
            /// # Errors
            /// [`FieldProblem`] when it is not of the form `prefix_<22 base58>`.
            pub fn parse(s: &str) -> Result<Self, FieldProblem> {
                let s = s.trim();
                check_id(s)?;
                Ok(Self(s.to_owned()))
            }

            /// `prefix` (see [`id_prefix`]) and a random part.
            pub(crate) fn new(prefix: &str, random: &str) -> Self {
                Self(format!("{}_{random}", id_prefix(prefix)))
            }

            /// The identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $t {
            type Error = FieldProblem;
            fn try_from(s: String) -> Result<Self, FieldProblem> {
                Self::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(id: $t) -> String {
                id.0
            }
        }
    };
}

id_type!(IdpId);

/// The service provider identifier of a connection (`sp_id`): the `__managed_by__` name's
/// prefix, `_` and 22 random base58 characters.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpId(String);

id_type!(SpId);

/// The identity provider account a user signs in as: the connection and its subject (`sub`,
/// or the SAML `NameID`). A later sign-in through that connection must present the same
/// subject: an address the identity provider gave to somebody else does not open this user.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Federation {
    /// The connection.
    pub idp_id: IdpId,
    /// The identity provider's subject.
    pub subject: String,
}

/// The profile root attributes an SSO connection takes from its identity provider.
pub const SYNCED_ATTRIBUTES: [&str; 5] =
    ["name", "nickname", "given_name", "family_name", "picture"];

/// The longest subject accepted.
pub const MAX_SUBJECT: usize = 255;

impl Federation {
    /// A link to `subject` at `idp_id`.
    ///
    /// # Errors
    /// [`FieldProblem`]: an empty subject, one longer than [`MAX_SUBJECT`] bytes, or one with
    /// control characters.
    pub fn new(idp_id: IdpId, subject: &str) -> Result<Self, FieldProblem> {
        if subject.is_empty() {
            return Err(FieldProblem::Empty);
        }
        if subject.len() > MAX_SUBJECT {
            return Err(FieldProblem::TooLong { max: MAX_SUBJECT });
        }
        if subject.chars().any(char::is_control) {
            return Err(FieldProblem::ControlCharacters);
        }
        Ok(Self {
            idp_id,
            subject: subject.to_owned(),
        })
    }
}

/// A connection's upstream OpenID Connect client: idcore is the relying party towards the
/// customer's identity provider (Okta, Azure AD, Google Workspace …).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct OidcClient {
    /// The identity provider's issuer (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: HttpUrl,
    /// The client id idcore was registered with at the identity provider.
    pub client_id: String,
    /// The client secret, sealed (AES-256-GCM under a key derived from the host's
    /// key-encryption key, bound to the environment, organization and connection), base64url;
    /// `None` for a public client (PKCE only).
    pub sealed_client_secret: Option<String>,
}

/// The onboarding of a connection's SSO administrator (`SsoAdminOnboarding`; its wire type
/// is `EnterpriseConnectionOnboarding`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SsoAdminOnboarding {
    /// Its id.
    pub id: Uuid,
    /// The administrator's e-mail address.
    pub sso_admin_email: Option<Email>,
    /// The provider the administrator chose (or that was preset).
    pub provider_type: Option<ProviderType>,
    /// Where the administrator is.
    pub state: OnboardingState,
    /// The step of the tutorial (0 at the start).
    pub tutorial_step: u32,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub inserted_at: OffsetDateTime,
    /// Last update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Where SSO users go after signing in (`Redirection`): an application of the organization
/// and one of its allowed redirect URLs.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DefaultRedirection {
    /// Its id.
    pub id: Uuid,
    /// The application (`app_id`).
    pub app_id: ClientId,
    /// One of the application's allowed redirect URLs.
    pub uri: RedirectUri,
}

/// An SSO connection of an organization.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SsoConnection {
    /// The immutable identifier (`id` and `idp_id` on the wire).
    pub idp_id: IdpId,
    /// A uuid of its own, for list cursors (never on the wire).
    pub key: Uuid,
    /// The service provider identifier.
    pub sp_id: SpId,
    /// The organization it signs people into.
    pub org: OrgDomain,
    /// The environment it lives in.
    pub environment: Environment,
    /// The `__managed_by__` value.
    pub managed_by: Name,
    /// The identity provider solution, once known.
    pub provider_type: Option<ProviderType>,
    /// Whether sign-ins through it are accepted.
    pub active: bool,
    /// The identity provider's metadata (SAML XML, or an OpenID Connect discovery URL), as
    /// given.
    pub metadata: Option<String>,
    /// The administrator's onboarding.
    pub onboarding: Option<SsoAdminOnboarding>,
    /// The default redirection.
    pub default_redirection: Option<DefaultRedirection>,
    /// At most this many SSO sessions at once under [`UserSecurityType::SeatsLimited`].
    pub seats_limit: u64,
    /// Who may open a session.
    pub user_security_type: UserSecurityType,
    /// When profile root attributes come from the identity provider.
    pub attribute_sync: AttributeSync,
    /// The upstream OpenID Connect client, when the connection signs in through OpenID
    /// Connect with idcore as the relying party.
    #[serde(default)]
    pub oidc: Option<OidcClient>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub inserted_at: OffsetDateTime,
    /// Last update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Starts at 1, +1 per write.
    pub version: u64,
}

/// The longest metadata accepted (a SAML metadata document with several certificates).
pub const MAX_SSO_METADATA: usize = 256 * 1024;

/// Checks identity provider metadata: not empty, at most [`MAX_SSO_METADATA`] bytes, no NUL.
///
/// # Errors
/// [`FieldProblem`] saying what is wrong.
pub fn check_metadata(s: &str) -> Result<String, FieldProblem> {
    let t = s.trim();
    if t.is_empty() {
        return Err(FieldProblem::Empty);
    }
    if t.len() > MAX_SSO_METADATA {
        return Err(FieldProblem::TooLong {
            max: MAX_SSO_METADATA,
        });
    }
    if t.contains('\0') {
        return Err(FieldProblem::ControlCharacters);
    }
    Ok(t.to_owned())
}

impl crate::page::Keyed for SsoConnection {
    fn cursor(&self) -> crate::page::Cursor {
        crate::page::Cursor::after_item(
            crate::page::ListKind::SsoConnections,
            self.inserted_at,
            self.key,
        )
    }
}

/// Seconds-precision timestamps as the seed writes them (`2022-03-04T17:55:12`).
fn seed_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl SsoConnection {
    /// The seed's JSON shape. `onboarding` and `default_redirection` are expanded when
    /// `expand` (creation, `preload_associations`), otherwise their ids (or `null`);
    /// `metadata` is the given metadata, or `[]` when there is none, as the seed shows.
    pub fn wire(&self, expand: bool) -> serde_json::Value {
        use serde_json::{Value, json};
        let onboarding = match &self.onboarding {
            Some(o) if expand => o.wire(self),
            Some(o) => Value::String(o.id.to_string()),
            None => Value::Null,
        };
        let redirection = match &self.default_redirection {
            Some(r) if expand => r.wire(self),
            Some(r) => Value::String(r.id.to_string()),
            None => Value::Null,
        };
        json!({
            "__access__": format!("limited_to:{}", self.org),
            "__domain__": self.org,
            "__managed_by__": self.managed_by,
            "__type__": "SsoConnection",
            "active": self.active,
            "default_redirection": redirection,
            "id": self.idp_id,
            "idp_id": self.idp_id,
            "inserted_at": seed_time(self.inserted_at),
            "metadata": self.metadata.as_deref().map_or_else(|| json!([]), |m| json!(m)),
            "onboarding": onboarding,
            "provider_type": self.provider_type,
            "seats_limit": self.seats_limit,
            "sp_id": self.sp_id,
            "updated_at": seed_time(self.updated_at),
            "user_security_type": self.user_security_type,
            "attribute_sync": self.attribute_sync,
        })
    }
}

impl SsoAdminOnboarding {
    /// The seed's JSON shape (`EnterpriseConnectionOnboarding`).
    pub fn wire(&self, connection: &SsoConnection) -> serde_json::Value {
        serde_json::json!({
            "__access__": format!("all_organizations_of:{}", connection.managed_by),
            "__domain__": connection.org,
            "__managed_by__": connection.managed_by,
            "__type__": "EnterpriseConnectionOnboarding",
            "id": self.id,
            "inserted_at": seed_time(self.inserted_at),
            "provider_type": self.provider_type,
            "sso_admin_email": self.sso_admin_email,
            "state": self.state,
            "tutorial_step": self.tutorial_step,
            "updated_at": seed_time(self.updated_at),
        })
    }
}

impl DefaultRedirection {
    /// The seed's JSON shape (`Redirection`).
    pub fn wire(&self, connection: &SsoConnection) -> serde_json::Value {
        serde_json::json!({
            "__access__": format!("all_organizations_of:{}", connection.managed_by),
            "__domain__": connection.org,
            "__managed_by__": connection.managed_by,
            "__type__": "Redirection",
            "app_id": self.app_id,
            "id": self.id,
            "idp_id": connection.idp_id,
            "sp_id": connection.sp_id,
            "uri": self.uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_enums_parse_their_names_in_any_case_and_nothing_else() {
        for p in ProviderType::ALL {
            assert_eq!(ProviderType::parse(p.as_str()), Ok(*p));
            assert_eq!(ProviderType::parse(&p.as_str().to_uppercase()), Ok(*p));
        }
        assert_eq!(ProviderType::parse("azure_ad"), Ok(ProviderType::AzureAd));
        assert!(ProviderType::parse("azure ad").is_err());
        assert!(ProviderType::parse("").is_err());
        assert_eq!(
            UserSecurityType::parse(" user_registered "),
            Ok(UserSecurityType::UserRegistered)
        );
        assert!(UserSecurityType::parse("seats").is_err());
        assert_eq!(
            serde_json::to_string(&OnboardingState::NotInitialized).unwrap(),
            "\"not_initialized\""
        );
        assert!(serde_json::from_str::<AttributeSync>("\"sometimes\"").is_err());
    }

    #[test]
    fn identifiers_are_a_prefix_and_22_base58_characters() {
        let random = base58_from(&[0u8; 32]).unwrap();
        assert_eq!(random, "1".repeat(22));
        let id = IdpId::new("Follow-the-Market", &random);
        assert_eq!(id.as_str(), format!("follow_the_market_{random}"));
        assert_eq!(IdpId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id_prefix("--Été 2026!--"), "t_2026");
        assert_eq!(id_prefix("éé"), "sso");
        assert!(IdpId::parse("misapret_EFBpWGQRVBCUSagNu2Tp9S").is_ok());
        for bad in [
            "",
            "misapret",
            "_EFBpWGQRVBCUSagNu2Tp9S",
            "misapret_EFBpWGQRVBCUSagNu2Tp9",
            "misapret_EFBpWGQRVBCUSagNu2Tp90",
            "Misapret_EFBpWGQRVBCUSagNu2Tp9S",
            "mis-apret_EFBpWGQRVBCUSagNu2Tp9S",
        ] {
            assert!(IdpId::parse(bad).is_err(), "{bad}");
        }
        // Bytes at or above 232 are skipped, so every character is equally likely.
        assert_eq!(base58_from(&[232; 64]), None);
        let mixed: Vec<u8> = (0..=255).collect();
        assert_eq!(base58_from(&mixed).unwrap().len(), 22);
    }

    #[test]
    fn metadata_is_checked() {
        assert_eq!(check_metadata("  <xml/> "), Ok("<xml/>".to_owned()));
        assert_eq!(check_metadata(" "), Err(FieldProblem::Empty));
        assert!(check_metadata("a\0b").is_err());
        assert!(check_metadata(&"x".repeat(MAX_SSO_METADATA + 1)).is_err());
    }
}
