-- Counted sets with a limit (a user's sessions, a connection's seats). A join locks its set's
-- row in limited_sets (an upsert), so the count, the eviction and the insert of one set are
-- serialized while joins of other sets run in parallel.
CREATE TABLE {schema}.limited_sets (
    env     TEXT  NOT NULL CHECK (env IN ('sandbox', 'production')),
    set_key BYTEA NOT NULL,
    CONSTRAINT limited_sets_pkey PRIMARY KEY (env, set_key)
);

CREATE TABLE {schema}.limited_set_members (
    env        TEXT        NOT NULL,
    set_key    BYTEA       NOT NULL,
    member     BYTEA       NOT NULL,
    joined_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT limited_set_members_pkey PRIMARY KEY (env, set_key, member),
    CONSTRAINT limited_set_members_set_fkey FOREIGN KEY (env, set_key)
        REFERENCES {schema}.limited_sets (env, set_key) ON DELETE CASCADE
);
CREATE INDEX limited_set_members_expiry ON {schema}.limited_set_members (expires_at);
