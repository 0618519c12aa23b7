//! Records into column values, and rows back into records. Every stored value goes through the
//! type's own parser (a row is data from outside, like any input); a value of the wrong type,
//! one that does not parse, a NULL where a value is required, or a number out of range answers
//! [`StoreError::Backend`] naming the column — never a panic.

use std::fmt;

use rusqlite::Row;
use rusqlite::types::{FromSql, Value, ValueRef};
use time::OffsetDateTime;
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

/// A stored value that is not what the schema promises, or a value that cannot be stored.
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

// ---- values in ----

/// A text value.
pub(super) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// A nullable text value.
pub(super) fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// A blob value.
pub(super) fn blob(b: &[u8]) -> Value {
    Value::Blob(b.to_vec())
}

/// A uuid as its 16 bytes.
pub(super) fn uuid(u: Uuid) -> Value {
    Value::Blob(u.as_bytes().to_vec())
}

/// A nullable uuid.
pub(super) fn opt_uuid(u: Option<Uuid>) -> Value {
    u.map_or(Value::Null, uuid)
}

/// A boolean as 0 or 1.
pub(super) fn flag(b: bool) -> Value {
    Value::Integer(i64::from(b))
}

/// Microseconds since the Unix epoch, truncated towards the past.
pub(super) fn micros(t: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1000)).map_err(|e| bad("instant", e))
}

/// An instant as INTEGER microseconds.
pub(super) fn at(t: OffsetDateTime) -> Result<Value, StoreError> {
    micros(t).map(Value::Integer)
}

/// A nullable instant.
pub(super) fn opt_at(t: Option<OffsetDateTime>) -> Result<Value, StoreError> {
    t.map_or(Ok(Value::Null), at)
}

/// A `u64` for an INTEGER column that the contract bounds far below `i64::MAX` (versions,
/// generations); a larger one is refused rather than wrapped.
pub(super) fn int(column: &'static str, value: u64) -> Result<Value, StoreError> {
    i64::try_from(value)
        .map(Value::Integer)
        .map_err(|e| bad(column, e))
}

/// A key of the primitive stores, as the bytes of its string.
pub(super) fn key(k: &crate::store::Key) -> Value {
    blob(k.as_str().as_bytes())
}

/// A list of strings as a JSON array.
pub(super) fn text_list<T: AsRef<str>>(items: &[T]) -> Result<Value, StoreError> {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&items)
        .map(Value::Text)
        .map_err(StoreError::backend)
}

/// Digests, concatenated.
pub(super) fn digest_list(items: &[Digest]) -> Value {
    Value::Blob(items.iter().flat_map(|d| d.as_bytes().to_vec()).collect())
}

/// A step value as exactly 20 decimal digits (text order is numeric order).
pub(super) fn step(value: u64) -> Value {
    Value::Text(format!("{value:020}"))
}

// ---- values out ----

/// The value of `column`.
fn value<'r>(row: &'r Row<'_>, column: &'static str) -> Result<ValueRef<'r>, StoreError> {
    row.get_ref(column).map_err(|e| bad(column, e))
}

/// The value of `column`, as `T` (strictly typed: no conversion between SQLite's types).
pub(super) fn get<T: FromSql>(row: &Row<'_>, column: &'static str) -> Result<T, StoreError> {
    row.get(column).map_err(|e| bad(column, e))
}

/// The text of `column`.
pub(super) fn str<'r>(row: &'r Row<'_>, column: &'static str) -> Result<&'r str, StoreError> {
    value(row, column)?.as_str().map_err(|e| bad(column, e))
}

/// The text of a nullable `column`.
fn opt_str<'r>(row: &'r Row<'_>, column: &'static str) -> Result<Option<&'r str>, StoreError> {
    value(row, column)?
        .as_str_or_null()
        .map_err(|e| bad(column, e))
}

/// The bytes of `column`.
pub(super) fn bytes<'r>(row: &'r Row<'_>, column: &'static str) -> Result<&'r [u8], StoreError> {
    value(row, column)?.as_blob().map_err(|e| bad(column, e))
}

