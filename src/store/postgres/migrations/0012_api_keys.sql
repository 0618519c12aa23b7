-- API keys of organizations: the public metadata and the secret sealed by idcore (AES-256-GCM,
-- never in the clear). During a rotation's overlap the replaced secret stays, sealed too, with
-- the instant it stops verifying. Revocation and rotation are conditional UPDATEs of one row.
CREATE TABLE {schema}.api_keys (
    env                    TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    id                     UUID        NOT NULL,
    org                    TEXT        NOT NULL,
    role                   TEXT        NOT NULL CHECK (role IN ('owner', 'read')),
    name                   TEXT        NOT NULL,
    description            TEXT,
    sealed_secret          BYTEA       NOT NULL,
    previous_sealed_secret BYTEA,
    previous_expires_at    TIMESTAMPTZ CHECK ((previous_expires_at IS NULL) = (previous_sealed_secret IS NULL)),
    generation             INTEGER     NOT NULL CHECK (generation >= 1),
    created_at             TIMESTAMPTZ NOT NULL,
    expires_at             TIMESTAMPTZ,
    revoked_at             TIMESTAMPTZ,
    last_used_at           TIMESTAMPTZ,
    rotated_at             TIMESTAMPTZ,
    CONSTRAINT api_keys_pkey PRIMARY KEY (env, id)
);
CREATE INDEX api_keys_newest ON {schema}.api_keys (org, env, created_at DESC, id DESC);
