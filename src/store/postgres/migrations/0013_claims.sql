-- Custom claims: each organization's claim schema (its metakeys and role definitions), one
-- versioned row per organization, and each user's RBAC attributes on the user row.
--
-- `schema` is the JSON of the ClaimSchema serde form ({"metakeys": […], "roles": […]}), as
-- TEXT (never queried into); its optimistic-concurrency version is its own column, 1 and up
-- (no row: version 0). Writes are `INSERT … ON CONFLICT DO NOTHING` (the first) or
-- `UPDATE … WHERE version = $expected`. The store does not reference `organizations`: idcore
-- checks the organization before it writes.
CREATE TABLE {schema}.claim_schemas (
    env     TEXT   NOT NULL CHECK (env IN ('sandbox', 'production')),
    org     TEXT   NOT NULL,
    schema  TEXT   NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    CONSTRAINT claim_schemas_pkey PRIMARY KEY (env, org)
);

-- The JSON of the Rbac serde form ({"roles", "actions", "attributes", "groups"}); '{}' is
-- every list empty.
ALTER TABLE {schema}.users ADD COLUMN rbac TEXT NOT NULL DEFAULT '{}';

-- `users.metadata` now holds the JSON of [MetadataEntry] ([{"id", "key_id", "value"}]: a
-- value names its metakey by id). The earlier form, [{"key", "value"}] with the key by name,
-- was never written by idcore outside test fixtures, and a value by name has no metakey to
-- belong to (no schema existed before this migration): such rows are reset to no metadata
-- rather than left unreadable. '[]' and every other row are left as they are.
UPDATE {schema}.users SET metadata = '[]' WHERE metadata LIKE '[{"key":%';
