-- Enterprise SSO connections: one versioned row per connection, its admin onboarding and
-- default redirection inside `record` (the JSON of the SsoConnection serde form). The
-- identifiers and the list order are their own columns: `idp_id` and `sp_id` unique per
-- environment, the newest-first index over (inserted_at, key). The store does not reference
-- `organizations`: idcore checks the organization before it writes.
CREATE TABLE sso_connections (
    env         TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    idp_id      TEXT    NOT NULL CHECK (typeof(idp_id) = 'text'),
    sp_id       TEXT    NOT NULL CHECK (typeof(sp_id) = 'text'),
    org         TEXT    NOT NULL CHECK (typeof(org) = 'text'),
    key         BLOB    NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 16),
    inserted_at INTEGER NOT NULL CHECK (typeof(inserted_at) = 'integer'),
    record      TEXT    NOT NULL CHECK (typeof(record) = 'text'),
    version     INTEGER NOT NULL CHECK (typeof(version) = 'integer' AND version >= 1),
    CONSTRAINT sso_connections_pkey PRIMARY KEY (env, idp_id),
    CONSTRAINT sso_connections_sp_id_key UNIQUE (env, sp_id)
);
CREATE INDEX sso_connections_newest ON sso_connections (env, org, inserted_at DESC, key DESC);
