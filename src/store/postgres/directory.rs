//! Organizations, users and applications on PostgreSQL (the audit log is in `events`). Each
//! directory write and its audit event are one transaction.

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::rows::{self, to_i64};
use super::{PostgresStore, begin, db_error, env_str, execute, query, query_opt, retrying};
use crate::model::application::{Application, ApplicationScope};
use crate::model::event::NewEvent;
use crate::model::fields::Email;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::model::organization::Organization;
use crate::model::user::User;
use crate::page::PageRequest;
use crate::store::{ApplicationStore, OrganizationStore, StoreError, UserStore, newest_after};

const ORG_COLUMNS: &str = "env, domain, id, managed_by, name, locality, state, country_name, \
     privacy_policy_url, terms_of_service_url, inserted_at, updated_at, deleted_at, version";

pub(super) const USER_COLUMNS: &str = "env, id, org, email, email_key, managed_by, email_verified, name, \
     given_name, family_name, middle_name, nickname, preferred_username, profile, picture, \
     website, gender, birthdate, zoneinfo, locale, phone_number, phone_number_verified, address, \
     metadata, avatar_hexa_color, updated_at, version, inserted_at, active, rbac, federation";

const APP_COLUMNS: &str = "env, client_id, scope, managed_by, name, description, \
     application_type, client_secret_digest, allowed_redirect_urls, allowed_logout_urls, \
     allowed_origins_cors, allowed_web_origins, default_redirect_uri_after_login, \
     default_redirect_uri_after_logout, default_origin_cors, default_web_origin, updated_at, \
     deleted_at, version, inserted_at, access_token_validity, id_token_validity, \
     refresh_token_validity";

/// `LIMIT` and `OFFSET` of a page.
fn limits(page: PageRequest) -> (i64, i64) {
    (
        i64::from(page.per_page()),
        i64::try_from(page.offset()).unwrap_or(i64::MAX),
    )
}

/// Appended to a user insert or delete `… RETURNING env, org` (as CTE `u`): adds the row's
/// `n` (1 or -1) to its organization's count, in the same statement.
const COUNT_USERS: &str = "INSERT INTO {schema}.user_counts (env, org, n) SELECT env, org, n FROM u \
     ON CONFLICT (env, org) DO UPDATE SET n = {schema}.user_counts.n + EXCLUDED.n";

/// The statement inserting a user (the 31 [`USER_COLUMNS`]) and counting it.
pub(super) fn insert_user_sql(store: &PostgresStore) -> String {
    store.sql(&format!(
        "WITH u AS (INSERT INTO {{schema}}.users ({USER_COLUMNS}) VALUES ({}) \
         RETURNING env, org, 1::BIGINT AS n) {COUNT_USERS}",
        placeholders(31)
    ))
}

/// The statement deleting a user (`$1` env, `$2` id, `$3` org) and uncounting it; it changes
/// one row when the user existed, none otherwise.
pub(super) fn delete_user_sql(store: &PostgresStore) -> String {
    store.sql(&format!(
        "WITH u AS (DELETE FROM {{schema}}.users WHERE env = $1 AND id = $2 \
         AND org IS NOT DISTINCT FROM $3 \
         RETURNING env, org, -1::BIGINT AS n) {COUNT_USERS}"
    ))
}

/// A keyset or page-number read of one list: see [`PostgresStore::page`].
pub(super) struct ListQuery<'a> {
    /// `FROM … WHERE …`, shared by the page and a counted total.
    pub(super) from_where: &'a str,
    pub(super) columns: &'a str,
    /// `ORDER BY` columns, each `… DESC`.
    pub(super) order: &'a str,
    pub(super) params: Vec<&'a (dyn ToSql + Sync)>,
    /// With a cursor: the condition "strictly after the cursor" (its values already in
    /// `params`), and the page is read without `OFFSET`.
    pub(super) after: Option<String>,
    /// A scalar `bigint` expression for the total; `None` counts `from_where`.
    pub(super) total: Option<String>,
}

