//! Rows back into records. Every value goes through the type's own parser (a row is data from
//! outside, like any input); a value that does not parse, a NULL where a value is required, or a
//! number out of range answers [`StoreError::Backend`] naming the column — never a panic.

use std::fmt;

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;
use uuid::Uuid;

use super::StoreError;
use crate::FieldProblem;
use crate::crypto::password::check_password_hash;
use crate::model::application::{Application, ApplicationScope, ApplicationType, TokenValidity};
use crate::model::event::{Event, EventCode};
use crate::model::fields::{
    Birthdate, CountryCode, Email, Gender, HexColor, HttpUrl, Locale, Name, Origin, PhoneNumber,
    RedirectUri, Text, ZoneInfo,
};
use crate::model::ids::{ClientId, Environment, OrgDomain, OrganizationId, UserId};
use crate::model::organization::Organization;
use crate::model::user::{Address, MetadataEntry, Profile, User};
use crate::model::username::Username;
use crate::secret::Digest;
use crate::store::{
    AccountRole, AccountStatus, CredentialRecord, FamilyId, RefreshState, RefreshTokenRecord,
    SealedTotp,
};

/// A stored value that is not what the schema promises.
#[derive(Debug)]
pub(super) struct BadColumn {
    column: &'static str,
    problem: String,
}

impl fmt::Display for BadColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {} holds an invalid value: {}",
            self.column, self.problem
        )
    }
}

impl std::error::Error for BadColumn {}

pub(super) fn bad(column: &'static str, problem: impl fmt::Display) -> StoreError {
    StoreError::backend(BadColumn {
        column,
        problem: problem.to_string(),
    })
}

/// The value of `column`, as `T`.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &'static str) -> Result<T, StoreError> {
    row.try_get(column).map_err(|e| bad(column, e))
}

/// The text of `column`, parsed.
pub(super) fn parse<T>(
    row: &Row,
    column: &'static str,
    parser: impl FnOnce(&str) -> Result<T, FieldProblem>,
) -> Result<T, StoreError> {
    let text: &str = get(row, column)?;
    parser(text).map_err(|p| bad(column, p))
}

/// The text of a nullable `column`, parsed.
fn parse_opt<T>(
    row: &Row,
    column: &'static str,
    parser: impl FnOnce(&str) -> Result<T, FieldProblem>,
) -> Result<Option<T>, StoreError> {
    let text: Option<&str> = get(row, column)?;
    text.map(parser).transpose().map_err(|p| bad(column, p))
}

/// Every element of a `TEXT[]` column, parsed.
fn parse_list<T>(
    row: &Row,
    column: &'static str,
    parser: impl Fn(&str) -> Result<T, FieldProblem>,
) -> Result<Vec<T>, StoreError> {
    let items: Vec<&str> = get(row, column)?;
    items
        .into_iter()
        .map(|s| parser(s).map_err(|p| bad(column, p)))
        .collect()
}

/// A JSON document stored as text.
fn json<T: serde::de::DeserializeOwned>(row: &Row, column: &'static str) -> Result<T, StoreError> {
    let text: &str = get(row, column)?;
    serde_json::from_str(text).map_err(|e| bad(column, e))
}

/// A nullable JSON document stored as text.
fn opt_json<T: serde::de::DeserializeOwned>(
    row: &Row,
    column: &'static str,
) -> Result<Option<T>, StoreError> {
    let text: Option<&str> = get(row, column)?;
    text.map(|t| serde_json::from_str(t).map_err(|e| bad(column, e)))
        .transpose()
}

/// A version (`BIGINT`, never negative) as `u64`.
fn version(row: &Row) -> Result<u64, StoreError> {
    let v: i64 = get(row, "version")?;
    u64::try_from(v).map_err(|e| bad("version", e))
}

/// A `BYTEA` SHA-256 digest.
pub(super) fn digest(row: &Row, column: &'static str) -> Result<Digest, StoreError> {
    let bytes: &[u8] = get(row, column)?;
    digest_of(column, bytes)
}

fn digest_of(column: &'static str, bytes: &[u8]) -> Result<Digest, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(Digest::from_bytes)
        .map_err(|_| {
            bad(
                column,
                format!("{} bytes, not a 32-byte digest", bytes.len()),
            )
        })
}