/// The bytes of a nullable `column`.
fn opt_bytes<'r>(row: &'r Row<'_>, column: &'static str) -> Result<Option<&'r [u8]>, StoreError> {
    value(row, column)?
        .as_blob_or_null()
        .map_err(|e| bad(column, e))
}

/// The integer of `column`.
pub(super) fn integer(row: &Row<'_>, column: &'static str) -> Result<i64, StoreError> {
    value(row, column)?.as_i64().map_err(|e| bad(column, e))
}

/// The integer of a nullable `column`.
fn opt_integer(row: &Row<'_>, column: &'static str) -> Result<Option<i64>, StoreError> {
    value(row, column)?
        .as_i64_or_null()
        .map_err(|e| bad(column, e))
}

/// The text of `column`, parsed.
pub(super) fn parse<T>(
    row: &Row<'_>,
    column: &'static str,
    parser: impl FnOnce(&str) -> Result<T, FieldProblem>,
) -> Result<T, StoreError> {
    parser(str(row, column)?).map_err(|p| bad(column, p))
}

/// The text of a nullable `column`, parsed.
fn parse_opt<T>(
    row: &Row<'_>,
    column: &'static str,
    parser: impl FnOnce(&str) -> Result<T, FieldProblem>,
) -> Result<Option<T>, StoreError> {
    opt_str(row, column)?
        .map(parser)
        .transpose()
        .map_err(|p| bad(column, p))
}

/// Every element of a JSON array of strings, parsed.
fn parse_list<T>(
    row: &Row<'_>,
    column: &'static str,
    parser: impl Fn(&str) -> Result<T, FieldProblem>,
) -> Result<Vec<T>, StoreError> {
    let items: Vec<String> = json(row, column)?;
    items
        .iter()
        .map(|s| parser(s).map_err(|p| bad(column, p)))
        .collect()
}

/// A JSON document stored as text.
fn json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    column: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(str(row, column)?).map_err(|e| bad(column, e))
}

/// A nullable JSON document stored as text.
fn opt_json<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    column: &'static str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = get(row, column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| bad(column, e)))
        .transpose()
}

/// An instant stored as INTEGER microseconds.
pub(super) fn instant(row: &Row<'_>, column: &'static str) -> Result<OffsetDateTime, StoreError> {
    from_micros(column, integer(row, column)?)
}

/// A nullable instant.
pub(super) fn opt_instant(
    row: &Row<'_>,
    column: &'static str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    opt_integer(row, column)?
        .map(|us| from_micros(column, us))
        .transpose()
}

fn from_micros(column: &'static str, us: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).map_err(|e| bad(column, e))
}

/// A uuid stored as 16 bytes.
pub(super) fn uuid_of(row: &Row<'_>, column: &'static str) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes(row, column)?).map_err(|e| bad(column, e))
}

/// A nullable uuid.
fn opt_uuid_of(row: &Row<'_>, column: &'static str) -> Result<Option<Uuid>, StoreError> {
    opt_bytes(row, column)?
        .map(|b| Uuid::from_slice(b).map_err(|e| bad(column, e)))
        .transpose()
}

/// A boolean stored as 0 or 1 (anything else is not what idcore wrote).
fn boolean(row: &Row<'_>, column: &'static str) -> Result<bool, StoreError> {
    match integer(row, column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(bad(column, format!("{other} is not 0 or 1"))),
    }
}

/// A version (INTEGER, never negative) as `u64`.
fn version(row: &Row<'_>) -> Result<u64, StoreError> {
    count(row, "version")
}

/// An INTEGER count or counter value, never negative, as `u64`.
pub(super) fn count(row: &Row<'_>, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(integer(row, column)?).map_err(|e| bad(column, e))
}

/// A step stored as 20 decimal digits.
pub(super) fn step_of(row: &Row<'_>, column: &'static str) -> Result<u64, StoreError> {
    let text = str(row, column)?;
    if text.len() != 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(column, "not 20 decimal digits"));
    }
    text.parse().map_err(|e| bad(column, e))
}