/// Splits the rows of a `total LEFT JOIN page` query into the page's records and the total.
/// The join yields one row even for an empty page, with a NULL `env` (never NULL in a record).
fn page_of<T>(
    result: &[Row],
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<(Vec<T>, u64), StoreError> {
    let mut total = 0;
    let mut items = Vec::with_capacity(result.len());
    for row in result {
        total = rows::count(row, "total")?;
        if rows::get::<Option<&str>>(row, "env")?.is_some() {
            items.push(decode(row)?);
        }
    }
    Ok((items, total))
}

/// The column values of an organization row, in [`ORG_COLUMNS`] order.
struct OrgValues<'a> {
    env: &'static str,
    domain: &'a str,
    id: Uuid,
    managed_by: &'a str,
    name: &'a str,
    locality: Option<&'a str>,
    state: Option<&'a str>,
    country_name: Option<&'a str>,
    privacy_policy_url: Option<&'a str>,
    terms_of_service_url: Option<&'a str>,
    inserted_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    deleted_at: Option<OffsetDateTime>,
    version: i64,
}

impl<'a> OrgValues<'a> {
    fn new(env: Environment, o: &'a Organization) -> Result<Self, StoreError> {
        Ok(Self {
            env: env_str(env),
            domain: o.domain.as_str(),
            id: o.id.as_uuid(),
            managed_by: o.managed_by.as_str(),
            name: o.name.as_str(),
            locality: o.locality.as_ref().map(|v| v.as_str()),
            state: o.state.as_ref().map(|v| v.as_str()),
            country_name: o.country_name.as_ref().map(|v| v.as_str()),
            privacy_policy_url: o.privacy_policy_url.as_ref().map(|v| v.as_str()),
            terms_of_service_url: o.terms_of_service_url.as_ref().map(|v| v.as_str()),
            inserted_at: o.inserted_at,
            updated_at: o.updated_at,
            deleted_at: o.deleted_at,
            version: to_i64("version", o.version)?,
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 14] {
        [
            &self.env,
            &self.domain,
            &self.id,
            &self.managed_by,
            &self.name,
            &self.locality,
            &self.state,
            &self.country_name,
            &self.privacy_policy_url,
            &self.terms_of_service_url,
            &self.inserted_at,
            &self.updated_at,
            &self.deleted_at,
            &self.version,
        ]
    }
}

/// The column values of a user row, in [`USER_COLUMNS`] order.
pub(super) struct UserValues<'a> {
    env: &'static str,
    id: Uuid,
    org: &'a str,
    email: &'a str,
    email_key: String,
    managed_by: &'a str,
    email_verified: bool,
    names: [Option<&'a str>; 6],
    urls: [Option<&'a str>; 3],
    gender: Option<&'a str>,
    birthdate: Option<time::Date>,
    zoneinfo: Option<&'a str>,
    locale: Option<&'a str>,
    phone_number: Option<&'a str>,
    phone_number_verified: bool,
    address: Option<String>,
    metadata: String,
    avatar_hexa_color: &'a str,
    updated_at: OffsetDateTime,
    version: i64,
    inserted_at: OffsetDateTime,
    active: bool,
    rbac: String,
    federation: Option<String>,
}

impl<'a> UserValues<'a> {
    pub(super) fn new(env: Environment, u: &'a User) -> Result<Self, StoreError> {
        let p = &u.profile;
        let name = |n: &'a Option<crate::model::fields::Name>| n.as_ref().map(|v| v.as_str());
        let url = |n: &'a Option<crate::model::fields::HttpUrl>| n.as_ref().map(|v| v.as_str());
        let address = p
            .address
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(StoreError::backend)?;
        Ok(Self {
            env: env_str(env),
            id: u.id.as_uuid(),
            org: u.org.as_str(),
            email: p.email.as_str(),
            email_key: p.email.key(),
            managed_by: u.managed_by.as_str(),
            email_verified: p.email_verified,
            names: [
                name(&p.name),
                name(&p.given_name),
                name(&p.family_name),
                name(&p.middle_name),
                name(&p.nickname),
                name(&p.preferred_username),
            ],
            urls: [url(&p.profile), url(&p.picture), url(&p.website)],
            gender: p.gender.as_ref().map(|v| v.as_str()),
            birthdate: p.birthdate.map(|b| b.date()),
            zoneinfo: p.zoneinfo.as_ref().map(|v| v.as_str()),
            locale: p.locale.as_ref().map(|v| v.as_str()),
            phone_number: p.phone_number.as_ref().map(|v| v.as_str()),
            phone_number_verified: p.phone_number_verified,
            address,
            metadata: serde_json::to_string(&u.metadata).map_err(StoreError::backend)?,
            avatar_hexa_color: u.avatar_hexa_color.as_str(),
            updated_at: u.updated_at,
            version: to_i64("version", u.version)?,
            inserted_at: u.inserted_at,
            active: u.active,
            rbac: serde_json::to_string(&u.rbac).map_err(StoreError::backend)?,
            federation: u
                .federation
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(StoreError::backend)?,
        })
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 31] {
        let [n0, n1, n2, n3, n4, n5] = &self.names;
        let [u0, u1, u2] = &self.urls;
        [
            &self.env,
            &self.id,
            &self.org,
            &self.email,
            &self.email_key,
            &self.managed_by,
            &self.email_verified,
            n0,
            n1,
            n2,
            n3,
            n4,
            n5,
            u0,
            u1,
            u2,
            &self.gender,
            &self.birthdate,
            &self.zoneinfo,
            &self.locale,
            &self.phone_number,
            &self.phone_number_verified,
            &self.address,
            &self.metadata,
            &self.avatar_hexa_color,
            &self.updated_at,
            &self.version,
            &self.inserted_at,
            &self.active,
            &self.rbac,
            &self.federation,
        ]
    }
}

/// The column values of an application row, in [`APP_COLUMNS`] order.
struct AppValues<'a> {
    env: &'static str,
    client_id: Uuid,
    scope: &'a str,
    managed_by: &'a str,
    name: &'a str,
    description: Option<&'a str>,
    application_type: &'static str,
    secret: Option<&'a [u8]>,
    lists: [Vec<&'a str>; 4],
    defaults: [Option<&'a str>; 4],
    updated_at: OffsetDateTime,
    deleted_at: Option<OffsetDateTime>,
    version: i64,
    inserted_at: OffsetDateTime,
    validity: [Option<i64>; 3],
}

impl<'a> AppValues<'a> {
    fn new(env: Environment, a: &'a Application) -> Result<Self, StoreError> {
        fn strs<T: AsRef<str>>(items: &[T]) -> Vec<&str> {
            items.iter().map(AsRef::as_ref).collect()
        }
        fn text<T: AsRef<str>>(item: &Option<T>) -> Option<&str> {
            item.as_ref().map(AsRef::as_ref)
        }
        Ok(Self {
            env: env_str(env),
            client_id: a.client_id.as_uuid(),
            scope: rows::scope_str(&a.scope),
            managed_by: a.managed_by.as_str(),
            name: a.name.as_str(),
            description: text(&a.description),
            application_type: rows::application_type_str(a.application_type),
            secret: a.client_secret_digest.as_ref().map(|d| &d.as_bytes()[..]),
            lists: [
                strs(&a.allowed_redirect_urls),
                strs(&a.allowed_logout_urls),
                strs(&a.allowed_origins_cors),
                strs(&a.allowed_web_origins),
            ],
            defaults: [
                text(&a.default_redirect_uri_after_login),
                text(&a.default_redirect_uri_after_logout),
                text(&a.default_origin_cors),
                text(&a.default_web_origin),
            ],
            updated_at: a.updated_at,
            deleted_at: a.deleted_at,
            version: to_i64("version", a.version)?,
            inserted_at: a.inserted_at,
            validity: [
                a.token_validity.access_token.map(|d| d.whole_seconds()),
                a.token_validity.id_token.map(|d| d.whole_seconds()),
                a.token_validity.refresh_token.map(|d| d.whole_seconds()),
            ],
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 23] {
        let [l0, l1, l2, l3] = &self.lists;
        let [d0, d1, d2, d3] = &self.defaults;
        let [v0, v1, v2] = &self.validity;
        [
            &self.env,
            &self.client_id,
            &self.scope,
            &self.managed_by,
            &self.name,
            &self.description,
            &self.application_type,
            &self.secret,
            l0,
            l1,
            l2,
            l3,
            d0,
            d1,
            d2,
            d3,
            &self.updated_at,
            &self.deleted_at,
            &self.version,
            &self.inserted_at,
            v0,
            v1,
            v2,
        ]
    }
}

/// `$1, $2, … $n`.
pub(super) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a conditional write that changed nothing finds out why: one read, then a verdict on the
/// row it found (or its absence).
struct WhyNot<'a, F> {
    sql: &'a str,
    params: &'a [&'a (dyn ToSql + Sync)],
    classify: F,
}

/// A statement returned no row where it always returns one.
#[derive(Debug, thiserror::Error)]
#[error("the statement returned no row")]
pub(super) struct NoRowReturned;

impl PostgresStore {
    /// Inserts one row and its event in one transaction.
    async fn insert_with_event(
        &self,
        env: Environment,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(&tx, sql, params).await?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }

    /// Runs one write and, if it changed a row, appends `event` — in one transaction. Answers
    /// how many rows the write changed (0: nothing was written, no event either).
    async fn write_with_event(
        &self,
        env: Environment,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        event: &NewEvent,
        why_not: WhyNot<'_, impl FnOnce(Option<Row>) -> Result<StoreError, StoreError>>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        if execute(&tx, sql, params).await? == 0 {
            // Nothing written: one read, in the same transaction, tells why.
            let stored = query_opt(&tx, why_not.sql, why_not.params).await?;
            return Err((why_not.classify)(stored)?);
        }
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)
    }

    /// Runs one conditional `UPDATE … RETURNING`, decodes the row, appends `event` — in one
    /// transaction. No row: [`StoreError::NotFound`], nothing written.
    async fn update_returning_with_event<T>(
        &self,
        env: Environment,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        event: &NewEvent,
        decode: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let row = query_opt(&tx, sql, params)
            .await?
            .ok_or(StoreError::NotFound)?;
        // Decoded before the commit: a record that cannot be read back is not written either.
        let record = decode(&row)?;
        self.insert_event(&tx, env, event).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(record)
    }

    /// Reads one page and the total in one statement (one snapshot, so they agree). With a
    /// cursor the page is an index range read after it (`LIMIT`, no `OFFSET`): its cost does not
    /// grow with the page's depth. By number, `OFFSET` reads and drops every earlier row.
    pub(super) async fn page<T>(
        &self,
        list: ListQuery<'_>,
        page: PageRequest,
        decode: impl Fn(&Row) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let ListQuery {
            from_where,
            columns,
            order,
            mut params,
            after,
            total,
        } = list;
        let (limit, offset) = limits(page);
        params.push(&limit);
        let window = match &after {
            Some(condition) => format!("AND {condition} ORDER BY {order} LIMIT ${}", params.len()),
            None => {
                params.push(&offset);
                format!(
                    "ORDER BY {order} LIMIT ${} OFFSET ${}",
                    params.len() - 1,
                    params.len()
                )
            }
        };
        let total = total.unwrap_or_else(|| format!("(SELECT count(*) {from_where})"));
        let sql = self.sql(&format!(
            "WITH page AS (SELECT {columns} {from_where} {window}), \
             total AS (SELECT {total} AS total) \
             SELECT total.total, page.* FROM total LEFT JOIN page ON TRUE \
             ORDER BY {}",
            order
                .split(", ")
                .map(|o| format!("page.{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let client = self.client().await?;
        let result = query(&client, &sql, &params).await?;
        page_of(&result, decode)
    }
}

impl OrganizationStore for PostgresStore {
    async fn insert_organization(
        &self,
        env: Environment,
        org: &Organization,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let values = OrgValues::new(env, org)?;
        let sql = self.sql(&format!(
            "INSERT INTO {{schema}}.organizations ({ORG_COLUMNS}) VALUES ({})",
            placeholders(14)
        ));
        retrying!(self.insert_with_event(env, &sql, &values.params(), event))
    }

    async fn organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
    ) -> Result<Option<Organization>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {ORG_COLUMNS} FROM {{schema}}.organizations WHERE env = $1 AND domain = $2"
        ));
        let client = self.client().await?;
        query_opt(&client, &sql, &[&env_str(env), &domain.as_str()])
            .await?
            .as_ref()
            .map(rows::organization)
            .transpose()
    }

    async fn update_organization(
        &self,
        env: Environment,
        org: &Organization,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let values = OrgValues::new(env, org)?;
        let expected = to_i64("version", expected_version)?;
        // inserted_at ($11) never changes.
        let sql = self.sql(
            "UPDATE {schema}.organizations SET managed_by = $4, name = $5, locality = $6, \
             state = $7, country_name = $8, privacy_policy_url = $9, \
             terms_of_service_url = $10, updated_at = $11, deleted_at = $12, version = $13 \
             WHERE env = $1 AND domain = $2 AND id = $3 AND version = $14 \
             AND deleted_at IS NULL",
        );
        let p = values.params();
        let params: [&(dyn ToSql + Sync); 14] = [
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[11], p[12], p[13],
            &expected,
        ];
        let check =
            self.sql("SELECT id FROM {schema}.organizations WHERE env = $1 AND domain = $2");
        let id = org.id.as_uuid();
        retrying!(self.write_with_event(
            env,
            &sql,
            &params,
            event,
            WhyNot {
                sql: &check,
                params: &[&values.env, &values.domain],
                classify: |stored| match stored {
                    // Same domain and id: a lost race (or a deleted organization).
                    Some(row) if rows::get::<Uuid>(&row, "id")? == id =>
                        Ok(StoreError::Precondition),
                    // Missing, or another organization's id under this domain.
                    _ => Ok(StoreError::NotFound),
                },
            },
        ))
    }

    async fn delete_organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Organization, StoreError> {
        let sql = self.sql(&format!(
            "UPDATE {{schema}}.organizations \
             SET deleted_at = $3, updated_at = $3, version = version + 1 \
             WHERE env = $1 AND domain = $2 AND deleted_at IS NULL RETURNING {ORG_COLUMNS}"
        ));
        retrying!(self.update_returning_with_event(
            env,
            &sql,
            &[&env_str(env), &domain.as_str(), &deleted_at],
            event,
            rows::organization,
        ))
    }

    async fn list_organizations(
        &self,
        env: Environment,
        page: PageRequest,
    ) -> Result<(Vec<Organization>, u64), StoreError> {
        let env = env_str(env);
        let after = newest_after(&page)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&env];
        if let Some((at, id)) = &after {
            params.push(at);
            params.push(id);
        }
        let list = ListQuery {
            from_where: "FROM {schema}.organizations WHERE env = $1 AND deleted_at IS NULL",
            columns: ORG_COLUMNS,
            order: "inserted_at DESC, id DESC",
            params,
            after: after
                .is_some()
                .then(|| "(inserted_at, id) < ($2, $3)".to_owned()),
            total: None,
        };
        self.page(list, page, rows::organization).await
    }
}

impl UserStore for PostgresStore {
    async fn insert_user(
        &self,
        env: Environment,
        user: &User,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let values = UserValues::new(env, user)?;
        let sql = insert_user_sql(self);
        retrying!(self.insert_with_event(env, &sql, &values.params(), event))
    }

