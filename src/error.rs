//! The one error type of idcore, and the one place that maps it to wire codes and HTTP statuses.
//!
//! Every public fallible function returns [`Error`]. Each variant has a stable machine code
//! ([`Error::code`]) and the HTTP status a host should answer with ([`Error::http_status`]);
//! both are mapped in this file and nowhere else.

use std::fmt;

use crate::store::StoreError;

/// Everything that can go wrong in idcore.
///
/// `Display` is lowercase and never contains secrets. Match on [`Error::code`] for a stable,
/// wire-level identity; the variants themselves may grow (`#[non_exhaustive]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input field failed to parse. Names the field and what was wrong with it.
    #[error("invalid {field}: {problem}")]
    InvalidField {
        /// The field's wire name, e.g. `country_name` or `profile.phone_number`.
        field: &'static str,
        /// What was wrong with it.
        problem: FieldProblem,
    },

    /// The resource does not exist in this environment and organization, or the caller may not
    /// see it (the two are deliberately indistinguishable).
    #[error("{0} not found")]
    NotFound(Resource),

    /// A unique key is already taken (an organization domain, a user e-mail, a client id).
    #[error("{resource} already exists: {key} is taken")]
    AlreadyExists {
        /// What kind of resource.
        resource: Resource,
        /// The unique key that collided (`domain`, `email`, `client_id` …).
        key: &'static str,
    },

    /// A concurrent writer changed the resource first and retrying did not help; the caller may
    /// retry the whole operation.
    #[error("{0} was changed concurrently, retry")]
    Conflict(Resource),

    /// The builder was given an inconsistent configuration.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),

    /// The storage backend failed. Nothing was half-written (see the store contracts).
    #[error("storage failed")]
    Store(#[source] StoreError),

    /// The mailer could not hand a message over.
    #[error("mail delivery failed")]
    Mail(#[from] crate::mail::MailError),

    /// The operating system's random number generator failed; idcore fails closed.
    #[error("the system random number generator failed")]
    Random,

    /// A caller bug that untrusted input can never cause (for example a store adapter that
    /// breaks its contract). The message says what was misused.
    #[error("api misuse: {0}")]
    ApiMisuse(&'static str),
}

impl Error {
    /// The stable machine code of this error, for logs and JSON bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "invalid_request",
            Self::NotFound(_) => "not_found",
            Self::AlreadyExists { .. } => "already_exists",
            Self::Conflict(_) => "conflict",
            Self::Config(_) => "invalid_configuration",
            Self::Store(StoreError::Retryable { .. }) => "conflict",
            Self::Store(_) => "storage_unavailable",
            Self::Mail(_) => "mail_unavailable",
            Self::Random => "server_error",
            Self::ApiMisuse(_) => "server_error",
        }
    }

    /// The HTTP status a host should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidField { .. } => 400,
            Self::NotFound(_) => 404,
            Self::AlreadyExists { .. } | Self::Conflict(_) => 409,
            Self::Store(StoreError::Retryable { .. }) => 409,
            Self::Store(_) | Self::Mail(_) => 503,
            Self::Config(_) | Self::Random | Self::ApiMisuse(_) => 500,
        }
    }

    /// Whether retrying the same call may succeed (a lost race or a serialization failure).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Conflict(_) | Self::Store(StoreError::Retryable { .. })
        )
    }

    pub(crate) fn field(field: &'static str, problem: FieldProblem) -> Self {
        Self::InvalidField { field, problem }
    }
}

impl From<StoreError> for Error {
    /// Store errors that carry no resource context become [`Error::Store`]; services translate
    /// `NotFound` / `AlreadyExists` / `Precondition` themselves where they know the resource.
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// What was wrong with an input field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldProblem {
    /// Required but empty (or only whitespace).
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The maximum, in Unicode code points.
        max: usize,
    },
    /// Outside the allowed numeric range.
    #[error("must be between {min} and {max}")]
    OutOfRange {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// Contains control characters.
    #[error("must not contain control characters")]
    ControlCharacters,
    /// Does not have the required format; the text says which.
    #[error("{0}")]
    Format(&'static str),
}

/// The kinds of resource an [`Error`] can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resource {
    /// An organization.
    Organization,
    /// A user of an organization.
    User,
    /// An application (OAuth client).
    Application,
    /// An audit log event.
    Event,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Organization => "organization",
            Self::User => "user",
            Self::Application => "application",
            Self::Event => "event",
        })
    }
}

/// Why [`IdentityBuilder::build`](crate::IdentityBuilder::build) refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No issuer base URL was given.
    #[error("the issuer base url is required")]
    MissingIssuer,
    /// The issuer base URL is not an absolute https URL without query, fragment or trailing
    /// slash (plain http is allowed only for loopback hosts).
    #[error("issuer base url {0}")]
    Issuer(&'static str),
    /// A lifetime is outside its allowed bounds.
    #[error("{name} lifetime must be between {min_seconds}s and {max_seconds}s")]
    Lifetime {
        /// Which lifetime.
        name: &'static str,
        /// Lower bound in seconds.
        min_seconds: i64,
        /// Upper bound in seconds.
        max_seconds: i64,
    },
    /// Two settings contradict each other; the text says which.
    #[error("{0}")]
    Inconsistent(&'static str),
}