fn environment(row: &Row) -> Result<Environment, StoreError> {
    parse(row, "env", Environment::parse)
}

/// A `u64` parameter for a `BIGINT` column that the contract bounds far below `i64::MAX`
/// (versions, generations); a larger one is refused rather than wrapped.
pub(super) fn to_i64(column: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|e| bad(column, e))
}

/// Decodes a row of `organizations`.
pub(super) fn organization(row: &Row) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: OrganizationId::from_uuid(get(row, "id")?),
        domain: parse(row, "domain", OrgDomain::parse)?,
        environment: environment(row)?,
        managed_by: parse(row, "managed_by", Name::parse)?,
        name: parse(row, "name", Name::parse)?,
        locality: parse_opt(row, "locality", Name::parse)?,
        state: parse_opt(row, "state", Name::parse)?,
        country_name: parse_opt(row, "country_name", CountryCode::parse)?,
        privacy_policy_url: parse_opt(row, "privacy_policy_url", HttpUrl::parse)?,
        terms_of_service_url: parse_opt(row, "terms_of_service_url", HttpUrl::parse)?,
        inserted_at: get(row, "inserted_at")?,
        updated_at: get(row, "updated_at")?,
        deleted_at: get(row, "deleted_at")?,
        version: version(row)?,
    })
}

/// Decodes a row of `users`.
pub(super) fn user(row: &Row) -> Result<User, StoreError> {
    let birthdate: Option<time::Date> = get(row, "birthdate")?;
    let birthdate = birthdate
        .map(|d| {
            let text = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            Birthdate::parse(&text).map_err(|p| bad("birthdate", p))
        })
        .transpose()?;
    let address: Option<&str> = get(row, "address")?;
    let address = address
        .map(|text| serde_json::from_str::<Address>(text).map_err(|e| bad("address", e)))
        .transpose()?;
    let metadata: Vec<MetadataEntry> = json(row, "metadata")?;
    Ok(User {
        id: UserId::from_uuid(get(row, "id")?),
        org: parse(row, "org", OrgDomain::parse)?,
        environment: environment(row)?,
        managed_by: parse(row, "managed_by", Name::parse)?,
        profile: Profile {
            email: parse(row, "email", Email::parse)?,
            email_verified: get(row, "email_verified")?,
            name: parse_opt(row, "name", Name::parse)?,
            given_name: parse_opt(row, "given_name", Name::parse)?,
            family_name: parse_opt(row, "family_name", Name::parse)?,
            middle_name: parse_opt(row, "middle_name", Name::parse)?,
            nickname: parse_opt(row, "nickname", Name::parse)?,
            preferred_username: parse_opt(row, "preferred_username", Name::parse)?,
            profile: parse_opt(row, "profile", HttpUrl::parse)?,
            picture: parse_opt(row, "picture", HttpUrl::parse)?,
            website: parse_opt(row, "website", HttpUrl::parse)?,
            gender: parse_opt(row, "gender", Gender::parse)?,
            birthdate,
            zoneinfo: parse_opt(row, "zoneinfo", ZoneInfo::parse)?,
            locale: parse_opt(row, "locale", Locale::parse)?,
            phone_number: parse_opt(row, "phone_number", PhoneNumber::parse)?,
            phone_number_verified: get(row, "phone_number_verified")?,
            address,
        },
        metadata,
        rbac: json(row, "rbac")?,
        federation: opt_json(row, "federation")?,
        active: get(row, "active")?,
        avatar_hexa_color: parse(row, "avatar_hexa_color", HexColor::parse)?,
        inserted_at: get(row, "inserted_at")?,
        updated_at: get(row, "updated_at")?,
        version: version(row)?,
    })
}

/// The `scope` column of an application: `''` for a global one, else the domain.
pub(super) fn scope_str(scope: &ApplicationScope) -> &str {
    match scope {
        ApplicationScope::Global => "",
        ApplicationScope::Organization(domain) => domain.as_str(),
    }
}

/// The wire name of an application type, as stored.
pub(super) fn application_type_str(t: ApplicationType) -> &'static str {
    match t {
        ApplicationType::React => "react",
        ApplicationType::Vue => "vue",
        ApplicationType::Angular => "angular",
        ApplicationType::RegularWeb => "regular_web",
        ApplicationType::Service => "service",
    }
}

