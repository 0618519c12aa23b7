//! Organizations, users, applications and the audit log on SQLite. Each directory write and its
//! audit event are one `BEGIN IMMEDIATE` transaction.

use rusqlite::types::Value;
use rusqlite::{Connection, Row};
use time::OffsetDateTime;

use super::rows::{self, at, flag, int, opt_at, opt_text, opt_uuid, text, uuid};
use super::{SqliteStore, db_error, env_str, execute, query_all, query_opt};
use crate::model::application::{Application, ApplicationScope};
use crate::model::event::{Event, EventQuery, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{ClientId, Environment, OrgDomain, UserId};
use crate::model::organization::Organization;
use crate::model::user::User;
use crate::page::PageRequest;
use crate::store::{
    ApplicationStore, AuditStore, OrganizationStore, StoreError, UserStore, event_after,
    newest_after,
};

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

const EVENT_COLUMNS: &str = "id, env, event_code, tenant_domain, client_id, email, \
     resource_owner_id, saml_identity_provider_id, inserted_at, details";

/// `?1, ?2, … ?n`.
pub(super) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The column values of an organization row, in [`ORG_COLUMNS`] order.
fn org_values(env: Environment, o: &Organization) -> Result<Vec<Value>, StoreError> {
    let name = |v: &Option<crate::model::fields::Name>| opt_text(v.as_ref().map(|v| v.as_str()));
    let url = |v: &Option<crate::model::fields::HttpUrl>| opt_text(v.as_ref().map(|v| v.as_str()));
    Ok(vec![
        text(env_str(env)),
        text(o.domain.as_str()),
        uuid(o.id.as_uuid()),
        text(o.managed_by.as_str()),
        text(o.name.as_str()),
        name(&o.locality),
        name(&o.state),
        opt_text(o.country_name.as_ref().map(|v| v.as_str())),
        url(&o.privacy_policy_url),
        url(&o.terms_of_service_url),
        at(o.inserted_at)?,
        at(o.updated_at)?,
        opt_at(o.deleted_at)?,
        int("version", o.version)?,
    ])
}

/// The column values of a user row, in [`USER_COLUMNS`] order.
pub(super) fn user_values(env: Environment, u: &User) -> Result<Vec<Value>, StoreError> {
    let p = &u.profile;
    let name = |v: &Option<crate::model::fields::Name>| opt_text(v.as_ref().map(|v| v.as_str()));
    let url = |v: &Option<crate::model::fields::HttpUrl>| opt_text(v.as_ref().map(|v| v.as_str()));
    let address = p
        .address
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::backend)?;
    Ok(vec![
        text(env_str(env)),
        uuid(u.id.as_uuid()),
        text(u.org.as_str()),
        text(p.email.as_str()),
        Value::Text(p.email.key()),
        text(u.managed_by.as_str()),
        flag(p.email_verified),
        name(&p.name),
        name(&p.given_name),
        name(&p.family_name),
        name(&p.middle_name),
        name(&p.nickname),
        name(&p.preferred_username),
        url(&p.profile),
        url(&p.picture),
        url(&p.website),
        opt_text(p.gender.as_ref().map(|v| v.as_str())),
        p.birthdate
            .map_or(Value::Null, |b| Value::Text(b.to_string())),
        opt_text(p.zoneinfo.as_ref().map(|v| v.as_str())),
        opt_text(p.locale.as_ref().map(|v| v.as_str())),
        opt_text(p.phone_number.as_ref().map(|v| v.as_str())),
        flag(p.phone_number_verified),
        address.map_or(Value::Null, Value::Text),
        Value::Text(serde_json::to_string(&u.metadata).map_err(StoreError::backend)?),
        text(u.avatar_hexa_color.as_str()),
        at(u.updated_at)?,
        int("version", u.version)?,
        at(u.inserted_at)?,
        flag(u.active),
        Value::Text(serde_json::to_string(&u.rbac).map_err(StoreError::backend)?),
        match &u.federation {
            Some(f) => Value::Text(serde_json::to_string(f).map_err(StoreError::backend)?),
            None => Value::Null,
        },
    ])
}

