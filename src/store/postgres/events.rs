//! [`PostgresStore`]'s audit log: appending an event inside any statement or transaction
//! (with its sharded counts), and the event queries.

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::directory::{ListQuery, NoRowReturned};
use super::rows;
use super::{PostgresStore, env_str, query, retrying};
use crate::model::event::{Event, EventQuery, NewEvent};
use crate::model::fields::Email;
use crate::model::ids::{Environment, OrgDomain};
use crate::page::PageRequest;
use crate::store::{AuditStore, StoreError, event_after};

pub(super) const EVENT_COLUMNS: &str = "id, env, event_code, tenant_domain, client_id, email, \
     resource_owner_id, saml_identity_provider_id, inserted_at, details";

/// Two common table expressions, `e` and `c`, that append an event inside a larger statement:
/// `e` inserts the event (its `env` is `$1`, its other columns the eight parameters from
/// `$first` on, in [`EventValues::params`] order) when `guard` holds, and returns
/// [`EVENT_COLUMNS`]; `c` adds it to the four sharded counts its filters read (all, tenant,
/// code, tenant + code; `''` is "any"; an event without tenant has no tenant rows). The count
/// rows are upserted in that fixed order, so two writers of one shard cannot deadlock.
pub(super) fn event_ctes(first: usize, guard: &str) -> String {
    let p = |i: usize| first + i;
    format!(
        "e AS (INSERT INTO {{schema}}.events (env, event_code, tenant_domain, client_id, \
         email, resource_owner_id, saml_identity_provider_id, inserted_at, details) \
         SELECT CAST($1 AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS UUID), \
         CAST(${} AS TEXT), CAST(${} AS UUID), CAST(${} AS TEXT), CAST(${} AS TIMESTAMPTZ), \
         CAST(${} AS TEXT) WHERE {guard} RETURNING {EVENT_COLUMNS}), \
         c AS (INSERT INTO {{schema}}.event_counts \
         (env, tenant_domain, event_code, shard, n) \
         SELECT e.env, k.t, k.c, (e.id % 16)::INTEGER, 1 FROM e CROSS JOIN LATERAL \
         (VALUES (1, '', ''), (2, e.tenant_domain, ''), (3, '', e.event_code), \
         (4, e.tenant_domain, e.event_code)) AS k (o, t, c) \
         WHERE k.t IS NOT NULL ORDER BY k.o \
         ON CONFLICT (env, tenant_domain, event_code, shard) \
         DO UPDATE SET n = {{schema}}.event_counts.n + 1)",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
    )
}

/// An event's column values but `env`, as parameters of [`event_ctes`].
pub(super) struct EventValues<'a> {
    code: &'a str,
    tenant: Option<&'a str>,
    client: Option<Uuid>,
    email: Option<&'a str>,
    owner: Option<Uuid>,
    saml: Option<&'a str>,
    at: OffsetDateTime,
    details: String,
}

impl<'a> EventValues<'a> {
    pub(super) fn new(event: &'a NewEvent) -> Result<Self, StoreError> {
        Ok(Self {
            code: event.event_code.as_str(),
            tenant: event.tenant_domain.as_ref().map(OrgDomain::as_str),
            client: event.client_id.map(|c| c.as_uuid()),
            email: event.email.as_ref().map(Email::as_str),
            owner: event.resource_owner_id.map(|u| u.as_uuid()),
            saml: event.saml_identity_provider_id.as_deref(),
            at: event.inserted_at,
            details: serde_json::to_string(&event.details).map_err(StoreError::backend)?,
        })
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.code,
            &self.tenant,
            &self.client,
            &self.email,
            &self.owner,
            &self.saml,
            &self.at,
            &self.details,
        ]
    }
}

impl PostgresStore {
    /// Appends an event inside the caller's transaction (or alone); returns the stored event.
    pub(super) async fn insert_event<C: GenericClient>(
        &self,
        client: &C,
        env: Environment,
        event: &NewEvent,
    ) -> Result<Event, StoreError> {
        let values = EventValues::new(event)?;
        let sql = self.sql(&format!(
            "WITH {} SELECT {EVENT_COLUMNS} FROM e",
            event_ctes(2, "TRUE")
        ));
        let env = env_str(env);
        let mut params: [&(dyn ToSql + Sync); 9] = [&env; 9];
        params[1..].copy_from_slice(&values.params());
        let rows = query(client, &sql, &params).await?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::backend(NoRowReturned))?;
        // As stored (timestamps at microsecond precision), like every read of it.
        rows::event(row)
    }
}

impl AuditStore for PostgresStore {
    async fn record_event(&self, env: Environment, event: &NewEvent) -> Result<Event, StoreError> {
        let client = self.client().await?;
        retrying!(self.insert_event(&client, env, event))
    }

    async fn events(
        &self,
        env: Environment,
        query: &EventQuery,
        page: PageRequest,
    ) -> Result<(Vec<Event>, u64), StoreError> {
        // Only the filters that are set go into the statement, so each combination is served
        // by its index (events_by_tenant, events_by_code, events_by_tenant_code …).
        let after = event_after(&page)?;
        let env = env_str(env);
        let tenant = query.tenant_domain.as_ref().map(OrgDomain::as_str);
        let code = query.code.as_ref().map(|c| c.as_str());
        let client_id = query.client_id.map(|c| c.as_uuid());
        let idp = query.saml_identity_provider_id.as_deref();
        let mut from_where = String::from("FROM {schema}.events WHERE env = $1");
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&env];
        let filters: [(&str, Option<&(dyn ToSql + Sync)>); 4] = [
            ("tenant_domain", tenant.as_ref().map(|v| v as _)),
            ("event_code", code.as_ref().map(|v| v as _)),
            ("client_id", client_id.as_ref().map(|v| v as _)),
            ("saml_identity_provider_id", idp.as_ref().map(|v| v as _)),
        ];
        for (column, value) in filters {
            if let Some(value) = value {
                params.push(value);
                from_where.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        let after_condition = after.as_ref().map(|id| {
            params.push(id);
            format!("id < ${}", params.len())
        });
        // Tenant and code alone (or nothing): the sum of at most 16 count shards, '' for an
        // unset filter. Client or identity-provider filters count their matches.
        let any_tenant = tenant.unwrap_or("");
        let any_code = code.unwrap_or("");
        let total = (client_id.is_none() && idp.is_none()).then(|| {
            params.push(&any_tenant);
            params.push(&any_code);
            format!(
                "(SELECT COALESCE(sum(n), 0)::BIGINT FROM {{schema}}.event_counts \
                 WHERE env = $1 AND tenant_domain = ${} AND event_code = ${})",
                params.len() - 1,
                params.len()
            )
        });
        let list = ListQuery {
            from_where: &from_where,
            columns: EVENT_COLUMNS,
            order: "id DESC",
            params,
            after: after_condition,
            total,
        };
        self.page(list, page, rows::event).await
    }
}
