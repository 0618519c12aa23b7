-- idcore PostgreSQL schema, version 5: list totals kept up to date instead of counted, so a
-- list answers its total in O(1) however long it is.
--
-- The counts are back-filled from the rows in the migration's transaction. Processes of an
-- older idcore do not maintain them: stop their writers before migrating, or a user or event
-- they write meanwhile is missing from the totals. (`LOCK TABLE` would make that automatic,
-- but the schema avoids it so CockroachDB and YugabyteDB could run it.)

-- Users per organization: written in the same transaction as every insert and delete of a
-- user (one upserted row per organization).
CREATE TABLE {schema}.user_counts (
    env TEXT   NOT NULL,
    org TEXT   NOT NULL,
    n   BIGINT NOT NULL,
    CONSTRAINT user_counts_pkey PRIMARY KEY (env, org)
);
INSERT INTO {schema}.user_counts (env, org, n)
    SELECT env, org, count(*) FROM {schema}.users GROUP BY env, org;

-- Events per (tenant, code), '' meaning "any", for the four filter combinations the list
-- answers from counts: {all, tenant, code, tenant + code}. Events are written on hot paths
-- (every token refresh), so each combination is split in 16 shards by id % 16: concurrent
-- writers rarely wait on the same row. A total is the sum of at most 16 rows.
CREATE TABLE {schema}.event_counts (
    env           TEXT    NOT NULL,
    tenant_domain TEXT    NOT NULL,
    event_code    TEXT    NOT NULL,
    shard         INTEGER NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n             BIGINT  NOT NULL,
    CONSTRAINT event_counts_pkey PRIMARY KEY (env, tenant_domain, event_code, shard)
);
INSERT INTO {schema}.event_counts (env, tenant_domain, event_code, shard, n)
    SELECT e.env, k.tenant_domain, k.event_code, (e.id % 16)::INTEGER, count(*)
    FROM {schema}.events e
    CROSS JOIN LATERAL (VALUES ('', ''), (e.tenant_domain, ''), ('', e.event_code),
                               (e.tenant_domain, e.event_code)) AS k (tenant_domain, event_code)
    WHERE k.tenant_domain IS NOT NULL
    GROUP BY e.env, k.tenant_domain, k.event_code, (e.id % 16)::INTEGER;