/// The column values of an application row, in [`APP_COLUMNS`] order.
fn app_values(env: Environment, a: &Application) -> Result<Vec<Value>, StoreError> {
    fn opt<T: AsRef<str>>(item: &Option<T>) -> Value {
        opt_text(item.as_ref().map(AsRef::as_ref))
    }
    let seconds = |d: Option<time::Duration>| d.map_or(Value::Null, |d| d.whole_seconds().into());
    Ok(vec![
        text(env_str(env)),
        uuid(a.client_id.as_uuid()),
        text(rows::scope_str(&a.scope)),
        text(a.managed_by.as_str()),
        text(a.name.as_str()),
        opt(&a.description),
        text(rows::application_type_str(a.application_type)),
        a.client_secret_digest
            .as_ref()
            .map_or(Value::Null, |d| rows::blob(d.as_bytes())),
        rows::text_list(&a.allowed_redirect_urls)?,
        rows::text_list(&a.allowed_logout_urls)?,
        rows::text_list(&a.allowed_origins_cors)?,
        rows::text_list(&a.allowed_web_origins)?,
        opt(&a.default_redirect_uri_after_login),
        opt(&a.default_redirect_uri_after_logout),
        opt(&a.default_origin_cors),
        opt(&a.default_web_origin),
        at(a.updated_at)?,
        opt_at(a.deleted_at)?,
        int("version", a.version)?,
        at(a.inserted_at)?,
        seconds(a.token_validity.access_token),
        seconds(a.token_validity.id_token),
        seconds(a.token_validity.refresh_token),
    ])
}

/// The column values of a new event (every column but `id`).
pub(super) fn event_values(env: Environment, e: &NewEvent) -> Result<Vec<Value>, StoreError> {
    let details = serde_json::to_string(&e.details).map_err(StoreError::backend)?;
    Ok(vec![
        text(env_str(env)),
        text(e.event_code.as_str()),
        opt_text(e.tenant_domain.as_ref().map(OrgDomain::as_str)),
        opt_uuid(e.client_id.map(|c| c.as_uuid())),
        opt_text(e.email.as_ref().map(Email::as_str)),
        opt_uuid(e.resource_owner_id.map(|u| u.as_uuid())),
        opt_text(e.saml_identity_provider_id.as_deref()),
        at(e.inserted_at)?,
        Value::Text(details),
    ])
}

/// Appends an event inside the caller's transaction; returns the stored event.
pub(super) fn insert_event(conn: &Connection, values: &[Value]) -> Result<Event, StoreError> {
    let sql = format!(
        "INSERT INTO events (env, event_code, tenant_domain, client_id, email, \
         resource_owner_id, saml_identity_provider_id, inserted_at, details) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING {EVENT_COLUMNS}"
    );
    // As stored (timestamps at microsecond precision), like every read of it.
    query_opt(conn, &sql, values, rows::event)?.ok_or_else(|| StoreError::backend(NoRowReturned))
}

/// A statement returned no row where it always returns one.
#[derive(Debug, thiserror::Error)]
#[error("the statement returned no row")]
struct NoRowReturned;

/// A keyset or page-number read of one list: see [`SqliteStore::page`].
struct ListQuery {
    /// `FROM … WHERE …` over `params`, shared by the page and a counted total.
    from_where: String,
    columns: &'static str,
    /// `ORDER BY` columns, each `… DESC`.
    order: &'static str,
    params: Vec<Value>,
    /// With a cursor: the condition "strictly after the cursor", numbered after `params`, and
    /// its values. The page is then read without `OFFSET`.
    after: Option<(String, Vec<Value>)>,
    /// A statement answering the total as column `total`, and its parameters; `None` counts
    /// `from_where`.
    total: Option<(String, Vec<Value>)>,
}

impl ListQuery {
    /// A newest-first list (`inserted_at DESC, {id} DESC`), after `page`'s cursor if it has one.
    fn newest(
        from_where: &str,
        columns: &'static str,
        order: &'static str,
        id: &str,
        params: Vec<Value>,
        page: &PageRequest,
    ) -> Result<Self, StoreError> {
        let after = match newest_after(page)? {
            Some((inserted_at, key)) => Some((
                format!(
                    "(inserted_at, {id}) < (?{}, ?{})",
                    params.len() + 1,
                    params.len() + 2
                ),
                vec![at(inserted_at)?, uuid(key)],
            )),
            None => None,
        };
        Ok(Self {
            from_where: from_where.to_owned(),
            columns,
            order,
            params,
            after,
            total: None,
        })
    }
}