    async fn user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {USER_COLUMNS} FROM {{schema}}.users WHERE env = $1 AND id = $2 \
             AND org IS NOT DISTINCT FROM $3"
        ));
        let client = self.client().await?;
        query_opt(
            &client,
            &sql,
            &[&env_str(env), &id.as_uuid(), &org.as_str()],
        )
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn live_user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        // One statement: the user, joined to its organization's live row.
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = self.sql(&format!(
            "SELECT {columns} FROM {{schema}}.users u JOIN {{schema}}.organizations o \
             ON o.env = u.env AND o.domain = u.org AND o.deleted_at IS NULL \
             WHERE u.env = $1 AND u.id = $2 AND u.org IS NOT DISTINCT FROM $3"
        ));
        let client = self.client().await?;
        query_opt(
            &client,
            &sql,
            &[&env_str(env), &id.as_uuid(), &org.as_str()],
        )
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_email(
        &self,
        env: Environment,
        org: &OrgDomain,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {USER_COLUMNS} FROM {{schema}}.users \
             WHERE env = $1 AND org = $2 AND email_key = $3"
        ));
        let client = self.client().await?;
        query_opt(&client, &sql, &[&env_str(env), &org.as_str(), &email.key()])
            .await?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn update_user(
        &self,
        env: Environment,
        user: &User,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let values = UserValues::new(env, user)?;
        let expected = to_i64("version", expected_version)?;
        // The e-mail key changes in the same row, so the old address is released atomically;
        // a taken new one violates users_email_key (AlreadyExists { key: "email" }).
        let sql = self.sql(
            "UPDATE {schema}.users SET email = $4, email_key = $5, managed_by = $6, \
             email_verified = $7, name = $8, given_name = $9, family_name = $10, \
             middle_name = $11, nickname = $12, preferred_username = $13, profile = $14, \
             picture = $15, website = $16, gender = $17, birthdate = $18, zoneinfo = $19, \
             locale = $20, phone_number = $21, phone_number_verified = $22, address = $23, \
             metadata = $24, avatar_hexa_color = $25, updated_at = $26, version = $27, \
             active = $29, rbac = $30, federation = $31 WHERE env = $1 AND id = $2 \
             AND org IS NOT DISTINCT FROM $3 AND version = $28",
        );
        let p = values.params();
        let mut params: Vec<&(dyn ToSql + Sync)> = p[..27].to_vec();
        params.push(&expected);
        params.extend_from_slice(&p[28..31]);
        let check = self.sql(
            "SELECT id FROM {schema}.users WHERE env = $1 AND id = $2 \
             AND org IS NOT DISTINCT FROM $3",
        );
        retrying!(self.write_with_event(
            env,
            &sql,
            &params,
            event,
            WhyNot {
                sql: &check,
                params: &[&values.env, &values.id, &values.org],
                classify: |stored| Ok(match stored {
                    Some(_) => StoreError::Precondition,
                    None => StoreError::NotFound,
                }),
            },
        ))
    }

    async fn list_users(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<User>, u64), StoreError> {
        let env = env_str(env);
        let org = org.as_str();
        let after = newest_after(&page)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&env, &org];
        if let Some((at, id)) = &after {
            params.push(at);
            params.push(id);
        }
        let list = ListQuery {
            from_where: "FROM {schema}.users WHERE env = $1 AND org = $2",
            columns: USER_COLUMNS,
            order: "inserted_at DESC, id DESC",
            params,
            // users_newest (org, env, inserted_at DESC, id DESC) serves the row comparison.
            after: after
                .is_some()
                .then(|| "(inserted_at, id) < ($3, $4)".to_owned()),
            total: Some(
                "COALESCE((SELECT n FROM {schema}.user_counts WHERE env = $1 AND org = $2), 0)"
                    .to_owned(),
            ),
        };
        self.page(list, page, rows::user).await
    }
}

