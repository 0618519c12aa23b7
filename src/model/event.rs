//! Audit log events (seed 001 "Log Events"): recorded by every mutation, queried newest first.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::fields::Email;

use crate::error::FieldProblem;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};

/// The type of an event, a SCREAMING_SNAKE_CASE code such as `SSO_END_USER_SAML_STARTED`.
///
/// The codes idcore records are associated constants; hosts may record their own with
/// [`EventCode::parse`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct EventCode(Cow<'static, str>);

impl EventCode {
    /// An organization was created.
    pub const ORGANIZATION_CREATED: Self = Self::constant("ORGANIZATION_CREATED");
    /// An organization was updated.
    pub const ORGANIZATION_UPDATED: Self = Self::constant("ORGANIZATION_UPDATED");
    /// An organization was deleted.
    pub const ORGANIZATION_DELETED: Self = Self::constant("ORGANIZATION_DELETED");
    /// A user was created.
    pub const USER_CREATED: Self = Self::constant("USER_CREATED");
    /// A user was updated.
    pub const USER_UPDATED: Self = Self::constant("USER_UPDATED");
    /// A user was disabled; every token of the user was revoked.
    pub const USER_DISABLED: Self = Self::constant("USER_DISABLED");
    /// A disabled user was enabled again.
    pub const USER_ENABLED: Self = Self::constant("USER_ENABLED");
    /// An application was created.
    pub const APPLICATION_CREATED: Self = Self::constant("APPLICATION_CREATED");
    /// An application was updated.
    pub const APPLICATION_UPDATED: Self = Self::constant("APPLICATION_UPDATED");
    /// An application's client secret was replaced.
    pub const APPLICATION_SECRET_ROTATED: Self = Self::constant("APPLICATION_SECRET_ROTATED");
    /// An application was deleted.
    pub const APPLICATION_DELETED: Self = Self::constant("APPLICATION_DELETED");
    /// An authorization code was exchanged for tokens.
    pub const TOKENS_ISSUED: Self = Self::constant("TOKENS_ISSUED");
    /// A code exchange was refused after the code was found (wrong client, redirect or verifier).
    pub const TOKEN_EXCHANGE_FAILED: Self = Self::constant("TOKEN_EXCHANGE_FAILED");
    /// A refresh token was rotated.
    pub const TOKENS_REFRESHED: Self = Self::constant("TOKENS_REFRESHED");
    /// A refresh token rotated moments ago was presented again within the reuse interval and
    /// got the same successor (details: `grant`, `rotated_at`).
    pub const TOKENS_REFRESH_REPEATED: Self = Self::constant("TOKENS_REFRESH_REPEATED");
    /// A used authorization code or rotated refresh token was presented again; its grant was revoked.
    pub const TOKEN_REUSE_DETECTED: Self = Self::constant("TOKEN_REUSE_DETECTED");
    /// A token or a grant was revoked.
    pub const TOKEN_REVOKED: Self = Self::constant("TOKEN_REVOKED");
    /// Every token of a user was revoked (global sign-out).
    pub const GLOBAL_SIGN_OUT: Self = Self::constant("GLOBAL_SIGN_OUT");
    /// Every token of a client was revoked.
    pub const CLIENT_TOKENS_REVOKED: Self = Self::constant("CLIENT_TOKENS_REVOKED");
    /// A client reached for a code, grant or token of another client or organization, and was
    /// refused (`details.action` says how; `tenant_domain` is the token's organization,
    /// `client_id` the caller, `details.token_client_id` the token's client).
    pub const CROSS_TENANT_DENIED: Self = Self::constant("CROSS_TENANT_DENIED");
    /// An organization's signing key was rotated.
    pub const SIGNING_KEY_ROTATED: Self = Self::constant("SIGNING_KEY_ROTATED");
    /// An SSO (SAML) sign-in started (seed 001).
    pub const SSO_END_USER_SAML_STARTED: Self = Self::constant("SSO_END_USER_SAML_STARTED");
    /// An SSO (SAML) sign-in succeeded (seed 001).
    pub const SSO_END_USER_SAML_SUCCESS: Self = Self::constant("SSO_END_USER_SAML_SUCCESS");