/// `LIMIT` and `OFFSET` of a page.
fn limits(page: PageRequest) -> (Value, Value) {
    (
        Value::Integer(i64::from(page.per_page())),
        Value::Integer(i64::try_from(page.offset()).unwrap_or(i64::MAX)),
    )
}

/// The primary key of a table with a second unique key, looked up after a unique violation.
///
/// SQLite reports whichever unique index it checks first, which is not the primary key; the
/// contract (like PostgreSQL, which checks the primary key first) names the primary key when a
/// row collides on both. `sql` selects the row by the first two values (`env` and the key).
pub(super) struct PrimaryKey {
    pub(super) sql: &'static str,
    pub(super) key: &'static str,
}

pub(super) const ORG_DOMAIN: PrimaryKey = PrimaryKey {
    sql: "SELECT 1 AS found FROM organizations WHERE env = ?1 AND domain = ?2",
    key: "domain",
};

pub(super) const USER_ID: PrimaryKey = PrimaryKey {
    sql: "SELECT 1 AS found FROM users WHERE env = ?1 AND id = ?2",
    key: "id",
};

/// Runs an `INSERT` of `values`; a unique violation on another key of a row whose primary key
/// is taken too answers the primary key.
pub(super) fn insert_row(
    conn: &Connection,
    sql: &str,
    values: &[Value],
    primary: Option<&PrimaryKey>,
) -> Result<(), StoreError> {
    match (execute(conn, sql, values), primary) {
        (Err(StoreError::AlreadyExists { key }), Some(pk)) if key != pk.key => {
            // The failed statement was rolled back alone; the transaction goes on.
            let taken = query_opt(conn, pk.sql, &values[..2], |_| Ok(()))?.is_some();
            Err(StoreError::AlreadyExists {
                key: if taken { pk.key } else { key },
            })
        }
        (result, _) => result.map(drop),
    }
}

/// How a conditional write that changed nothing finds out why: one read in the same
/// transaction, whose `same` column is 1 when the record is there as the write expected it
/// (so the write lost on its version: `Precondition`). No row, or `same` = 0: `NotFound`.
struct WhyNot {
    sql: &'static str,
    params: Vec<Value>,
}

impl SqliteStore {
    /// Inserts one row and its event in one transaction.
    async fn insert_with_event(
        &self,
        sql: String,
        values: Vec<Value>,
        event: Vec<Value>,
        primary: Option<PrimaryKey>,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            insert_row(tx, &sql, &values, primary.as_ref())?;
            insert_event(tx, &event).map(drop)
        })
        .await
    }

    /// Runs one conditional write and, if it changed a row, appends the event — in one
    /// transaction. Nothing changed: `why_not` tells `Precondition` from `NotFound`, and
    /// nothing is written.
    async fn write_with_event(
        &self,
        sql: &'static str,
        params: Vec<Value>,
        event: Vec<Value>,
        why_not: WhyNot,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            if execute(tx, sql, &params)? == 0 {
                let same = query_opt(tx, why_not.sql, &why_not.params, |row| {
                    rows::integer(row, "same")
                })?;
                return Err(match same {
                    Some(1) => StoreError::Precondition,
                    _ => StoreError::NotFound,
                });
            }
            insert_event(tx, &event).map(drop)
        })
        .await
    }

    /// Runs one conditional `UPDATE … RETURNING`, decodes the row, appends the event — in one
    /// transaction. No row: [`StoreError::NotFound`], nothing written.
    async fn update_returning_with_event<T: Send + 'static>(
        &self,
        sql: String,
        params: Vec<Value>,
        event: Vec<Value>,
        decode: fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write(move |tx| {
            // Decoded before the commit: a record that cannot be read back is not written either.
            let record = query_opt(tx, &sql, &params, decode)?.ok_or(StoreError::NotFound)?;
            insert_event(tx, &event)?;
            Ok(record)
        })
        .await
    }

    /// The one row matching `sql`, decoded.
    async fn one<T: Send + 'static>(
        &self,
        sql: String,
        params: Vec<Value>,
        decode: fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.read(move |conn| query_opt(conn, &sql, &params, decode))
            .await
    }

    /// Reads one page and the total in one read transaction (one snapshot, so they agree).
    /// With a cursor the page is an index range read after it (`LIMIT`, no `OFFSET`): its cost
    /// does not grow with the page's depth. By number, `OFFSET` steps over every earlier row.
    async fn page<T: Send + 'static>(
        &self,
        list: ListQuery,
        page: PageRequest,
        decode: fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let ListQuery {
            from_where,
            columns,
            order,
            params,
            after,
            total,
        } = list;
        let (limit, offset) = limits(page);
        let (count, count_params) = total.unwrap_or_else(|| {
            (
                format!("SELECT count(*) AS total {from_where}"),
                params.clone(),
            )
        });
        let mut all = params;
        let select = match after {
            Some((condition, values)) => {
                all.extend(values);
                all.push(limit);
                format!(
                    "SELECT {columns} {from_where} AND {condition} ORDER BY {order} LIMIT ?{}",
                    all.len()
                )
            }
            None => {
                all.push(limit);
                all.push(offset);
                format!(
                    "SELECT {columns} {from_where} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
                    all.len() - 1,
                    all.len()
                )
            }
        };
        self.read(move |conn| {
            let tx = conn.unchecked_transaction().map_err(db_error)?;
            let total = query_opt(&tx, &count, &count_params, |row| rows::count(row, "total"))?
                .unwrap_or(0);
            let items = query_all(&tx, &select, &all, decode)?;
            tx.commit().map_err(db_error)?;
            Ok((items, total))
        })
        .await
    }
}

