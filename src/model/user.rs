//! Users of an organization, with their OpenID Connect profile.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::fields::{
    Birthdate, Email, Gender, HexColor, HttpUrl, Locale, Name, PhoneNumber, Text, ZoneInfo,
};
use super::ids::{Environment, OrgDomain, UserId};
use crate::error::Error;
use crate::page::ListKind;

/// A user, as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct User {
    /// Immutable uuid v7.
    pub id: UserId,
    /// The organization it belongs to (`__domain__`).
    pub org: OrgDomain,
    /// The environment it lives in.
    pub environment: Environment,
    /// The `__managed_by__` value.
    pub managed_by: Name,
    /// The OpenID Connect profile.
    pub profile: Profile,
    /// Its values of the organization's metakeys (see [`crate::claims`]).
    pub metadata: Vec<MetadataEntry>,
    /// Its RBAC attributes: roles, actions, attributes, groups (see [`crate::claims`]).
    pub rbac: Rbac,
    /// The SSO connection and identity provider subject it signs in as, once it signed in
    /// through one (see [`crate::sso`]).
    pub federation: Option<Federation>,
    /// `false` once the user is disabled ([`Users::disable`](crate::directory::Users::disable)): sign-in, code exchange, refresh
    /// and user info refuse a disabled user. New users are active.
    pub active: bool,
    /// A random `#rrggbb` color chosen at creation.
    pub avatar_hexa_color: HexColor,
    /// Creation time.
    pub inserted_at: OffsetDateTime,
    /// Last update time.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version, +1 per update.
    pub version: u64,
}

pub use crate::model::claims::{MetadataEntry, Rbac};
pub use crate::model::sso::Federation;

/// The OpenID Connect standard claims of a user (OIDC Core §5.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Profile {
    /// Required, unique per organization (case-insensitively).
    pub email: Email,
    /// Whether the address was verified.
    pub email_verified: bool,
    /// Full name.
    pub name: Option<Name>,
    /// Given (first) name.
    pub given_name: Option<Name>,
    /// Family (last) name.
    pub family_name: Option<Name>,
    /// Middle name.
    pub middle_name: Option<Name>,
    /// Casual name.
    pub nickname: Option<Name>,
    /// Shorthand name the user prefers.
    pub preferred_username: Option<Name>,
    /// Profile page URL.
    pub profile: Option<HttpUrl>,
    /// Picture URL.
    pub picture: Option<HttpUrl>,
    /// Web site URL.
    pub website: Option<HttpUrl>,
    /// Gender.
    pub gender: Option<Gender>,
    /// Birth date.
    pub birthdate: Option<Birthdate>,
    /// Time zone.
    pub zoneinfo: Option<ZoneInfo>,
    /// Locale.
    pub locale: Option<Locale>,
    /// E.164 phone number.
    pub phone_number: Option<PhoneNumber>,
    /// Whether the phone number was verified.
    pub phone_number_verified: bool,
    /// Postal address.
    pub address: Option<Address>,
}

impl Profile {
    pub(crate) fn new(email: Email) -> Self {
        Self {
            email,
            email_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            middle_name: None,
            nickname: None,
            preferred_username: None,
            profile: None,
            picture: None,
            website: None,
            gender: None,
            birthdate: None,
            zoneinfo: None,
            locale: None,
            phone_number: None,
            phone_number_verified: false,
            address: None,
        }
    }
}

/// A postal address (OIDC Core §5.1.1).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(tag = "__type__", rename = "Address")]
pub struct Address {
    /// The full mailing address; may span lines.
    pub formatted: Option<Text>,
    /// Street, house number …; may span lines.
    pub street_address: Option<Text>,
    /// City.
    pub locality: Option<Name>,
    /// State, province or region.
    pub region: Option<Name>,
    /// Postal code.
    pub postal_code: Option<Name>,
    /// Country.
    pub country: Option<Name>,
}

macro_rules! address_setters {
    ($($field:ident : $ty:ident = $wire:literal),* $(,)?) => {
        impl Address {
            /// An empty address.
            pub fn new() -> Self {
                Self::default()
            }
            $(
                #[doc = concat!("Sets `", $wire, "`.\n\n# Errors\n[`Error::InvalidField`] naming `", $wire, "`.")]
                pub fn $field(mut self, value: &str) -> Result<Self, Error> {
                    self.$field = Some($ty::parse(value).map_err(|p| Error::field($wire, p))?);
                    Ok(self)
                }
            )*
        }
    };
}

address_setters!(
    formatted: Text = "profile.address.formatted",
    street_address: Text = "profile.address.street_address",
    locality: Name = "profile.address.locality",
    region: Name = "profile.address.region",
    postal_code: Name = "profile.address.postal_code",
    country: Name = "profile.address.country",
);

