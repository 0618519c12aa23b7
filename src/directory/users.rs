//! Users of an organization, with their OpenID Connect profile.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::UPDATE_ATTEMPTS;
use super::fields::{
    Birthdate, Email, Gender, HexColor, HttpUrl, Locale, Name, PhoneNumber, Text, ZoneInfo,
};
use super::ids::{Environment, OrgDomain, UserId};
use super::organizations::Organizations;
use crate::audit::{EventCode, NewEvent};
use crate::error::{Error, Resource};
use crate::identity::Identity;
use crate::join::join2;
use crate::page::{List, ListKind, PageRequest};
use crate::store::{Store, StoreError};

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
    /// Custom metadata (see the claims module of later versions).
    pub metadata: Vec<MetadataEntry>,
    /// `false` once the user is disabled ([`Users::disable`]): sign-in, code exchange, refresh
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

/// A metadata value set on a user for a metakey.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MetadataEntry {
    /// The metakey's name.
    pub key: String,
    /// The value.
    pub value: String,
}

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
    fn new(email: Email) -> Self {
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
        /// a user ([`NewUser::profile`]) and to update one ([`Users::update`]).
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

            fn apply(&self, p: &mut Profile) {
                $(if let Some(v) = &self.$field { p.$field = v.clone(); })*
                if let Some(v) = self.email_verified { p.email_verified = v; }
                if let Some(v) = self.phone_number_verified { p.phone_number_verified = v; }
                if let Some(v) = &self.address { p.address = v.clone(); }
                if p.phone_number.is_none() { p.phone_number_verified = false; }
            }

            fn changed_fields(&self) -> String {
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

/// The input of [`Users::create`].
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
    email: Email,
    changes: ProfileChanges,
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

/// The record of a new user (version 1, a fresh v7 id), not yet stored.
pub(crate) fn new_user_record<S>(
    identity: &Identity<S>,
    org: &OrgDomain,
    new: NewUser,
    now: OffsetDateTime,
) -> Result<User, Error> {
    let mut profile = Profile::new(new.email);
    new.changes.apply(&mut profile);
    Ok(User {
        id: UserId::generate(now),
        org: org.clone(),
        environment: identity.environment(),
        managed_by: identity.config().managed_by().clone(),
        profile,
        metadata: Vec::new(),
        active: true,
        avatar_hexa_color: HexColor::random()?,
        inserted_at: now,
        updated_at: now,
        version: 1,
    })
}

/// The users of one organization; see [`Identity::users`]. No call through it can read or
/// change a user of another organization: such a user answers [`Error::NotFound`].
pub struct Users<'a, S> {
    identity: &'a Identity<S>,
    org: &'a OrgDomain,
}

impl<'a, S: Store> Users<'a, S> {
    pub(crate) fn new(identity: &'a Identity<S>, org: &'a OrgDomain) -> Self {
        Self { identity, org }
    }

    /// Creates a user.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization) if the organization does not exist or was deleted;
    /// [`Error::AlreadyExists`] with key `email` if the address is taken in this organization
    /// (case-insensitively); [`Error::Store`] when the store fails.
    pub async fn create(&self, new: NewUser) -> Result<User, Error> {
        self.require_org().await?;
        let env = self.identity.environment();
        let now = self.identity.now();
        let mut user = new_user_record(self.identity, self.org, new, now)?;
        // A v7 id collision is practically impossible; one retry with a fresh id settles it.
        for _ in 0..2 {
            let event = NewEvent::new(EventCode::USER_CREATED, now)
                .tenant(self.org)
                .user(user.id, &user.profile.email);
            match self.identity.store().insert_user(env, &user, &event).await {
                Ok(()) => return Ok(user),
                Err(StoreError::AlreadyExists { key: "id" }) => user.id = UserId::generate(now),
                Err(StoreError::AlreadyExists { key }) => {
                    return Err(Error::AlreadyExists {
                        resource: Resource::User,
                        key,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// The user with this id.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Store`] when
    /// the store fails.
    pub async fn retrieve(&self, id: UserId) -> Result<User, Error> {
        // Two independent reads, issued together; the organization's answer comes first.
        let (org, user) = join2(
            self.require_org(),
            self.identity
                .store()
                .user(self.identity.environment(), self.org, id),
        )
        .await;
        org?;
        user?.ok_or(Error::NotFound(Resource::User))
    }

    /// The user with this e-mail address (compared case-insensitively).
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Store`] when
    /// the store fails.
    pub async fn retrieve_by_email(&self, email: &Email) -> Result<User, Error> {
        self.require_org().await?;
        self.identity
            .store()
            .user_by_email(self.identity.environment(), self.org, email)
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// Applies a partial profile update: only the fields in `changes` change.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Conflict`] if
    /// concurrent writers kept winning, [`Error::Store`] when the store fails.
    pub async fn update(&self, id: UserId, changes: ProfileChanges) -> Result<User, Error> {
        self.require_org().await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = store
                .user(env, self.org, id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            let now = self.identity.now();
            let mut next = current.clone();
            changes.apply(&mut next.profile);
            next.updated_at = now;
            next.version = current.version + 1;
            let event = NewEvent::new(EventCode::USER_UPDATED, now)
                .tenant(self.org)
                .user(id, &next.profile.email)
                .detail("fields", changes.changed_fields());
            match store.update_user(env, &next, current.version, &event).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(StoreError::AlreadyExists { key }) => {
                    return Err(Error::AlreadyExists {
                        resource: Resource::User,
                        key,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// Disables a user: from then on sign-in, code exchange, refresh and user info refuse it,
    /// and every token it holds is revoked (refresh tokens at once, access and ID tokens for
    /// live verification, as by a global sign-out). Disabling a disabled user revokes again and
    /// records nothing new, so a call that failed half-way is completed by calling it again.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such user in this organization, [`Error::Conflict`] if
    /// concurrent writers kept winning, [`Error::Store`] when the store fails (the user may then
    /// be disabled with its tokens not yet revoked: call again).
    pub async fn disable(&self, id: UserId) -> Result<User, Error> {
        let user = self.set_active(id, false).await?;
        self.identity
            .tokens()
            .revoke_user(self.org, id, self.identity.now())
            .await?;
        Ok(user)
    }

    /// Enables a disabled user again. Tokens revoked when it was disabled stay revoked.
    ///
    /// # Errors
    /// As [`Users::disable`].
    pub async fn enable(&self, id: UserId) -> Result<User, Error> {
        self.set_active(id, true).await
    }

    async fn set_active(&self, id: UserId, active: bool) -> Result<User, Error> {
        self.require_org().await?;
        let env = self.identity.environment();
        let store = self.identity.store();
        for _ in 0..UPDATE_ATTEMPTS {
            let current = store
                .user(env, self.org, id)
                .await?
                .ok_or(Error::NotFound(Resource::User))?;
            if current.active == active {
                return Ok(current);
            }
            let now = self.identity.now();
            let next = User {
                active,
                updated_at: now,
                version: current.version + 1,
                ..current.clone()
            };
            let code = if active {
                EventCode::USER_ENABLED
            } else {
                EventCode::USER_DISABLED
            };
            let event = NewEvent::new(code, now)
                .tenant(self.org)
                .user(id, &next.profile.email);
            match store.update_user(env, &next, current.version, &event).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Precondition) => continue,
                Err(StoreError::NotFound) => return Err(Error::NotFound(Resource::User)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(Resource::User))
    }

    /// One page of this organization's users, newest first.
    ///
    /// # Errors
    /// [`Error::NotFound`] (organization) if it does not exist, [`Error::Store`] when the store
    /// fails.
    /// [`Error::InvalidField`] naming `cursor` when the request carries a cursor of another
    /// list.
    pub async fn list(&self, page: PageRequest) -> Result<List<User>, Error> {
        page.check_cursor(ListKind::Users)?;
        self.require_org().await?;
        let (data, total) = self
            .identity
            .store()
            .list_users(self.identity.environment(), self.org, page)
            .await?;
        Ok(List::new(data, page, total))
    }

    async fn require_org(&self) -> Result<(), Error> {
        Organizations::new(self.identity)
            .require_live(self.org)
            .await
            .map(drop)
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