impl OrganizationStore for SqliteStore {
    async fn insert_organization(
        &self,
        env: Environment,
        org: &Organization,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO organizations ({ORG_COLUMNS}) VALUES ({})",
            placeholders(14)
        );
        self.insert_with_event(
            sql,
            org_values(env, org)?,
            event_values(env, event)?,
            Some(ORG_DOMAIN),
        )
        .await
    }

    async fn organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
    ) -> Result<Option<Organization>, StoreError> {
        self.one(
            format!("SELECT {ORG_COLUMNS} FROM organizations WHERE env = ?1 AND domain = ?2"),
            vec![text(env_str(env)), text(domain.as_str())],
            rows::organization,
        )
        .await
    }

    async fn update_organization(
        &self,
        env: Environment,
        org: &Organization,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut params = org_values(env, org)?;
        params.push(int("version", expected_version)?);
        // inserted_at (?11) never changes.
        let sql = "UPDATE organizations SET managed_by = ?4, name = ?5, locality = ?6, \
             state = ?7, country_name = ?8, privacy_policy_url = ?9, \
             terms_of_service_url = ?10, updated_at = ?12, deleted_at = ?13, version = ?14 \
             WHERE env = ?1 AND domain = ?2 AND id = ?3 AND version = ?15 \
             AND deleted_at IS NULL";
        let why_not = WhyNot {
            // Same domain and id: a lost race (or a deleted organization); another
            // organization's id under this domain: not found.
            sql: "SELECT id = ?3 AS same FROM organizations WHERE env = ?1 AND domain = ?2",
            params: params[..3].to_vec(),
        };
        self.write_with_event(sql, params, event_values(env, event)?, why_not)
            .await
    }

    async fn delete_organization(
        &self,
        env: Environment,
        domain: &OrgDomain,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Organization, StoreError> {
        let sql = format!(
            "UPDATE organizations SET deleted_at = ?3, updated_at = ?3, version = version + 1 \
             WHERE env = ?1 AND domain = ?2 AND deleted_at IS NULL RETURNING {ORG_COLUMNS}"
        );
        self.update_returning_with_event(
            sql,
            vec![text(env_str(env)), text(domain.as_str()), at(deleted_at)?],
            event_values(env, event)?,
            rows::organization,
        )
        .await
    }

    async fn list_organizations(
        &self,
        env: Environment,
        page: PageRequest,
    ) -> Result<(Vec<Organization>, u64), StoreError> {
        let list = ListQuery::newest(
            "FROM organizations WHERE env = ?1 AND deleted_at IS NULL",
            ORG_COLUMNS,
            "inserted_at DESC, id DESC",
            "id",
            vec![text(env_str(env))],
            &page,
        )?;
        self.page(list, page, rows::organization).await
    }
}