/// A SHA-256 digest stored as 32 bytes.
pub(super) fn digest(row: &Row<'_>, column: &'static str) -> Result<Digest, StoreError> {
    digest_of(column, bytes(row, column)?)
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

/// Concatenated 32-byte digests.
fn digests(row: &Row<'_>, column: &'static str) -> Result<Vec<Digest>, StoreError> {
    let all = bytes(row, column)?;
    if all.len() % 32 != 0 {
        return Err(bad(
            column,
            format!("{} bytes, not a list of 32-byte digests", all.len()),
        ));
    }
    all.chunks_exact(32).map(|b| digest_of(column, b)).collect()
}

fn environment(row: &Row<'_>) -> Result<Environment, StoreError> {
    parse(row, "env", Environment::parse)
}

// ---- records ----

/// Decodes a row of `organizations`.
pub(super) fn organization(row: &Row<'_>) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: OrganizationId::from_uuid(uuid_of(row, "id")?),
        domain: parse(row, "domain", OrgDomain::parse)?,
        environment: environment(row)?,
        managed_by: parse(row, "managed_by", Name::parse)?,
        name: parse(row, "name", Name::parse)?,
        locality: parse_opt(row, "locality", Name::parse)?,
        state: parse_opt(row, "state", Name::parse)?,
        country_name: parse_opt(row, "country_name", CountryCode::parse)?,
        privacy_policy_url: parse_opt(row, "privacy_policy_url", HttpUrl::parse)?,
        terms_of_service_url: parse_opt(row, "terms_of_service_url", HttpUrl::parse)?,
        inserted_at: instant(row, "inserted_at")?,
        updated_at: instant(row, "updated_at")?,
        deleted_at: opt_instant(row, "deleted_at")?,
        version: version(row)?,
    })
}

