//! Applications: the OAuth clients that sign users in, global or scoped to one organization.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Tombstone;
use super::fields::{HttpUrl, Name, Origin, RedirectUri, Text};
use super::ids::{ClientId, Environment, OrgDomain};
use crate::error::{Error, FieldProblem};
use crate::page::ListKind;
use crate::secret::{Digest, Secret};

/// Token lifetimes of one application (seed 000 "update token validity period"); a field left
/// `None` uses the [`Identity`](crate::Identity)'s lifetime.
///
/// Bounds: access and ID tokens 5 minutes to 1 day, refresh tokens 1 hour to 10 years.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TokenValidity {
    /// Access token lifetime.
    pub access_token: Option<time::Duration>,
    /// ID token lifetime.
    pub id_token: Option<time::Duration>,
    /// Refresh token family lifetime (absolute).
    pub refresh_token: Option<time::Duration>,
}

impl TokenValidity {
    /// Checks the bounds, naming the field that is out of them.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `access_token_validity`, `id_token_validity` or
    /// `refresh_token_validity` with the allowed range in seconds.
    pub fn check(&self) -> Result<(), Error> {
        use time::Duration;
        let bound = |field: &'static str, v: Option<Duration>, min: Duration, max: Duration| match v
        {
            Some(v) if v < min || v > max => Err(Error::field(
                field,
                FieldProblem::OutOfRange {
                    min: min.whole_seconds(),
                    max: max.whole_seconds(),
                },
            )),
            _ => Ok(()),
        };
        bound(
            "access_token_validity",
            self.access_token,
            Duration::minutes(5),
            Duration::days(1),
        )?;
        bound(
            "id_token_validity",
            self.id_token,
            Duration::minutes(5),
            Duration::days(1),
        )?;
        bound(
            "refresh_token_validity",
            self.refresh_token,
            Duration::hours(1),
            Duration::days(3653),
        )
    }
}

/// The most URLs one `allowed_*` list may hold.
pub const MAX_ALLOWED_URLS: usize = 50;

/// Where an application may be used.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ApplicationScope {
    /// Every organization of the environment.
    Global,
    /// Only this organization (the seed's `organization_domain_scope`).
    Organization(OrgDomain),
}

impl ApplicationScope {
    /// The organization, for a scoped application.
    pub fn organization(&self) -> Option<&OrgDomain> {
        match self {
            Self::Global => None,
            Self::Organization(d) => Some(d),
        }
    }
}

/// The technology of an application, which decides whether it is a confidential client.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// React single-page application (public client, seed 001).
    React,
    /// Vue single-page application (public client, seed 001).
    Vue,
    /// Angular single-page application (public client, seed 001).
    Angular,
    /// Server-rendered web application (confidential client with a secret).
    RegularWeb,
    /// Machine-to-machine service (confidential client with a secret).
    Service,
}

impl ApplicationType {
    /// Whether this type authenticates with a client secret.
    pub fn is_confidential(&self) -> bool {
        matches!(self, Self::RegularWeb | Self::Service)
    }

    /// Parses the wire name (`react`, `vue`, `angular`, `regular_web`, `service`).
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for anything else.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        match s {
            "react" => Ok(Self::React),
            "vue" => Ok(Self::Vue),
            "angular" => Ok(Self::Angular),
            "regular_web" => Ok(Self::RegularWeb),
            "service" => Ok(Self::Service),
            _ => Err(FieldProblem::Format(
                "must be one of react, vue, angular, regular_web, service",
            )),
        }
    }
}

/// An application, as stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Application {
    /// The `client_id` (a uuid), also its `id`.
    pub client_id: ClientId,
    /// Where it may be used.
    pub scope: ApplicationScope,
    /// The environment it lives in.
    pub environment: Environment,
    /// The `__managed_by__` value.
    pub managed_by: Name,
    /// Its name.
    pub name: Name,
    /// A free description.
    pub description: Option<Text>,
    /// Its technology.
    pub application_type: ApplicationType,
    /// SHA-256 of the client secret, for confidential types. Never serialized.
    pub client_secret_digest: Option<Digest>,
    /// Redirect URIs, matched exactly at sign-in.
    pub allowed_redirect_urls: Vec<RedirectUri>,
    /// Where users may be sent after signing out.
    pub allowed_logout_urls: Vec<HttpUrl>,
    /// Origins allowed by CORS.
    pub allowed_origins_cors: Vec<Origin>,
    /// Origins allowed to run the authentication process.
    pub allowed_web_origins: Vec<Origin>,
    /// Default redirect after login; one of `allowed_redirect_urls`.
    pub default_redirect_uri_after_login: Option<RedirectUri>,
    /// Default redirect after logout; one of `allowed_logout_urls`.
    pub default_redirect_uri_after_logout: Option<HttpUrl>,
    /// Default CORS origin; one of `allowed_origins_cors`.
    pub default_origin_cors: Option<Origin>,
    /// Default web origin; one of `allowed_web_origins`.
    pub default_web_origin: Option<Origin>,
    /// Token lifetimes of this application (`None` fields: the Identity's).
    pub token_validity: TokenValidity,
    /// Creation time.
    pub inserted_at: OffsetDateTime,
    /// Last update time.
    pub updated_at: OffsetDateTime,
    /// Set once deleted.
    pub deleted_at: Option<OffsetDateTime>,
    /// Optimistic-concurrency version, +1 per update.
    pub version: u64,
}