    /// A sign-in succeeded: an authorization code was issued (details: `amr`, `risk_decision`).
    pub const SIGN_IN_SUCCEEDED: Self = Self::constant("SIGN_IN_SUCCEEDED");
    /// A sign-in failed (details: `reason`, the real one; the caller only saw `access_denied`).
    pub const SIGN_IN_FAILED: Self = Self::constant("SIGN_IN_FAILED");
    /// A second factor or risk challenge was asked for (details: `factors`, `risk_decision`).
    pub const MFA_CHALLENGED: Self = Self::constant("MFA_CHALLENGED");
    /// A second factor passed (details: `factor`).
    pub const MFA_SUCCEEDED: Self = Self::constant("MFA_SUCCEEDED");
    /// A second factor failed (details: `reason`).
    pub const MFA_FAILED: Self = Self::constant("MFA_FAILED");
    /// A user or login used its last allowed failed attempt of the lockout window.
    pub const ACCOUNT_LOCKED: Self = Self::constant("ACCOUNT_LOCKED");
    /// The risk engine decided (details: `action`, `decision`, `risk_response_code`, `reasons`,
    /// or `error`).
    pub const RISK_DECISION: Self = Self::constant("RISK_DECISION");
    /// A password was set (sign-up excepted) or imported (details: `how`).
    pub const PASSWORD_SET: Self = Self::constant("PASSWORD_SET");
    /// A user changed its password.
    pub const PASSWORD_CHANGED: Self = Self::constant("PASSWORD_CHANGED");
    /// A password change was refused (details: `reason`).
    pub const PASSWORD_CHANGE_FAILED: Self = Self::constant("PASSWORD_CHANGE_FAILED");
    /// A password hash with old parameters was replaced at sign-in.
    pub const PASSWORD_REHASHED: Self = Self::constant("PASSWORD_REHASHED");
    /// The password hashing offload could not run a hash or a verification (details:
    /// `operation`): the call answered `Unavailable` and changed nothing.
    pub const PASSWORD_HASHING_UNAVAILABLE: Self = Self::constant("PASSWORD_HASHING_UNAVAILABLE");
    /// An e-mail code was sent (details: `purpose`).
    pub const EMAIL_CODE_SENT: Self = Self::constant("EMAIL_CODE_SENT");
    /// An e-mail code was refused (details: `reason`).
    pub const EMAIL_CODE_FAILED: Self = Self::constant("EMAIL_CODE_FAILED");
    /// A user's e-mail address was verified.
    pub const EMAIL_VERIFIED: Self = Self::constant("EMAIL_VERIFIED");
    /// A user asked to change its e-mail address (details: `new_email`).
    pub const EMAIL_CHANGE_REQUESTED: Self = Self::constant("EMAIL_CHANGE_REQUESTED");
    /// A user's e-mail address changed, once the new one was verified (details: `old_email`).
    pub const EMAIL_CHANGED: Self = Self::constant("EMAIL_CHANGED");
    /// An authenticator enrolment started.
    pub const TOTP_ENROLMENT_STARTED: Self = Self::constant("TOTP_ENROLMENT_STARTED");
    /// An authenticator was enrolled (confirmed by a first valid code).
    pub const TOTP_ENROLLED: Self = Self::constant("TOTP_ENROLLED");
    /// New recovery codes were issued; older ones stopped working.
    pub const RECOVERY_CODES_GENERATED: Self = Self::constant("RECOVERY_CODES_GENERATED");
    /// An enrolled authenticator was removed after a fresh authentication; its recovery codes
    /// stopped working with it.
    pub const AUTHENTICATOR_REMOVED: Self = Self::constant("AUTHENTICATOR_REMOVED");
    /// A fresh authentication asked before a sensitive change failed (details: `reason`); it
    /// counts as a failed guess toward the lockout.
    pub const REAUTHENTICATION_FAILED: Self = Self::constant("REAUTHENTICATION_FAILED");
    /// A recovery code was used.
    pub const RECOVERY_CODE_USED: Self = Self::constant("RECOVERY_CODE_USED");
    /// A user's role changed (details: `role`).
    pub const ROLE_CHANGED: Self = Self::constant("ROLE_CHANGED");
    /// A user was deleted (unregistered): who asked and why in the details (`requested_by`,
    /// `reason`).
    pub const USER_DELETED: Self = Self::constant("USER_DELETED");
    /// A user deletion was refused (details: `reason`, `requested_by`).
    pub const USER_DELETION_REFUSED: Self = Self::constant("USER_DELETION_REFUSED");