/// Decodes a row of `users`.
pub(super) fn user(row: &Row<'_>) -> Result<User, StoreError> {
    let address = opt_str(row, "address")?
        .map(|text| serde_json::from_str::<Address>(text).map_err(|e| bad("address", e)))
        .transpose()?;
    let metadata: Vec<MetadataEntry> = json(row, "metadata")?;
    Ok(User {
        id: UserId::from_uuid(uuid_of(row, "id")?),
        org: parse(row, "org", OrgDomain::parse)?,
        environment: environment(row)?,
        managed_by: parse(row, "managed_by", Name::parse)?,
        profile: Profile {
            email: parse(row, "email", Email::parse)?,
            email_verified: boolean(row, "email_verified")?,
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
            birthdate: parse_opt(row, "birthdate", Birthdate::parse)?,
            zoneinfo: parse_opt(row, "zoneinfo", ZoneInfo::parse)?,
            locale: parse_opt(row, "locale", Locale::parse)?,
            phone_number: parse_opt(row, "phone_number", PhoneNumber::parse)?,
            phone_number_verified: boolean(row, "phone_number_verified")?,
            address,
        },
        metadata,
        rbac: json(row, "rbac")?,
        federation: opt_json(row, "federation")?,
        active: boolean(row, "active")?,
        avatar_hexa_color: parse(row, "avatar_hexa_color", HexColor::parse)?,
        inserted_at: instant(row, "inserted_at")?,
        updated_at: instant(row, "updated_at")?,
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
pub(super) fn application(row: &Row<'_>) -> Result<Application, StoreError> {
    let scope = str(row, "scope")?;
    let scope = if scope.is_empty() {
        ApplicationScope::Global
    } else {
        ApplicationScope::Organization(OrgDomain::parse(scope).map_err(|p| bad("scope", p))?)
    };
    Ok(Application {
        client_id: ClientId::from_uuid(uuid_of(row, "client_id")?),
        scope,
        environment: environment(row)?,
        managed_by: parse(row, "managed_by", Name::parse)?,
        name: parse(row, "name", Name::parse)?,
        description: parse_opt(row, "description", Text::parse)?,
        application_type: parse(row, "application_type", ApplicationType::parse)?,
        client_secret_digest: opt_bytes(row, "client_secret_digest")?
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
        inserted_at: instant(row, "inserted_at")?,
        updated_at: instant(row, "updated_at")?,
        deleted_at: opt_instant(row, "deleted_at")?,
        version: version(row)?,
    })
}

/// A nullable `column` of whole seconds, as a duration.
fn seconds(row: &Row<'_>, column: &'static str) -> Result<Option<time::Duration>, StoreError> {
    Ok(opt_integer(row, column)?.map(time::Duration::seconds))
}

/// Decodes a row of `events`.
pub(super) fn event(row: &Row<'_>) -> Result<Event, StoreError> {
    Ok(Event {
        id: integer(row, "id")?,
        event_code: parse(row, "event_code", EventCode::parse)?,
        tenant_domain: parse_opt(row, "tenant_domain", OrgDomain::parse)?,
        database: environment(row)?,
        client_id: opt_uuid_of(row, "client_id")?.map(ClientId::from_uuid),
        email: parse_opt(row, "email", Email::parse)?,
        resource_owner_id: opt_uuid_of(row, "resource_owner_id")?.map(UserId::from_uuid),
        saml_identity_provider_id: opt_str(row, "saml_identity_provider_id")?.map(str::to_owned),
        inserted_at: instant(row, "inserted_at")?,
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
pub(super) fn refresh_token(row: &Row<'_>) -> Result<RefreshTokenRecord, StoreError> {
    let state_at = opt_instant(row, "state_at")?;
    let state = match (str(row, "state")?, state_at) {
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
        family: FamilyId(uuid_of(row, "family")?),
        generation: u32::try_from(integer(row, "generation")?).map_err(|e| bad("generation", e))?,
        org: parse(row, "org", OrgDomain::parse)?,
        user_id: UserId::from_uuid(uuid_of(row, "user_id")?),
        client_id: ClientId::from_uuid(uuid_of(row, "client_id")?),
        scope: str(row, "scope")?.to_owned(),
        auth_time: instant(row, "auth_time")?,
        issued_at: instant(row, "issued_at")?,
        expires_at: instant(row, "expires_at")?,
        family_expires_at: instant(row, "family_expires_at")?,
        state,
    })
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
    row: &Row<'_>,
    secret: &'static str,
    at: &'static str,
) -> Result<Option<SealedTotp>, StoreError> {
    match (opt_bytes(row, secret)?, opt_instant(row, at)?) {
        (Some(sealed), Some(at)) => Ok(Some(SealedTotp {
            sealed_secret: sealed.to_vec(),
            at,
        })),
        (None, None) => Ok(None),
        _ => Err(bad(secret, format!("set without {at}, or the reverse"))),
    }
}

/// Decodes a row of `credentials`.
pub(super) fn credentials(row: &Row<'_>) -> Result<CredentialRecord, StoreError> {
    let username = parse_opt(row, "username", |s| {
        let name = Username::parse(s)?;
        // Stored case-folded: a row that is not is not what idcore wrote.
        if name.as_str() == s {
            Ok(name.as_str().to_owned())
        } else {
            Err(FieldProblem::Format("not case-folded"))
        }
    })?;
    let password_hash = opt_str(row, "password_hash")?.map(str::to_owned);
    if let Some(hash) = &password_hash {
        check_password_hash(hash).map_err(|e| bad("password_hash", e))?;
    }
    let status = match str(row, "status")? {
        "unverified" => AccountStatus::Unverified,
        "active" => AccountStatus::Active,
        other => return Err(bad("status", format!("{other:?}"))),
    };
    let role = match str(row, "role")? {
        "member" => AccountRole::Member,
        "organization_admin" => AccountRole::OrganizationAdmin,
        other => return Err(bad("role", format!("{other:?}"))),
    };
    Ok(CredentialRecord {
        org: parse(row, "org", OrgDomain::parse)?,
        user_id: UserId::from_uuid(uuid_of(row, "user_id")?),
        username,
        password_hash,
        status,
        role,
        totp: sealed_totp(row, "totp_secret", "totp_at")?,
        pending_totp: sealed_totp(row, "pending_totp_secret", "pending_totp_at")?,
        recovery_generation: u32::try_from(integer(row, "recovery_generation")?)
            .map_err(|e| bad("recovery_generation", e))?,
        known_devices: digests(row, "known_devices")?,
        known_ips: digests(row, "known_ips")?,
        updated_at: instant(row, "updated_at")?,
        version: version(row)?,
    })
}
