//! Organizations: the B2B customers, each with an immutable slug domain.

use serde::Serialize;
use time::OffsetDateTime;

use super::Tombstone;
use super::fields::{CountryCode, HttpUrl, Name};
use super::ids::{Environment, OrgDomain, OrganizationId};
use crate::error::{Error, FieldProblem};
use crate::page::ListKind;

/// An organization, as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Organization {
    /// Immutable uuid.
    pub id: OrganizationId,
    /// Immutable slug, generated from the name at creation.
    pub domain: OrgDomain,
    /// The environment it lives in.
    pub environment: Environment,
    /// The `__managed_by__` value.
    pub managed_by: Name,
    /// The display name (changing it never changes the domain).
    pub name: Name,
    /// Headquarters locality.
    pub locality: Option<Name>,
    /// State or region of the locality.
    pub state: Option<Name>,
    /// ISO 3166-1 alpha-2 country.
    pub country_name: Option<CountryCode>,
    /// Absolute http(s) URL of the privacy policy.
    pub privacy_policy_url: Option<HttpUrl>,
    /// Absolute http(s) URL of the terms of service.
    pub terms_of_service_url: Option<HttpUrl>,
    /// Creation time.
    pub inserted_at: OffsetDateTime,
    /// Last update time.
    pub updated_at: OffsetDateTime,
    /// Set once deleted; a deleted organization keeps its domain reserved forever.
    pub deleted_at: Option<OffsetDateTime>,
    /// Optimistic-concurrency version, +1 per update.
    pub version: u64,
}

impl Organization {
    pub(crate) fn tombstone(&self, deleted_at: OffsetDateTime) -> Tombstone {
        Tombstone {
            resource_type: "Organization",
            id: self.id.to_string(),
            domain: Some(self.domain.clone()),
            deleted: true,
            deleted_at,
        }
    }
}

impl Serialize for Organization {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "__type__", rename = "Organization")]
        struct Wire<'a> {
            __domain__: &'a OrgDomain,
            __environment__: Environment,
            __managed_by__: &'a Name,
            country_name: Option<CountryCode>,
            domain: &'a OrgDomain,
            id: OrganizationId,
            #[serde(with = "time::serde::rfc3339")]
            inserted_at: OffsetDateTime,
            locality: Option<&'a Name>,
            name: &'a Name,
            privacy_policy_url: Option<&'a HttpUrl>,
            state: Option<&'a Name>,
            terms_of_service_url: Option<&'a HttpUrl>,
            #[serde(with = "time::serde::rfc3339")]
            updated_at: OffsetDateTime,
        }
        Wire {
            __domain__: &self.domain,
            __environment__: self.environment,
            __managed_by__: &self.managed_by,
            country_name: self.country_name,
            domain: &self.domain,
            id: self.id,
            inserted_at: self.inserted_at,
            locality: self.locality.as_ref(),
            name: &self.name,
            privacy_policy_url: self.privacy_policy_url.as_ref(),
            state: self.state.as_ref(),
            terms_of_service_url: self.terms_of_service_url.as_ref(),
            updated_at: self.updated_at,
        }
        .serialize(s)
    }
}

/// The input of [`Organizations::create`](crate::directory::Organizations::create). Each setter parses its value and names the field when
/// it fails.
///
/// ```
/// # fn main() -> Result<(), idcore::Error> {
/// let new = idcore::NewOrganization::new("Misapret")?
///     .locality("Lille")?
///     .country_name("FR")?
///     .privacy_policy_url("https://misapret.com/policy")?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NewOrganization {
    pub(crate) name: Name,
    pub(crate) changes: OrganizationUpdate,
}

impl NewOrganization {
    /// An organization named `name`; its domain will be the slug of the name.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `name` when it is empty, too long, has control
    /// characters, or has nothing that can make a slug (only punctuation, say).
    pub fn new(name: &str) -> Result<Self, Error> {
        let name = Name::parse(name).map_err(|p| Error::field("name", p))?;
        if OrgDomain::slugify(name.as_str()).is_none() {
            return Err(Error::field(
                "name",
                FieldProblem::Format("must contain letters or digits to make a domain from"),
            ));
        }
        Ok(Self {
            name,
            changes: OrganizationUpdate::default(),
        })
    }

    /// Headquarters locality.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `locality`.
    pub fn locality(self, value: &str) -> Result<Self, Error> {
        self.with(|c| c.locality(value))
    }

    /// State or region.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `state`.
    pub fn state(self, value: &str) -> Result<Self, Error> {
        self.with(|c| c.state(value))
    }

    /// ISO 3166-1 alpha-2 country code.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `country_name`.
    pub fn country_name(self, value: &str) -> Result<Self, Error> {
        self.with(|c| c.country_name(value))
    }

    /// Privacy policy URL (absolute http/https).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `privacy_policy_url`.
    pub fn privacy_policy_url(self, value: &str) -> Result<Self, Error> {
        self.with(|c| c.privacy_policy_url(value))
    }