    /// A session was opened (details: `session_id`, `how` = `password` or `trusted`,
    /// `factors`: the bound factor names).
    pub const SESSION_CREATED: Self = Self::constant("SESSION_CREATED");
    /// An authentication found an ongoing session with the same user and factors, and answered
    /// it (details: `session_id`).
    pub const SESSION_REUSED: Self = Self::constant("SESSION_REUSED");
    /// A session was presented with validation factors that do not match its own, and was
    /// refused (details: `session_id`, `reason`, `factor`).
    pub const SESSION_FACTORS_MISMATCH: Self = Self::constant("SESSION_FACTORS_MISMATCH");
    /// A session was ended (details: `session_id`, `how`: `invalidated`, `by_user`).
    pub const SESSION_INVALIDATED: Self = Self::constant("SESSION_INVALIDATED");
    /// Every session of a user was ended but one (details: `count`, `except`).
    pub const SESSIONS_ENDED: Self = Self::constant("SESSIONS_ENDED");
    /// A user's oldest session was ended to make room under the session limit (details:
    /// `session_id`).
    pub const SESSION_EVICTED: Self = Self::constant("SESSION_EVICTED");
    /// A new session was refused: the user holds the most the limit allows (details: `limit`).
    pub const SESSION_LIMIT_REACHED: Self = Self::constant("SESSION_LIMIT_REACHED");
    /// An account owner deleted every token of a user (apstrata DeleteToken; details:
    /// `requested_by`).
    pub const USER_TOKENS_DELETED: Self = Self::constant("USER_TOKENS_DELETED");

    // API keys and signed requests (the `signing` service).
    /// An API key was created (details: `key_id`, `role`).
    pub const API_KEY_CREATED: Self = Self::constant("API_KEY_CREATED");
    /// An API key's secret was rotated (details: `key_id`, `previous_expires_at`).
    pub const API_KEY_ROTATED: Self = Self::constant("API_KEY_ROTATED");
    /// An API key was revoked (details: `key_id`).
    pub const API_KEY_REVOKED: Self = Self::constant("API_KEY_REVOKED");
    /// A signed request was refused (details: `reason`, the real one — the caller only saw
    /// `invalid_signature` — and `key_id`, `scheme` when the request named them).
    pub const SIGNATURE_REJECTED: Self = Self::constant("SIGNATURE_REJECTED");
    /// A signed request that had already been accepted was presented again, and refused
    /// (details: `key_id`, `scheme`).
    pub const SIGNATURE_REPLAYED: Self = Self::constant("SIGNATURE_REPLAYED");

    // Custom claims (the `claims` service).
    /// A metakey was created (details: `key_name`, `type`, `required`).
    pub const METAKEY_CREATED: Self = Self::constant("METAKEY_CREATED");
    /// A metakey was removed; its values leave every next token (details: `key_name`).
    pub const METAKEY_REMOVED: Self = Self::constant("METAKEY_REMOVED");
    /// A user's value for a metakey was set (details: `key_name`).
    pub const METADATA_SET: Self = Self::constant("METADATA_SET");
    /// A user's value for a metakey was removed (details: `key_name`).
    pub const METADATA_REMOVED: Self = Self::constant("METADATA_REMOVED");
    /// A user's RBAC attributes were updated (details: `fields`, the lists that changed).
    pub const USER_ATTRIBUTES_UPDATED: Self = Self::constant("USER_ATTRIBUTES_UPDATED");
    /// A role definition was created or changed (details: `role`, `actions`: their count).
    pub const ROLE_DEFINED: Self = Self::constant("ROLE_DEFINED");
    /// A role definition was removed (details: `role`).
    pub const ROLE_REMOVED: Self = Self::constant("ROLE_REMOVED");
    /// Tokens were refused because a required metakey has no value for the user (details:
    /// `key_name`).
    pub const TOKENS_DENIED_METADATA_REQUIRED: Self =
        Self::constant("TOKENS_DENIED_METADATA_REQUIRED");

