//! The one error type of idcore, and the one place that maps it to wire codes and HTTP statuses.
//!
//! Every public fallible function returns [`Error`]. Each variant has a stable machine code
//! ([`Error::code`]) and the HTTP status a host should answer with ([`Error::http_status`]);
//! both are mapped in this file and nowhere else.

use std::fmt;

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

    /// An OAuth grant (authorization code or refresh token) is invalid, expired, revoked, was
    /// issued to another client, or was already used. One variant on purpose: the caller learns
    /// nothing more; the audit log keeps the reason.
    #[error("invalid grant")]
    InvalidGrant,

    /// A token is malformed, badly signed, expired, revoked, or not meant for this use.
    #[error("invalid token: {0}")]
    InvalidToken(TokenProblem),

    /// Client authentication failed (unknown client, wrong secret, missing authentication).
    #[error("invalid client")]
    InvalidClient,

    /// The requested scope is broader than the grant.
    #[error("invalid scope")]
    InvalidScope,

    /// The request is missing a parameter or has a malformed one; the text says which.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),

    /// Signing keys cannot be used: no key-encryption key was configured, or it cannot open the
    /// stored keys (wrong key, tampered data).
    #[error("signing keys unavailable: {0}")]
    Keys(&'static str),

    /// The builder was given an inconsistent configuration.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),

    /// The storage backend failed. Nothing was half-written (see the store contracts).
    #[error("storage failed")]
    Store(#[source] StoreError),

    /// The mailer could not hand a message over.
    #[error("mail delivery failed")]
    Mail(#[from] MailError),

    /// The operating system's random number generator failed; idcore fails closed.
    #[error("the system random number generator failed")]
    Random,

    /// Sign-in failed. One variant on purpose, whatever the cause: unknown user, wrong password,
    /// wrong or replayed second factor, locked account or address, a risk decision of Decline,
    /// an expired pending sign-in. The audit log keeps the real reason.
    #[error("sign-in failed")]
    SignInFailed,

    /// A verification code (e-mail code, TOTP code during enrolment) is wrong, expired, already
    /// used, was not sent to this address for this purpose, or its attempts are exhausted. One
    /// variant on purpose; the audit log keeps the reason.
    #[error("invalid or expired code")]
    InvalidCode,

    /// The password was right but the account's e-mail address is not verified yet.
    #[error("the e-mail address is not verified")]
    EmailNotVerified,

    /// The action is not allowed for this account; the text says which rule refused it (for
    /// example unregistering the organization's admin account).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),

    /// Too many requests of this kind for now (e-mail codes sent); retry later.
    #[error("too many requests, retry later")]
    RateLimited,

    /// A dependency the host supplied failed (the risk engine, the breached-password check, the
    /// hashing offload). idcore fails closed: nothing was granted.
    #[error("{0} unavailable")]
    Unavailable(&'static str),

    /// A session token is unknown, expired or ended, or was presented with validation factors
    /// that do not match the session's. One variant on purpose; the audit log keeps the reason.
    #[error("invalid or expired session")]
    InvalidSession,

    /// The user holds as many sessions as the configured limit allows, and the limit refuses
    /// new ones (rather than ending the oldest).
    #[error("the user's session limit is reached")]
    SessionLimitReached,

    /// An SSO connection's identity provider could not be used: unreachable, or its discovery
    /// document, keys or token answer are not usable. The text says what, for the host's logs.
    #[error("the identity provider failed: {0}")]
    IdentityProvider(String),

    /// Every seat of the SSO connection (`seats_limit` simultaneous SSO sessions under the
    /// `seats_limited` policy) is taken; a seat frees when a session ends.
    #[error("every seat of the SSO connection is taken")]
    SeatsLimitReached,

    /// A signed request was refused: a malformed or missing signature parameter, an unknown,
    /// revoked or expired key, a key of another organization or environment, a timestamp
    /// outside the allowed skew, a signature that does not verify, or a replay. One variant on
    /// purpose: the caller learns nothing more; the audit log keeps the reason
    /// (`SIGNATURE_REJECTED` / `SIGNATURE_REPLAYED`).
    #[error("invalid signature")]
    SignatureRejected,

    /// A metakey name is a claim that a standard or idcore reserves (`iss`, `email`, `uid` …).
    #[error("the claim name {0:?} is reserved")]
    ReservedClaimName(String),

    /// A required metakey has no value for the user, so no token can be issued until an
    /// administrator sets one (the key is named; the audit log records it too).
    #[error("the required metadata {key:?} has no value for this user")]
    MetadataRequired {
        /// The metakey's name.
        key: String,
    },

    /// A write would make the user's tokens larger than idcore issues: the named budget
    /// (`metadata`, `attributes` or `roles`, see [`crate::claims`]) is spent.
    #[error("the {budget} of the tokens would exceed {limit} bytes")]
    ClaimsTooLarge {
        /// Which budget.
        budget: &'static str,
        /// Its size in bytes.
        limit: usize,
    },

    /// Too many of something per organization (metakeys, role definitions).
    #[error("at most {limit} {what} per organization")]
    LimitReached {
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: usize,
    },

    /// A caller bug that untrusted input can never cause (for example a store adapter that
    /// breaks its contract). The message says what was misused.
    #[error("api misuse: {0}")]
    ApiMisuse(&'static str),
}

impl Error {
    /// The stable machine code of this error, for logs and JSON bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } | Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidToken(_) => "invalid_token",
            Self::InvalidClient => "invalid_client",
            Self::InvalidScope => "invalid_scope",
            Self::Keys(_) => "server_error",
            Self::NotFound(_) => "not_found",
            Self::AlreadyExists { .. } => "already_exists",
            Self::Conflict(_) => "conflict",
            Self::Config(_) => "invalid_configuration",
            Self::Store(StoreError::Retryable { .. } | StoreError::Precondition) => "conflict",
            // A unique key or a missing record the service did not translate is still the
            // caller's conflict or miss, never "the database is down".
            Self::Store(StoreError::AlreadyExists { .. }) => "already_exists",
            Self::Store(StoreError::NotFound) => "not_found",
            Self::Store(_) => "storage_unavailable",
            Self::Mail(_) => "mail_unavailable",
            Self::Random => "server_error",
            Self::ApiMisuse(_) => "server_error",
            Self::SignInFailed => "access_denied",
            Self::SignatureRejected => "invalid_signature",
            Self::InvalidCode => "invalid_code",
            Self::EmailNotVerified => "email_not_verified",
            Self::Forbidden(_) => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::InvalidSession => "invalid_session",
            Self::SessionLimitReached => "session_limit_reached",
            Self::SeatsLimitReached => "seats_limit_reached",
            Self::IdentityProvider(_) => "identity_provider_error",
            Self::ReservedClaimName(_) => "reserved_claim_name",
            Self::MetadataRequired { .. } => "metadata_required",
            Self::ClaimsTooLarge { .. } => "claims_too_large",
            Self::LimitReached { .. } => "limit_reached",
        }
    }

    /// The HTTP status a host should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidField { .. } | Self::InvalidRequest(_) => 400,
            Self::InvalidGrant | Self::InvalidScope => 400,
            Self::InvalidToken(_) | Self::InvalidClient => 401,
            Self::Keys(_) => 500,
            Self::NotFound(_) => 404,
            Self::AlreadyExists { .. } | Self::Conflict(_) => 409,
            Self::Store(StoreError::Retryable { .. } | StoreError::Precondition) => 409,
            Self::Store(StoreError::AlreadyExists { .. }) => 409,
            Self::Store(StoreError::NotFound) => 404,
            Self::Store(_) | Self::Mail(_) => 503,
            Self::Config(_) | Self::Random | Self::ApiMisuse(_) => 500,
            Self::SignInFailed | Self::SignatureRejected => 401,
            Self::InvalidCode => 400,
            Self::EmailNotVerified | Self::Forbidden(_) => 403,
            Self::RateLimited => 429,
            Self::Unavailable(_) => 503,
            Self::InvalidSession => 404,
            Self::SessionLimitReached | Self::SeatsLimitReached => 403,
            Self::IdentityProvider(_) => 502,
            Self::ReservedClaimName(_) | Self::ClaimsTooLarge { .. } => 400,
            Self::MetadataRequired { .. } => 403,
            Self::LimitReached { .. } => 409,
        }
    }

    /// Whether retrying the same call may succeed (a lost race or a serialization failure).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Conflict(_)
                | Self::Store(StoreError::Retryable { .. } | StoreError::Precondition)
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
    /// Shorter than allowed.
    #[error("must be at least {min} characters")]
    TooShort {
        /// The minimum, in Unicode code points.
        min: usize,
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

/// Why a token was refused. Hosts may log it; the wire answer is only `invalid_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenProblem {
    /// Not a well-formed compact JWS (segments, base64url, JSON, size).
    #[error("malformed")]
    Malformed,
    /// The header is unacceptable (`alg` none or not the key's, `crit`, embedded keys …).
    #[error("unacceptable header")]
    Header,
    /// No key with this `kid` verifies tokens of this organization.
    #[error("unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// A required claim is missing or has the wrong type.
    #[error("missing or malformed claim")]
    Claims,
    /// Issued by another issuer (another organization, environment or deployment).
    #[error("wrong issuer")]
    Issuer,
    /// Meant for another audience.
    #[error("wrong audience")]
    Audience,
    /// Not this kind of token (an ID token presented as an access token …).
    #[error("wrong token type")]
    Type,
    /// Past `exp` (beyond the leeway).
    #[error("expired")]
    Expired,
    /// Before `nbf` (beyond the leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// Revoked (by itself, its grant, its user or its client).
    #[error("revoked")]
    Revoked,
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
    /// A signing key (its `kid`, the RFC 7638 thumbprint of its public key).
    SigningKey,
    /// An API key of an organization.
    ApiKey,
    /// A metakey of an organization.
    MetaKey,
    /// A user's value for a metakey.
    Metadata,
    /// A role definition of an organization.
    Role,
    /// An SSO connection of an organization.
    SsoConnection,
    /// The admin onboarding of an SSO connection.
    Onboarding,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Organization => "organization",
            Self::User => "user",
            Self::Application => "application",
            Self::Event => "event",
            Self::SigningKey => "signing key",
            Self::ApiKey => "api key",
            Self::MetaKey => "metakey",
            Self::Metadata => "metadata",
            Self::Role => "role",
            Self::SsoConnection => "sso connection",
            Self::Onboarding => "sso admin onboarding",
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

/// What a store can answer besides success.
///
/// Expected protocol outcomes (a code already taken, a counter at its limit) are *not* errors:
/// they are the `Ok` enums of the primitives ([`Take`](crate::store::Take), [`Rotation`](crate::store::Rotation), [`Counted`](crate::store::Counted) …). Errors are
/// for unique-key conflicts, missing records on update, lost conditional writes, and failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record to update or delete does not exist (in this environment).
    #[error("not found")]
    NotFound,
    /// A unique key is taken. `key` names it: `domain`, `email`, `id`, `client_id`, `key`,
    /// `username`, `user` …
    #[error("{key} already exists")]
    AlreadyExists {
        /// Which unique key collided.
        key: &'static str,
    },
    /// A conditional write lost: the record's version is not the expected one.
    #[error("precondition failed: the record changed")]
    Precondition,
    /// A transient conflict (a serialization failure, a deadlock victim); the same call may be
    /// retried and nothing was written.
    #[error("transient conflict, retry")]
    Retryable {
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The backend failed; nothing was written (or the write is all-or-nothing and did not happen).
    #[error("storage backend failed")]
    Backend {
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend {
            source: Box::new(source),
        }
    }
}

/// The mailer could not accept a message.
#[derive(Debug, thiserror::Error)]
#[error("the mailer refused the message")]
pub struct MailError {
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl MailError {
    /// Wraps the delivery backend's error.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Some(Box::new(source)),
        }
    }
}