    /// Terms of service URL (absolute http/https).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `terms_of_service_url`.
    pub fn terms_of_service_url(self, value: &str) -> Result<Self, Error> {
        self.with(|c| c.terms_of_service_url(value))
    }

    fn with(
        mut self,
        f: impl FnOnce(OrganizationUpdate) -> Result<OrganizationUpdate, Error>,
    ) -> Result<Self, Error> {
        self.changes = f(self.changes)?;
        Ok(self)
    }
}

/// The fields of an organization that [`OrganizationUpdate::clear`] can empty.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OrganizationField {
    /// `locality`
    Locality,
    /// `state`
    State,
    /// `country_name`
    CountryName,
    /// `privacy_policy_url`
    PrivacyPolicyUrl,
    /// `terms_of_service_url`
    TermsOfServiceUrl,
}

/// A partial update: only the fields set here change. The domain can never change.
#[derive(Clone, Debug, Default)]
pub struct OrganizationUpdate {
    name: Option<Name>,
    locality: Option<Option<Name>>,
    state: Option<Option<Name>>,
    country_name: Option<Option<CountryCode>>,
    privacy_policy_url: Option<Option<HttpUrl>>,
    terms_of_service_url: Option<Option<HttpUrl>>,
}

impl OrganizationUpdate {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new display name (the domain stays).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `name`.
    pub fn name(mut self, value: &str) -> Result<Self, Error> {
        self.name = Some(Name::parse(value).map_err(|p| Error::field("name", p))?);
        Ok(self)
    }

    /// A new locality.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `locality`.
    pub fn locality(mut self, value: &str) -> Result<Self, Error> {
        self.locality = Some(Some(
            Name::parse(value).map_err(|p| Error::field("locality", p))?,
        ));
        Ok(self)
    }

    /// A new state.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `state`.
    pub fn state(mut self, value: &str) -> Result<Self, Error> {
        self.state = Some(Some(
            Name::parse(value).map_err(|p| Error::field("state", p))?,
        ));
        Ok(self)
    }

    /// A new country code.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `country_name`.
    pub fn country_name(mut self, value: &str) -> Result<Self, Error> {
        let code = CountryCode::parse(value).map_err(|p| Error::field("country_name", p))?;
        self.country_name = Some(Some(code));
        Ok(self)
    }

    /// A new privacy policy URL.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `privacy_policy_url`.
    pub fn privacy_policy_url(mut self, value: &str) -> Result<Self, Error> {
        let url = HttpUrl::parse(value).map_err(|p| Error::field("privacy_policy_url", p))?;
        self.privacy_policy_url = Some(Some(url));
        Ok(self)
    }

    /// A new terms of service URL.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `terms_of_service_url`.
    pub fn terms_of_service_url(mut self, value: &str) -> Result<Self, Error> {
        let url = HttpUrl::parse(value).map_err(|p| Error::field("terms_of_service_url", p))?;
        self.terms_of_service_url = Some(Some(url));
        Ok(self)
    }

    /// Empties a field.
    pub fn clear(mut self, field: OrganizationField) -> Self {
        match field {
            OrganizationField::Locality => self.locality = Some(None),
            OrganizationField::State => self.state = Some(None),
            OrganizationField::CountryName => self.country_name = Some(None),
            OrganizationField::PrivacyPolicyUrl => self.privacy_policy_url = Some(None),
            OrganizationField::TermsOfServiceUrl => self.terms_of_service_url = Some(None),
        }
        self
    }

    /// The names of the fields this update sets, for the audit event.
    pub(crate) fn changed_fields(&self) -> String {
        let set = [
            ("name", self.name.is_some()),
            ("locality", self.locality.is_some()),
            ("state", self.state.is_some()),
            ("country_name", self.country_name.is_some()),
            ("privacy_policy_url", self.privacy_policy_url.is_some()),
            ("terms_of_service_url", self.terms_of_service_url.is_some()),
        ];
        let names: Vec<&str> = set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
        names.join(",")
    }

    pub(crate) fn apply(&self, org: &mut Organization) {
        if let Some(name) = &self.name {
            org.name = name.clone();
        }
        if let Some(v) = &self.locality {
            org.locality = v.clone();
        }
        if let Some(v) = &self.state {
            org.state = v.clone();
        }
        if let Some(v) = self.country_name {
            org.country_name = v;
        }
        if let Some(v) = &self.privacy_policy_url {
            org.privacy_policy_url = v.clone();
        }
        if let Some(v) = &self.terms_of_service_url {
            org.terms_of_service_url = v.clone();
        }
    }
}

impl crate::page::Keyed for Organization {
    fn cursor(&self) -> crate::page::Cursor {
        crate::page::Cursor::after_item(
            ListKind::Organizations,
            self.inserted_at,
            self.id.as_uuid(),
        )
    }
}