    // SSO connections (the `sso` service); every event names the connection (`idp_id`).
    /// An SSO connection was created (details: `idp_id`, `provider_type`).
    pub const SSO_CONNECTION_CREATED: Self = Self::constant("SSO_CONNECTION_CREATED");
    /// An SSO connection was changed (details: `idp_id`, `fields`: the names that changed).
    pub const SSO_CONNECTION_UPDATED: Self = Self::constant("SSO_CONNECTION_UPDATED");
    /// An SSO connection was activated (details: `idp_id`).
    pub const SSO_CONNECTION_ACTIVATED: Self = Self::constant("SSO_CONNECTION_ACTIVATED");
    /// An SSO connection was disabled (details: `idp_id`).
    pub const SSO_CONNECTION_DISABLED: Self = Self::constant("SSO_CONNECTION_DISABLED");
    /// A connection's default redirection was set (details: `idp_id`, `app_id`).
    pub const SSO_DEFAULT_REDIRECTION_SET: Self = Self::constant("SSO_DEFAULT_REDIRECTION_SET");
    /// A connection's admin onboarding was created or changed (details: `idp_id`, `fields`).
    pub const SSO_ONBOARDING_UPDATED: Self = Self::constant("SSO_ONBOARDING_UPDATED");
    /// A connection's admin onboarding was reset (details: `idp_id`).
    pub const SSO_ONBOARDING_RESET: Self = Self::constant("SSO_ONBOARDING_RESET");
    /// A magic link was sent to a connection's SSO administrator (details: `idp_id`).
    pub const SSO_ADMIN_INVITED: Self = Self::constant("SSO_ADMIN_INVITED");
    /// An SSO administrator's magic link was used (details: `idp_id`).
    pub const SSO_ADMIN_LINK_USED: Self = Self::constant("SSO_ADMIN_LINK_USED");
    /// A user signed in through an SSO connection (details: `idp_id`, `provisioned`: `true`
    /// when the user was created by this sign-in; `saml_identity_provider_id` is the
    /// connection).
    pub const SSO_SIGN_IN: Self = Self::constant("SSO_SIGN_IN");
    /// A sign-in through an SSO connection was refused (details: `idp_id`, `reason`:
    /// `connection_disabled`, `email_not_verified`, `user_not_registered`, `user_disabled`,
    /// `seats_limit_reached`).
    pub const SSO_SIGN_IN_REFUSED: Self = Self::constant("SSO_SIGN_IN_REFUSED");
    /// A magic link was refused: unknown, expired or used (no details: nothing is known).
    pub const SSO_ADMIN_LINK_REFUSED: Self = Self::constant("SSO_ADMIN_LINK_REFUSED");

    const fn constant(code: &'static str) -> Self {
        Self(Cow::Borrowed(code))
    }

    /// Parses a code: 1 to 64 characters of `A-Z`, `0-9` and `_`, starting with a letter.
    ///
    /// # Errors
    /// [`FieldProblem::Format`] for anything else.
    pub fn parse(s: &str) -> Result<Self, FieldProblem> {
        let ok = (1..=64).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(FieldProblem::Format(
                "must be an UPPER_SNAKE_CASE event code",
            ));
        }
        Ok(Self(Cow::Owned(s.to_owned())))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for EventCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EventCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An event to record. The store assigns its `id`.
#[derive(Clone, PartialEq, Debug)]
pub struct NewEvent {
    /// What happened.
    pub event_code: EventCode,
    /// The organization it happened in, if any.
    pub tenant_domain: Option<OrgDomain>,
    /// The application involved, if any.
    pub client_id: Option<ClientId>,
    /// The e-mail of the user involved, if any.
    pub email: Option<Email>,
    /// The user involved, if any.
    pub resource_owner_id: Option<UserId>,
    /// The SSO identity provider involved, if any.
    pub saml_identity_provider_id: Option<String>,
    /// When it happened.
    pub inserted_at: OffsetDateTime,
    /// Internal details (the real reason of a refusal, the fields changed …). Never shown to the
    /// party that caused the event.
    pub details: BTreeMap<String, String>,
}

impl NewEvent {
    /// An event with only a code and a time.
    pub fn new(event_code: EventCode, inserted_at: OffsetDateTime) -> Self {
        Self {
            event_code,
            tenant_domain: None,
            client_id: None,
            email: None,
            resource_owner_id: None,
            saml_identity_provider_id: None,
            inserted_at,
            details: BTreeMap::new(),
        }
    }