impl Application {
    /// Whether `presented` is this application's client secret (constant-time; always false for
    /// public clients).
    pub fn verify_secret(&self, presented: &Secret) -> bool {
        self.client_secret_digest
            .is_some_and(|stored| stored == presented.digest())
    }

    pub(crate) fn tombstone(&self, deleted_at: OffsetDateTime) -> Tombstone {
        Tombstone {
            resource_type: "Application",
            id: self.client_id.to_string(),
            domain: self.scope.organization().cloned(),
            deleted: true,
            deleted_at,
        }
    }

    /// Checks that each default is one of its allowed list.
    pub(crate) fn check_defaults(&self) -> Result<(), Error> {
        fn member<T: PartialEq>(
            field: &'static str,
            value: Option<&T>,
            list: &[T],
        ) -> Result<(), Error> {
            match value {
                Some(v) if !list.contains(v) => Err(Error::field(
                    field,
                    FieldProblem::Format("must be one of the allowed urls of the application"),
                )),
                _ => Ok(()),
            }
        }
        member(
            "default_redirect_uri_after_login",
            self.default_redirect_uri_after_login.as_ref(),
            &self.allowed_redirect_urls,
        )?;
        member(
            "default_redirect_uri_after_logout",
            self.default_redirect_uri_after_logout.as_ref(),
            &self.allowed_logout_urls,
        )?;
        member(
            "default_origin_cors",
            self.default_origin_cors.as_ref(),
            &self.allowed_origins_cors,
        )?;
        member(
            "default_web_origin",
            self.default_web_origin.as_ref(),
            &self.allowed_web_origins,
        )
    }
}

impl Serialize for Application {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(tag = "__type__", rename = "Application")]
        struct Wire<'a> {
            __domain__: Option<&'a OrgDomain>,
            __environment__: Environment,
            __managed_by__: &'a Name,
            allowed_logout_urls: &'a [HttpUrl],
            allowed_origins_cors: &'a [Origin],
            allowed_redirect_urls: &'a [RedirectUri],
            allowed_web_origins: &'a [Origin],
            application_type: ApplicationType,
            client_id: ClientId,
            default_origin_cors: Option<&'a Origin>,
            default_redirect_uri_after_login: Option<&'a RedirectUri>,
            default_redirect_uri_after_logout: Option<&'a HttpUrl>,
            default_web_origin: Option<&'a Origin>,
            description: Option<&'a Text>,
            id: ClientId,
            access_token_validity: Option<i64>,
            id_token_validity: Option<i64>,
            refresh_token_validity: Option<i64>,
            #[serde(with = "time::serde::rfc3339")]
            inserted_at: OffsetDateTime,
            name: &'a Name,
            organization_domain_scope: Option<&'a OrgDomain>,
            #[serde(with = "time::serde::rfc3339")]
            updated_at: OffsetDateTime,
        }
        Wire {
            __domain__: self.scope.organization(),
            __environment__: self.environment,
            __managed_by__: &self.managed_by,
            allowed_logout_urls: &self.allowed_logout_urls,
            allowed_origins_cors: &self.allowed_origins_cors,
            allowed_redirect_urls: &self.allowed_redirect_urls,
            allowed_web_origins: &self.allowed_web_origins,
            application_type: self.application_type,
            client_id: self.client_id,
            default_origin_cors: self.default_origin_cors.as_ref(),
            default_redirect_uri_after_login: self.default_redirect_uri_after_login.as_ref(),
            default_redirect_uri_after_logout: self.default_redirect_uri_after_logout.as_ref(),
            default_web_origin: self.default_web_origin.as_ref(),
            description: self.description.as_ref(),
            id: self.client_id,
            access_token_validity: self.token_validity.access_token.map(|d| d.whole_seconds()),
            id_token_validity: self.token_validity.id_token.map(|d| d.whole_seconds()),
            refresh_token_validity: self.token_validity.refresh_token.map(|d| d.whole_seconds()),
            inserted_at: self.inserted_at,
            name: &self.name,
            organization_domain_scope: self.scope.organization(),
            updated_at: self.updated_at,
        }
        .serialize(s)
    }
}