/// The profile fields [`ProfileChanges::clear`] can empty.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ProfileField {
    /// `name`
    Name,
    /// `given_name`
    GivenName,
    /// `family_name`
    FamilyName,
    /// `middle_name`
    MiddleName,
    /// `nickname`
    Nickname,
    /// `preferred_username`
    PreferredUsername,
    /// `profile`
    Profile,
    /// `picture`
    Picture,
    /// `website`
    Website,
    /// `gender`
    Gender,
    /// `birthdate`
    Birthdate,
    /// `zoneinfo`
    Zoneinfo,
    /// `locale`
    Locale,
    /// `phone_number` (also clears `phone_number_verified`)
    PhoneNumber,
    /// `address`
    Address,
}

macro_rules! profile_changes {
    ($($field:ident : $ty:ident = $wire:literal => $variant:ident),* $(,)?) => {
        /// Profile fields to set or clear; fields not mentioned stay as they are. Used to create
        /// a user ([`NewUser::profile`]) and to update one ([`Users::update`](crate::directory::Users::update)).
        ///
        /// The e-mail address is not here: it is given at creation and changes only through
        /// verification.
        #[derive(Clone, Debug, Default)]
        pub struct ProfileChanges {
            $($field: Option<Option<$ty>>,)*
            email_verified: Option<bool>,
            phone_number_verified: Option<bool>,
            address: Option<Option<Address>>,
        }

        impl ProfileChanges {
            /// No changes yet.
            pub fn new() -> Self {
                Self::default()
            }

            $(
                #[doc = concat!("Sets `", $wire, "`.\n\n# Errors\n[`Error::InvalidField`] naming `", $wire, "`.")]
                pub fn $field(mut self, value: &str) -> Result<Self, Error> {
                    self.$field = Some(Some($ty::parse(value).map_err(|p| Error::field($wire, p))?));
                    Ok(self)
                }
            )*

            /// Empties a field.
            pub fn clear(mut self, field: ProfileField) -> Self {
                match field {
                    $(ProfileField::$variant => self.$field = Some(None),)*
                    ProfileField::Address => self.address = Some(None),
                }
                self
            }

            pub(crate) fn apply(&self, p: &mut Profile) {
                $(if let Some(v) = &self.$field { p.$field = v.clone(); })*
                if let Some(v) = self.email_verified { p.email_verified = v; }
                if let Some(v) = self.phone_number_verified { p.phone_number_verified = v; }
                if let Some(v) = &self.address { p.address = v.clone(); }
                if p.phone_number.is_none() { p.phone_number_verified = false; }
            }

            pub(crate) fn changed_fields(&self) -> String {
                let mut names: Vec<&str> = Vec::new();
                $(if self.$field.is_some() { names.push(stringify!($field)); })*
                if self.email_verified.is_some() { names.push("email_verified"); }
                if self.phone_number_verified.is_some() { names.push("phone_number_verified"); }
                if self.address.is_some() { names.push("address"); }
                names.join(",")
            }
        }
    };
}

profile_changes!(
    name: Name = "profile.name" => Name,
    given_name: Name = "profile.given_name" => GivenName,
    family_name: Name = "profile.family_name" => FamilyName,
    middle_name: Name = "profile.middle_name" => MiddleName,
    nickname: Name = "profile.nickname" => Nickname,
    preferred_username: Name = "profile.preferred_username" => PreferredUsername,
    profile: HttpUrl = "profile.profile" => Profile,
    picture: HttpUrl = "profile.picture" => Picture,
    website: HttpUrl = "profile.website" => Website,
    gender: Gender = "profile.gender" => Gender,
    birthdate: Birthdate = "profile.birthdate" => Birthdate,
    zoneinfo: ZoneInfo = "profile.zoneinfo" => Zoneinfo,
    locale: Locale = "profile.locale" => Locale,
    phone_number: PhoneNumber = "profile.phone_number" => PhoneNumber,
);

impl ProfileChanges {
    /// Sets `email_verified`.
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = Some(verified);
        self
    }

    /// Sets `phone_number_verified` (ignored while there is no phone number).
    pub fn phone_number_verified(mut self, verified: bool) -> Self {
        self.phone_number_verified = Some(verified);
        self
    }

    /// Sets the postal address.
    pub fn address(mut self, address: Address) -> Self {
        self.address = Some(Some(address));
        self
    }
}

/// The input of [`Users::create`](crate::directory::Users::create).
///
/// ```
/// # fn main() -> Result<(), idcore::Error> {
/// use idcore::{NewUser, ProfileChanges};
/// let new = NewUser::new("janis.joplin@example.com")?
///     .profile(ProfileChanges::new().given_name("Janis")?.phone_number("+1-555-415-1337")?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NewUser {
    pub(crate) email: Email,
    pub(crate) changes: ProfileChanges,
}