    /// Sets the organization.
    pub fn tenant(mut self, domain: &OrgDomain) -> Self {
        self.tenant_domain = Some(domain.clone());
        self
    }

    /// Sets the application.
    pub fn client(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Sets the user.
    pub fn user(mut self, id: UserId, email: &Email) -> Self {
        self.resource_owner_id = Some(id);
        self.email = Some(email.clone());
        self
    }

    /// Adds an internal detail.
    pub fn detail(mut self, key: &str, value: impl Into<String>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

/// A recorded event, in the seed's shape.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "__type__", rename = "Event")]
pub struct Event {
    /// Increasing integer id.
    pub id: i64,
    /// What happened.
    pub event_code: EventCode,
    /// The organization it happened in.
    pub tenant_domain: Option<OrgDomain>,
    /// The environment (`sandbox` / `production`).
    pub database: Environment,
    /// The application involved.
    pub client_id: Option<ClientId>,
    /// The e-mail of the user involved.
    pub email: Option<Email>,
    /// The user involved.
    pub resource_owner_id: Option<UserId>,
    /// The SSO identity provider involved.
    pub saml_identity_provider_id: Option<String>,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub inserted_at: OffsetDateTime,
    /// Internal details; hosts decide whom they show these to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

impl Event {
    /// The stored form of a new event.
    pub fn from_new(id: i64, database: Environment, event: &NewEvent) -> Self {
        Self {
            id,
            event_code: event.event_code.clone(),
            tenant_domain: event.tenant_domain.clone(),
            database,
            client_id: event.client_id,
            email: event.email.clone(),
            resource_owner_id: event.resource_owner_id,
            saml_identity_provider_id: event.saml_identity_provider_id.clone(),
            inserted_at: event.inserted_at,
            details: event.details.clone(),
        }
    }
}

/// Filters for [`Events::list`](crate::audit::Events::list); each filter that is set must match.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct EventQuery {
    /// Only this organization's events (`None`: every organization's, and the global ones).
    pub tenant_domain: Option<OrgDomain>,
    /// Only this code.
    pub code: Option<EventCode>,
    /// Only this application.
    pub client_id: Option<ClientId>,
    /// Only this SSO identity provider.
    pub saml_identity_provider_id: Option<String>,
}

impl EventQuery {
    /// Events of one organization.
    pub fn tenant(domain: &OrgDomain) -> Self {
        Self {
            tenant_domain: Some(domain.clone()),
            ..Self::default()
        }
    }

    /// Only events with this code.
    pub fn code(mut self, code: EventCode) -> Self {
        self.code = Some(code);
        self
    }

    /// Only events of this application.
    pub fn client_id(mut self, client_id: ClientId) -> Self {
        self.client_id = Some(client_id);
        self
    }

    /// Only events of this SSO identity provider.
    pub fn saml_identity_provider_id(mut self, id: impl Into<String>) -> Self {
        self.saml_identity_provider_id = Some(id.into());
        self
    }

    /// Whether `event` passes every filter.
    pub fn matches(&self, event: &Event) -> bool {
        self.tenant_domain
            .as_ref()
            .is_none_or(|t| event.tenant_domain.as_ref() == Some(t))
            && self.code.as_ref().is_none_or(|c| &event.event_code == c)
            && self.client_id.is_none_or(|c| event.client_id == Some(c))
            && self
                .saml_identity_provider_id
                .as_ref()
                .is_none_or(|s| event.saml_identity_provider_id.as_ref() == Some(s))
    }
}

impl crate::page::Keyed for Event {
    fn cursor(&self) -> crate::page::Cursor {
        crate::page::Cursor::event(self.id)
    }
}