impl ApplicationStore for PostgresStore {
    async fn insert_application(
        &self,
        env: Environment,
        app: &Application,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let values = AppValues::new(env, app)?;
        let sql = self.sql(&format!(
            "INSERT INTO {{schema}}.applications ({APP_COLUMNS}) VALUES ({})",
            placeholders(23)
        ));
        retrying!(self.insert_with_event(env, &sql, &values.params(), event))
    }

    async fn application(
        &self,
        env: Environment,
        client_id: ClientId,
    ) -> Result<Option<Application>, StoreError> {
        let sql = self.sql(&format!(
            "SELECT {APP_COLUMNS} FROM {{schema}}.applications WHERE env = $1 AND client_id = $2"
        ));
        let client = self.client().await?;
        query_opt(&client, &sql, &[&env_str(env), &client_id.as_uuid()])
            .await?
            .as_ref()
            .map(rows::application)
            .transpose()
    }

    async fn update_application(
        &self,
        env: Environment,
        app: &Application,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let values = AppValues::new(env, app)?;
        let expected = to_i64("version", expected_version)?;
        let sql = self.sql(
            "UPDATE {schema}.applications SET managed_by = $4, name = $5, description = $6, \
             application_type = $7, client_secret_digest = $8, allowed_redirect_urls = $9, \
             allowed_logout_urls = $10, allowed_origins_cors = $11, allowed_web_origins = $12, \
             default_redirect_uri_after_login = $13, default_redirect_uri_after_logout = $14, \
             default_origin_cors = $15, default_web_origin = $16, updated_at = $17, \
             deleted_at = $18, version = $19, access_token_validity = $21, \
             id_token_validity = $22, refresh_token_validity = $23 \
             WHERE env = $1 AND client_id = $2 AND scope = $3 AND version = $20 \
             AND deleted_at IS NULL",
        );
        let p = values.params();
        let mut params: Vec<&(dyn ToSql + Sync)> = p[..19].to_vec();
        params.push(&expected);
        params.extend_from_slice(&p[20..23]);
        let check =
            self.sql("SELECT scope FROM {schema}.applications WHERE env = $1 AND client_id = $2");
        let scope = values.scope;
        retrying!(self.write_with_event(
            env,
            &sql,
            &params,
            event,
            WhyNot {
                sql: &check,
                params: &[&values.env, &values.client_id],
                classify: |stored| match stored {
                    Some(row) if rows::get::<&str>(&row, "scope")? == scope => {
                        Ok(StoreError::Precondition)
                    }
                    // Missing, or stored under another scope (the scope never changes).
                    _ => Ok(StoreError::NotFound),
                },
            },
        ))
    }