impl NewUser {
    /// A user with this e-mail address.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `profile.email`.
    pub fn new(email: &str) -> Result<Self, Error> {
        Ok(Self {
            email: Email::parse(email).map_err(|p| Error::field("profile.email", p))?,
            changes: ProfileChanges::default(),
        })
    }

    /// The rest of the profile.
    pub fn profile(mut self, changes: ProfileChanges) -> Self {
        self.changes = changes;
        self
    }
}

impl NewUser {
    /// The address of the new user.
    pub(crate) fn email(&self) -> &Email {
        &self.email
    }
}

impl Serialize for User {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "__type__", rename = "User")]
        struct Wire<'a> {
            __domain__: &'a OrgDomain,
            __environment__: Environment,
            __managed_by__: &'a Name,
            active: bool,
            avatar_hexa_color: &'a HexColor,
            id: UserId,
            #[serde(with = "time::serde::rfc3339")]
            inserted_at: OffsetDateTime,
            metadata: &'a [MetadataEntry],
            profile: ProfileWire<'a>,
            #[serde(with = "time::serde::rfc3339")]
            updated_at: OffsetDateTime,
        }
        #[derive(Serialize)]
        #[serde(tag = "__type__", rename = "Profile")]
        struct ProfileWire<'a> {
            #[serde(flatten)]
            meta: Meta<'a>,
            #[serde(flatten)]
            claims: ProfileClaims<'a>,
        }
        let meta = Meta {
            __domain__: &self.org,
            __environment__: self.environment,
            __managed_by__: &self.managed_by,
        };
        Wire {
            __domain__: &self.org,
            __environment__: self.environment,
            __managed_by__: &self.managed_by,
            active: self.active,
            avatar_hexa_color: &self.avatar_hexa_color,
            id: self.id,
            inserted_at: self.inserted_at,
            metadata: &self.metadata,
            profile: ProfileWire {
                meta,
                claims: ProfileClaims {
                    meta,
                    profile: &self.profile,
                },
            },
            updated_at: self.updated_at,
        }
        .serialize(s)
    }
}

/// The seed's `__domain__`, `__environment__` and `__managed_by__`, which the user, its profile
/// and its address each carry.
#[derive(Clone, Copy, Serialize)]
struct Meta<'a> {
    __domain__: &'a OrgDomain,
    __environment__: Environment,
    __managed_by__: &'a Name,
}

/// The profile as OpenID Connect claims: absent fields are omitted.
struct ProfileClaims<'a> {
    meta: Meta<'a>,
    profile: &'a Profile,
}

impl Serialize for ProfileClaims<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(Serialize)]
        struct AddressWire<'a> {
            #[serde(flatten)]
            meta: Meta<'a>,
            #[serde(flatten)]
            address: &'a Address,
        }
        let p = self.profile;
        let mut m = s.serialize_map(None)?;
        if let Some(address) = &p.address {
            let wire = AddressWire {
                meta: self.meta,
                address,
            };
            m.serialize_entry("address", &wire)?;
        }
        if let Some(b) = &p.birthdate {
            m.serialize_entry("birthdate", b)?;
        }
        m.serialize_entry("email", &p.email)?;
        m.serialize_entry("email_verified", &p.email_verified)?;
        let optional: [(&str, Option<&str>); 13] = [
            ("family_name", p.family_name.as_ref().map(Name::as_str)),
            ("gender", p.gender.as_ref().map(Gender::as_str)),
            ("given_name", p.given_name.as_ref().map(Name::as_str)),
            ("locale", p.locale.as_ref().map(Locale::as_str)),
            ("middle_name", p.middle_name.as_ref().map(Name::as_str)),
            ("name", p.name.as_ref().map(Name::as_str)),
            ("nickname", p.nickname.as_ref().map(Name::as_str)),
            (
                "phone_number",
                p.phone_number.as_ref().map(PhoneNumber::as_str),
            ),
            ("picture", p.picture.as_ref().map(HttpUrl::as_str)),
            (
                "preferred_username",
                p.preferred_username.as_ref().map(Name::as_str),
            ),
            ("profile", p.profile.as_ref().map(HttpUrl::as_str)),
            ("website", p.website.as_ref().map(HttpUrl::as_str)),
            ("zoneinfo", p.zoneinfo.as_ref().map(ZoneInfo::as_str)),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        if p.phone_number.is_some() {
            m.serialize_entry("phone_number_verified", &p.phone_number_verified)?;
        }
        m.end()
    }
}

impl crate::page::Keyed for User {
    fn cursor(&self) -> crate::page::Cursor {
        crate::page::Cursor::after_item(ListKind::Users, self.inserted_at, self.id.as_uuid())
    }
}