/// Changes to an application; fields not mentioned stay as they are. Also the body of
/// [`NewApplication`].
#[derive(Clone, Debug, Default)]
pub struct ApplicationUpdate {
    name: Option<Name>,
    description: Option<Option<Text>>,
    application_type: Option<ApplicationType>,
    allowed_redirect_urls: Option<Vec<RedirectUri>>,
    allowed_logout_urls: Option<Vec<HttpUrl>>,
    allowed_origins_cors: Option<Vec<Origin>>,
    allowed_web_origins: Option<Vec<Origin>>,
    default_redirect_uri_after_login: Option<Option<RedirectUri>>,
    default_redirect_uri_after_logout: Option<Option<HttpUrl>>,
    default_origin_cors: Option<Option<Origin>>,
    default_web_origin: Option<Option<Origin>>,
}

/// Parses a list of URLs: at most [`MAX_ALLOWED_URLS`], duplicates dropped, order kept.
fn url_list<T: PartialEq>(
    field: &'static str,
    values: &[&str],
    parse: fn(&str) -> Result<T, FieldProblem>,
) -> Result<Vec<T>, Error> {
    if values.len() > MAX_ALLOWED_URLS {
        return Err(Error::field(
            field,
            FieldProblem::OutOfRange {
                min: 0,
                max: MAX_ALLOWED_URLS as i64,
            },
        ));
    }
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for v in values {
        let parsed = parse(v).map_err(|p| Error::field(field, p))?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok(out)
}

impl ApplicationUpdate {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new name.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `name`.
    pub fn name(mut self, value: &str) -> Result<Self, Error> {
        self.name = Some(Name::parse(value).map_err(|p| Error::field("name", p))?);
        Ok(self)
    }

    /// A new description.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `description`.
    pub fn description(mut self, value: &str) -> Result<Self, Error> {
        self.description = Some(Some(
            Text::parse(value).map_err(|p| Error::field("description", p))?,
        ));
        Ok(self)
    }

    /// A new type. Switching between public and confidential types is refused at update time
    /// (create a new application instead): a public client has no secret to rotate into.
    pub fn application_type(mut self, value: ApplicationType) -> Self {
        self.application_type = Some(value);
        self
    }

    /// Replaces `allowed_redirect_urls`.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `allowed_redirect_urls`.
    pub fn allowed_redirect_urls(mut self, urls: &[&str]) -> Result<Self, Error> {
        self.allowed_redirect_urls =
            Some(url_list("allowed_redirect_urls", urls, RedirectUri::parse)?);
        Ok(self)
    }

    /// Replaces `allowed_logout_urls`.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `allowed_logout_urls`.
    pub fn allowed_logout_urls(mut self, urls: &[&str]) -> Result<Self, Error> {
        self.allowed_logout_urls = Some(url_list("allowed_logout_urls", urls, HttpUrl::parse)?);
        Ok(self)
    }

    /// Replaces `allowed_origins_cors`.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `allowed_origins_cors`.
    pub fn allowed_origins_cors(mut self, origins: &[&str]) -> Result<Self, Error> {
        self.allowed_origins_cors = Some(url_list("allowed_origins_cors", origins, Origin::parse)?);
        Ok(self)
    }

    /// Replaces `allowed_web_origins`.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `allowed_web_origins`.
    pub fn allowed_web_origins(mut self, origins: &[&str]) -> Result<Self, Error> {
        self.allowed_web_origins = Some(url_list("allowed_web_origins", origins, Origin::parse)?);
        Ok(self)
    }

    /// Sets the default redirect after login (must be one of `allowed_redirect_urls`).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `default_redirect_uri_after_login`.
    pub fn default_redirect_uri_after_login(mut self, value: &str) -> Result<Self, Error> {
        let v = RedirectUri::parse(value)
            .map_err(|p| Error::field("default_redirect_uri_after_login", p))?;
        self.default_redirect_uri_after_login = Some(Some(v));
        Ok(self)
    }

    /// Sets the default redirect after logout (must be one of `allowed_logout_urls`).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `default_redirect_uri_after_logout`.
    pub fn default_redirect_uri_after_logout(mut self, value: &str) -> Result<Self, Error> {
        let v = HttpUrl::parse(value)
            .map_err(|p| Error::field("default_redirect_uri_after_logout", p))?;
        self.default_redirect_uri_after_logout = Some(Some(v));
        Ok(self)
    }

    /// Sets the default CORS origin (must be one of `allowed_origins_cors`).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `default_origin_cors`.
    pub fn default_origin_cors(mut self, value: &str) -> Result<Self, Error> {
        let v = Origin::parse(value).map_err(|p| Error::field("default_origin_cors", p))?;
        self.default_origin_cors = Some(Some(v));
        Ok(self)
    }

    /// Sets the default web origin (must be one of `allowed_web_origins`).
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `default_web_origin`.
    pub fn default_web_origin(mut self, value: &str) -> Result<Self, Error> {
        let v = Origin::parse(value).map_err(|p| Error::field("default_web_origin", p))?;
        self.default_web_origin = Some(Some(v));
        Ok(self)
    }

    pub(crate) fn apply(&self, app: &mut Application) {
        if let Some(v) = &self.name {
            app.name = v.clone();
        }
        if let Some(v) = &self.description {
            app.description = v.clone();
        }
        if let Some(v) = self.application_type {
            app.application_type = v;
        }
        if let Some(v) = &self.allowed_redirect_urls {
            app.allowed_redirect_urls = v.clone();
        }
        if let Some(v) = &self.allowed_logout_urls {
            app.allowed_logout_urls = v.clone();
        }
        if let Some(v) = &self.allowed_origins_cors {
            app.allowed_origins_cors = v.clone();
        }
        if let Some(v) = &self.allowed_web_origins {
            app.allowed_web_origins = v.clone();
        }
        if let Some(v) = &self.default_redirect_uri_after_login {
            app.default_redirect_uri_after_login = v.clone();
        }
        if let Some(v) = &self.default_redirect_uri_after_logout {
            app.default_redirect_uri_after_logout = v.clone();
        }
        if let Some(v) = &self.default_origin_cors {
            app.default_origin_cors = v.clone();
        }
        if let Some(v) = &self.default_web_origin {
            app.default_web_origin = v.clone();
        }
    }
}

/// The input of [`Applications::create`](crate::directory::Applications::create).
///
/// ```
/// # fn main() -> Result<(), idcore::Error> {
/// use idcore::{ApplicationType, NewApplication};
/// let new = NewApplication::new("App of Misapret", ApplicationType::React)?
///     .with(|a| a.allowed_redirect_urls(&["http://localhost:3000/callback"]))?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NewApplication {
    pub(crate) name: Name,
    pub(crate) application_type: ApplicationType,
    pub(crate) fields: ApplicationUpdate,
}

