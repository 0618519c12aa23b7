-- API keys of organizations: the public metadata and the secret sealed by idcore (AES-256-GCM,
-- never in the clear). During a rotation's overlap the replaced secret stays, sealed too, with
-- the instant it stops verifying.
CREATE TABLE api_keys (
    env                    TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    id                     BLOB    NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
    org                    TEXT    NOT NULL,
    role                   TEXT    NOT NULL CHECK (role IN ('owner', 'read')),
    name                   TEXT    NOT NULL,
    description            TEXT,
    sealed_secret          BLOB    NOT NULL CHECK (typeof(sealed_secret) = 'blob'),
    previous_sealed_secret BLOB    CHECK (previous_sealed_secret IS NULL OR typeof(previous_sealed_secret) = 'blob'),
    previous_expires_at    INTEGER CHECK ((previous_expires_at IS NULL) = (previous_sealed_secret IS NULL)),
    generation             INTEGER NOT NULL CHECK (typeof(generation) = 'integer' AND generation >= 1),
    created_at             INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
    expires_at             INTEGER,
    revoked_at             INTEGER,
    last_used_at           INTEGER,
    rotated_at             INTEGER,
    CONSTRAINT api_keys_pkey PRIMARY KEY (env, id)
);
CREATE INDEX api_keys_newest ON api_keys (env, org, created_at DESC, id DESC);