/// Decodes a row of `applications`.
pub(super) fn application(row: &Row) -> Result<Application, StoreError> {
    let scope: &str = get(row, "scope")?;
    let scope = if scope.is_empty() {
        ApplicationScope::Global
    } else {
        ApplicationScope::Organization(OrgDomain::parse(scope).map_err(|p| bad("scope", p))?)
    };
    let secret: Option<&[u8]> = get(row, "client_secret_digest")?;
    Ok(Application {
        client_id: ClientId::from_uuid(get(row, "client_id")?),
        scope,
        environment: environment(row)?,
        managed_by: parse(row, "managed_by", Name::parse)?,
        name: parse(row, "name", Name::parse)?,
        description: parse_opt(row, "description", Text::parse)?,
        application_type: parse(row, "application_type", ApplicationType::parse)?,
        client_secret_digest: secret
            .map(|b| digest_of("client_secret_digest", b))
            .transpose()?,
        allowed_redirect_urls: parse_list(row, "allowed_redirect_urls", RedirectUri::parse)?,
        allowed_logout_urls: parse_list(row, "allowed_logout_urls", HttpUrl::parse)?,
        allowed_origins_cors: parse_list(row, "allowed_origins_cors", Origin::parse)?,
        allowed_web_origins: parse_list(row, "allowed_web_origins", Origin::parse)?,
        default_redirect_uri_after_login: parse_opt(
            row,
            "default_redirect_uri_after_login",
            RedirectUri::parse,
        )?,
        default_redirect_uri_after_logout: parse_opt(
            row,
            "default_redirect_uri_after_logout",
            HttpUrl::parse,
        )?,
        default_origin_cors: parse_opt(row, "default_origin_cors", Origin::parse)?,
        default_web_origin: parse_opt(row, "default_web_origin", Origin::parse)?,
        token_validity: TokenValidity {
            access_token: seconds(row, "access_token_validity")?,
            id_token: seconds(row, "id_token_validity")?,
            refresh_token: seconds(row, "refresh_token_validity")?,
        },
        inserted_at: get(row, "inserted_at")?,
        updated_at: get(row, "updated_at")?,
        deleted_at: get(row, "deleted_at")?,
        version: version(row)?,
    })
}

/// A nullable `column` of whole seconds, as a duration.
fn seconds(row: &Row, column: &'static str) -> Result<Option<time::Duration>, StoreError> {
    Ok(get::<Option<i64>>(row, column)?.map(time::Duration::seconds))
}

/// Decodes a row of `events`.
pub(super) fn event(row: &Row) -> Result<Event, StoreError> {
    let client_id: Option<Uuid> = get(row, "client_id")?;
    let owner: Option<Uuid> = get(row, "resource_owner_id")?;
    Ok(Event {
        id: get(row, "id")?,
        event_code: parse(row, "event_code", EventCode::parse)?,
        tenant_domain: parse_opt(row, "tenant_domain", OrgDomain::parse)?,
        database: environment(row)?,
        client_id: client_id.map(ClientId::from_uuid),
        email: parse_opt(row, "email", Email::parse)?,
        resource_owner_id: owner.map(UserId::from_uuid),
        saml_identity_provider_id: get(row, "saml_identity_provider_id")?,
        inserted_at: get(row, "inserted_at")?,
        details: json(row, "details")?,
    })
}

/// The `state` column of a refresh token.
pub(super) fn state_str(state: &RefreshState) -> &'static str {
    match state {
        RefreshState::Active => "active",
        RefreshState::Rotated { .. } => "rotated",
        RefreshState::Revoked { .. } => "revoked",
    }
}

/// Decodes a row of `refresh_tokens`.
pub(super) fn refresh_token(row: &Row) -> Result<RefreshTokenRecord, StoreError> {
    let generation: i64 = get(row, "generation")?;
    let state_at: Option<OffsetDateTime> = get(row, "state_at")?;
    let state: &str = get(row, "state")?;
    let state = match (state, state_at) {
        ("active", None) => RefreshState::Active,
        ("rotated", Some(at)) => RefreshState::Rotated {
            at,
            successor: digest(row, "successor")?,
        },
        ("revoked", Some(at)) => RefreshState::Revoked { at },
        (other, _) => {
            return Err(bad(
                "state",
                format!("{other:?} with state_at {state_at:?}"),
            ));
        }
    };
    Ok(RefreshTokenRecord {
        digest: digest(row, "digest")?,
        family: FamilyId(get(row, "family")?),
        generation: u32::try_from(generation).map_err(|e| bad("generation", e))?,
        org: parse(row, "org", OrgDomain::parse)?,
        user_id: UserId::from_uuid(get(row, "user_id")?),
        client_id: ClientId::from_uuid(get(row, "client_id")?),
        scope: get(row, "scope")?,
        auth_time: get(row, "auth_time")?,
        issued_at: get(row, "issued_at")?,
        expires_at: get(row, "expires_at")?,
        family_expires_at: get(row, "family_expires_at")?,
        state,
    })
}