impl NewApplication {
    /// An application with a name and a type.
    ///
    /// # Errors
    /// [`Error::InvalidField`] naming `name`.
    pub fn new(name: &str, application_type: ApplicationType) -> Result<Self, Error> {
        Ok(Self {
            name: Name::parse(name).map_err(|p| Error::field("name", p))?,
            application_type,
            fields: ApplicationUpdate::default(),
        })
    }

    /// Sets the other fields with the [`ApplicationUpdate`] setters. The type is the one given
    /// to [`NewApplication::new`]; setting another one here is refused.
    ///
    /// # Errors
    /// The first error `f` returns; [`Error::InvalidField`] naming `application_type` when `f`
    /// sets a different type.
    pub fn with(
        mut self,
        f: impl FnOnce(ApplicationUpdate) -> Result<ApplicationUpdate, Error>,
    ) -> Result<Self, Error> {
        let fields = f(self.fields)?;
        if fields
            .application_type
            .is_some_and(|t| t != self.application_type)
        {
            return Err(Error::field(
                "application_type",
                FieldProblem::Format("is set by NewApplication::new"),
            ));
        }
        self.fields = fields;
        Ok(self)
    }
}

/// A new application and, for a confidential one, its client secret — shown this once; idcore
/// keeps only its digest.
#[derive(Debug)]
pub struct CreatedApplication {
    /// The stored application.
    pub application: Application,
    /// The client secret, for confidential types.
    pub client_secret: Option<Secret>,
}

impl crate::page::Keyed for Application {
    fn cursor(&self) -> crate::page::Cursor {
        crate::page::Cursor::after_item(
            ListKind::Applications,
            self.inserted_at,
            self.client_id.as_uuid(),
        )
    }
}