    async fn delete_application(
        &self,
        env: Environment,
        client_id: ClientId,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Application, StoreError> {
        let sql = self.sql(&format!(
            "UPDATE {{schema}}.applications \
             SET deleted_at = $3, updated_at = $3, version = version + 1 \
             WHERE env = $1 AND client_id = $2 AND deleted_at IS NULL RETURNING {APP_COLUMNS}"
        ));
        retrying!(self.update_returning_with_event(
            env,
            &sql,
            &[&env_str(env), &client_id.as_uuid(), &deleted_at],
            event,
            rows::application,
        ))
    }

    async fn list_applications(
        &self,
        env: Environment,
        scope: &ApplicationScope,
        page: PageRequest,
    ) -> Result<(Vec<Application>, u64), StoreError> {
        let env = env_str(env);
        let scope = rows::scope_str(scope);
        let after = newest_after(&page)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&env, &scope];
        if let Some((at, id)) = &after {
            params.push(at);
            params.push(id);
        }
        let list = ListQuery {
            from_where: "FROM {schema}.applications \
                 WHERE env = $1 AND scope = $2 AND deleted_at IS NULL",
            columns: APP_COLUMNS,
            order: "inserted_at DESC, client_id DESC",
            params,
            after: after
                .is_some()
                .then(|| "(inserted_at, client_id) < ($3, $4)".to_owned()),
            total: None,
        };
        self.page(list, page, rows::application).await
    }
}