impl UserStore for SqliteStore {
    async fn insert_user(
        &self,
        env: Environment,
        user: &User,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ({})",
            placeholders(31)
        );
        self.insert_with_event(
            sql,
            user_values(env, user)?,
            event_values(env, event)?,
            Some(USER_ID),
        )
        .await
    }

    async fn user(
        &self,
        env: Environment,
        org: &OrgDomain,
        id: UserId,
    ) -> Result<Option<User>, StoreError> {
        self.one(
            format!("SELECT {USER_COLUMNS} FROM users WHERE env = ?1 AND id = ?2 AND org = ?3"),
            vec![text(env_str(env)), uuid(id.as_uuid()), text(org.as_str())],
            rows::user,
        )
        .await
    }

    async fn user_by_email(
        &self,
        env: Environment,
        org: &OrgDomain,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        self.one(
            format!(
                "SELECT {USER_COLUMNS} FROM users WHERE env = ?1 AND org = ?2 AND email_key = ?3"
            ),
            vec![
                text(env_str(env)),
                text(org.as_str()),
                Value::Text(email.key()),
            ],
            rows::user,
        )
        .await
    }

    async fn update_user(
        &self,
        env: Environment,
        user: &User,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut params = user_values(env, user)?;
        params.push(int("version", expected_version)?);
        // The e-mail key changes in the same row, so the old address is released atomically;
        // a taken new one violates users_email_key (AlreadyExists { key: "email" }).
        // inserted_at (?28) never changes.
        let sql = "UPDATE users SET email = ?4, email_key = ?5, managed_by = ?6, \
             email_verified = ?7, name = ?8, given_name = ?9, family_name = ?10, \
             middle_name = ?11, nickname = ?12, preferred_username = ?13, profile = ?14, \
             picture = ?15, website = ?16, gender = ?17, birthdate = ?18, zoneinfo = ?19, \
             locale = ?20, phone_number = ?21, phone_number_verified = ?22, address = ?23, \
             metadata = ?24, avatar_hexa_color = ?25, updated_at = ?26, version = ?27, \
             active = ?29, rbac = ?30, federation = ?31 \
             WHERE env = ?1 AND id = ?2 AND org = ?3 AND version = ?32";
        let why_not = WhyNot {
            sql: "SELECT 1 AS same FROM users WHERE env = ?1 AND id = ?2 AND org = ?3",
            params: params[..3].to_vec(),
        };
        self.write_with_event(sql, params, event_values(env, event)?, why_not)
            .await
    }

    async fn list_users(
        &self,
        env: Environment,
        org: &OrgDomain,
        page: PageRequest,
    ) -> Result<(Vec<User>, u64), StoreError> {
        let params = vec![text(env_str(env)), text(org.as_str())];
        let mut list = ListQuery::newest(
            "FROM users WHERE env = ?1 AND org = ?2",
            USER_COLUMNS,
            "inserted_at DESC, id DESC",
            "id",
            params.clone(),
            &page,
        )?;
        // Kept by the users_counted / users_uncounted triggers (migration 5).
        // No row yet: no user yet (the page reads the missing row as 0).
        list.total = Some((
            "SELECT n AS total FROM user_counts WHERE env = ?1 AND org = ?2".to_owned(),
            params,
        ));
        self.page(list, page, rows::user).await
    }
}

