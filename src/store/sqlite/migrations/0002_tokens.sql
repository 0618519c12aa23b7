-- idcore SQLite schema, version 2: the tokens module's signing keys and revocation feed.

-- Signing keys: the private key only sealed (AES-256-GCM under the host's key-encryption key).
CREATE TABLE signing_keys (
    env                TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    kid                TEXT    NOT NULL CHECK (typeof(kid) = 'text'),
    org                TEXT    NOT NULL,
    algorithm          TEXT    NOT NULL,
    sealed_private_key BLOB    NOT NULL CHECK (typeof(sealed_private_key) = 'blob'),
    created_at         INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
    retires_at         INTEGER CHECK (retires_at IS NULL OR typeof(retires_at) = 'integer'),
    CONSTRAINT signing_keys_pkey PRIMARY KEY (env, kid)
);
-- signing_keys / retire_signing_keys: one organization's keys, newest first.
CREATE INDEX signing_keys_org_newest ON signing_keys (env, org, created_at DESC, kid DESC);
-- purge_expired: retired keys (PostgreSQL's schema has no such index).
CREATE INDEX signing_keys_retired ON signing_keys (retires_at) WHERE retires_at IS NOT NULL;

-- The revocation feed. `seq` is handed out from the environment's head row inside the append's
-- transaction, which holds the database's one write lock until it commits: entries become
-- visible in sequence order, so a reader polling "after the last sequence I saw" never misses
-- one.
CREATE TABLE revocation_heads (
    env  TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    last INTEGER NOT NULL CHECK (typeof(last) = 'integer' AND last >= 1),
    CONSTRAINT revocation_heads_pkey PRIMARY KEY (env)
);

CREATE TABLE revocations (
    env        TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    seq        INTEGER NOT NULL CHECK (typeof(seq) = 'integer' AND seq >= 1),
    -- token: subject = jti; grant: subject = family; user: subject = user id (org set);
    -- client: subject = client id.
    kind       TEXT    NOT NULL CHECK (kind IN ('token', 'grant', 'user', 'client')),
    subject    BLOB    NOT NULL CHECK (typeof(subject) = 'blob' AND length(subject) = 16),
    org        TEXT,
    not_before INTEGER,
    expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
    CONSTRAINT revocations_pkey PRIMARY KEY (env, seq)
);
-- purge_expired.
CREATE INDEX revocations_expiry ON revocations (env, expires_at);

-- Per-application token lifetimes in whole seconds (NULL: the Identity's own).
ALTER TABLE applications ADD COLUMN access_token_validity INTEGER;
ALTER TABLE applications ADD COLUMN id_token_validity INTEGER;
ALTER TABLE applications ADD COLUMN refresh_token_validity INTEGER;