/// A `NUMERIC(20, 0)` read as text (`value::TEXT`), as `u64`.
pub(super) fn numeric_u64(row: &Row, column: &'static str) -> Result<u64, StoreError> {
    let text: &str = get(row, column)?;
    text.parse().map_err(|e| bad(column, e))
}

/// A `BIGINT` count or counter value, never negative, as `u64`.
pub(super) fn count(row: &Row, column: &'static str) -> Result<u64, StoreError> {
    let n: i64 = get(row, column)?;
    u64::try_from(n).map_err(|e| bad(column, e))
}

/// The `status` column of credentials.
pub(super) fn status_str(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Unverified => "unverified",
        AccountStatus::Active => "active",
    }
}

/// The `role` column of credentials.
pub(super) fn role_str(role: AccountRole) -> &'static str {
    match role {
        AccountRole::Member => "member",
        AccountRole::OrganizationAdmin => "organization_admin",
    }
}

/// A sealed TOTP secret from its two nullable columns (both set or both NULL).
fn sealed_totp(
    row: &Row,
    secret: &'static str,
    at: &'static str,
) -> Result<Option<SealedTotp>, StoreError> {
    let sealed: Option<Vec<u8>> = get(row, secret)?;
    let when: Option<OffsetDateTime> = get(row, at)?;
    match (sealed, when) {
        (Some(sealed_secret), Some(at)) => Ok(Some(SealedTotp { sealed_secret, at })),
        (None, None) => Ok(None),
        _ => Err(bad(secret, format!("set without {at}, or the reverse"))),
    }
}

/// A `BYTEA[]` of SHA-256 digests.
fn digests(row: &Row, column: &'static str) -> Result<Vec<Digest>, StoreError> {
    let items: Vec<&[u8]> = get(row, column)?;
    items.into_iter().map(|b| digest_of(column, b)).collect()
}

/// Decodes a row of `credentials`.
pub(super) fn credentials(row: &Row) -> Result<CredentialRecord, StoreError> {
    let username = parse_opt(row, "username", |s| {
        let name = Username::parse(s)?;
        // Stored case-folded: a row that is not is not what idcore wrote.
        if name.as_str() == s {
            Ok(name.as_str().to_owned())
        } else {
            Err(FieldProblem::Format("not case-folded"))
        }
    })?;
    let password_hash: Option<String> = get(row, "password_hash")?;
    if let Some(hash) = &password_hash {
        check_password_hash(hash).map_err(|e| bad("password_hash", e))?;
    }
    let status = match get::<&str>(row, "status")? {
        "unverified" => AccountStatus::Unverified,
        "active" => AccountStatus::Active,
        other => return Err(bad("status", format!("{other:?}"))),
    };
    let role = match get::<&str>(row, "role")? {
        "member" => AccountRole::Member,
        "organization_admin" => AccountRole::OrganizationAdmin,
        other => return Err(bad("role", format!("{other:?}"))),
    };
    let generation: i64 = get(row, "recovery_generation")?;
    Ok(CredentialRecord {
        org: parse(row, "org", OrgDomain::parse)?,
        user_id: UserId::from_uuid(get(row, "user_id")?),
        username,
        password_hash,
        status,
        role,
        totp: sealed_totp(row, "totp_secret", "totp_at")?,
        pending_totp: sealed_totp(row, "pending_totp_secret", "pending_totp_at")?,
        recovery_generation: u32::try_from(generation)
            .map_err(|e| bad("recovery_generation", e))?,
        known_devices: digests(row, "known_devices")?,
        known_ips: digests(row, "known_ips")?,
        updated_at: get(row, "updated_at")?,
        version: version(row)?,
    })
}