impl ApplicationStore for SqliteStore {
    async fn insert_application(
        &self,
        env: Environment,
        app: &Application,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO applications ({APP_COLUMNS}) VALUES ({})",
            placeholders(23)
        );
        self.insert_with_event(sql, app_values(env, app)?, event_values(env, event)?, None)
            .await
    }

    async fn application(
        &self,
        env: Environment,
        client_id: ClientId,
    ) -> Result<Option<Application>, StoreError> {
        self.one(
            format!("SELECT {APP_COLUMNS} FROM applications WHERE env = ?1 AND client_id = ?2"),
            vec![text(env_str(env)), uuid(client_id.as_uuid())],
            rows::application,
        )
        .await
    }

    async fn update_application(
        &self,
        env: Environment,
        app: &Application,
        expected_version: u64,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut params = app_values(env, app)?;
        params.push(int("version", expected_version)?);
        // inserted_at (?20) never changes; neither does the scope (?3, in the WHERE).
        let sql = "UPDATE applications SET managed_by = ?4, name = ?5, description = ?6, \
             application_type = ?7, client_secret_digest = ?8, allowed_redirect_urls = ?9, \
             allowed_logout_urls = ?10, allowed_origins_cors = ?11, allowed_web_origins = ?12, \
             default_redirect_uri_after_login = ?13, default_redirect_uri_after_logout = ?14, \
             default_origin_cors = ?15, default_web_origin = ?16, updated_at = ?17, \
             deleted_at = ?18, version = ?19, access_token_validity = ?21, \
             id_token_validity = ?22, refresh_token_validity = ?23 \
             WHERE env = ?1 AND client_id = ?2 AND scope = ?3 AND version = ?24 \
             AND deleted_at IS NULL";
        let why_not = WhyNot {
            // Stored under another scope (the scope never changes): not found.
            sql: "SELECT scope = ?3 AS same FROM applications WHERE env = ?1 AND client_id = ?2",
            params: params[..3].to_vec(),
        };
        self.write_with_event(sql, params, event_values(env, event)?, why_not)
            .await
    }

    async fn delete_application(
        &self,
        env: Environment,
        client_id: ClientId,
        deleted_at: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<Application, StoreError> {
        let sql = format!(
            "UPDATE applications SET deleted_at = ?3, updated_at = ?3, version = version + 1 \
             WHERE env = ?1 AND client_id = ?2 AND deleted_at IS NULL RETURNING {APP_COLUMNS}"
        );
        self.update_returning_with_event(
            sql,
            vec![
                text(env_str(env)),
                uuid(client_id.as_uuid()),
                at(deleted_at)?,
            ],
            event_values(env, event)?,
            rows::application,
        )
        .await
    }

    async fn list_applications(
        &self,
        env: Environment,
        scope: &ApplicationScope,
        page: PageRequest,
    ) -> Result<(Vec<Application>, u64), StoreError> {
        let list = ListQuery::newest(
            "FROM applications WHERE env = ?1 AND scope = ?2 AND deleted_at IS NULL",
            APP_COLUMNS,
            "inserted_at DESC, client_id DESC",
            "client_id",
            vec![text(env_str(env)), text(rows::scope_str(scope))],
            &page,
        )?;
        self.page(list, page, rows::application).await
    }
}

impl AuditStore for SqliteStore {
    async fn record_event(&self, env: Environment, event: &NewEvent) -> Result<Event, StoreError> {
        let values = event_values(env, event)?;
        self.write(move |tx| insert_event(tx, &values)).await
    }

    async fn events(
        &self,
        env: Environment,
        query: &EventQuery,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        // Only the filters that are set go into the statement, so each combination is served
        // by its index (events_by_tenant, events_by_code, events_by_tenant_code …).
        let mut from_where = String::from("FROM events WHERE env = ?1");
        let mut params = vec![text(env_str(env))];
        let filters = [
            (
                "tenant_domain",
                query.tenant_domain.as_ref().map(|d| text(d.as_str())),
            ),
            ("event_code", query.code.as_ref().map(|c| text(c.as_str()))),
            ("client_id", query.client_id.map(|c| uuid(c.as_uuid()))),
            (
                "saml_identity_provider_id",
                query.saml_identity_provider_id.as_deref().map(text),
            ),
        ];
        for (column, value) in filters {
            if let Some(value) = value {
                params.push(value);
                from_where.push_str(&format!(" AND {column} = ?{}", params.len()));
            }
        }
        let after = event_after(&page)?.map(|id| {
            (
                format!("id < ?{}", params.len() + 1),
                vec![Value::Integer(id)],
            )
        });
        // Tenant and code alone (or nothing): the sum of at most 16 count shards kept by the
        // events_counted trigger, '' for an unset filter. Client or identity-provider filters
        // count their matches.
        let total =
            (query.client_id.is_none() && query.saml_identity_provider_id.is_none()).then(|| {
                (
                    "SELECT COALESCE(sum(n), 0) AS total FROM event_counts \
                     WHERE env = ?1 AND tenant_domain = ?2 AND event_code = ?3"
                        .to_owned(),
                    vec![
                        text(env_str(env)),
                        text(query.tenant_domain.as_ref().map_or("", OrgDomain::as_str)),
                        text(query.code.as_ref().map_or("", |c| c.as_str())),
                    ],
                )
            });
        let list = ListQuery {
            from_where,
            columns: EVENT_COLUMNS,
            order: "id DESC",
            params,
            after,
            total,
        };
        self.page(list, page, rows::event).await
    }
}
