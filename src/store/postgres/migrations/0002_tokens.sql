-- idcore PostgreSQL schema, version 2: the tokens module's signing keys and revocation feed.

-- Signing keys: the private key only sealed (AES-256-GCM under the host's key-encryption key).
CREATE TABLE {schema}.signing_keys (
    env                TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    kid                TEXT        NOT NULL,
    org                TEXT        NOT NULL,
    algorithm          TEXT        NOT NULL,
    sealed_private_key BYTEA       NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    retires_at         TIMESTAMPTZ,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (env, kid)
);
-- signing_keys / retire_signing_keys: one organization's keys, newest first.
CREATE INDEX signing_keys_org_newest ON {schema}.signing_keys (env, org, created_at DESC, kid DESC);

-- The revocation feed. `seq` is handed out under the row lock of the environment's head row and
-- the append commits while holding it, so entries become visible in sequence order: a reader
-- polling "after the last sequence I saw" never misses one.
CREATE TABLE {schema}.revocation_heads (
    env  TEXT   NOT NULL CHECK (env IN ('sandbox', 'production')),
    last BIGINT NOT NULL,
    CONSTRAINT revocation_heads_pkey PRIMARY KEY (env)
);

CREATE TABLE {schema}.revocations (
    env        TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    seq        BIGINT      NOT NULL,
    -- token: subject = jti; grant: subject = family; user: subject = user id (org set);
    -- client: subject = client id.
    kind       TEXT        NOT NULL CHECK (kind IN ('token', 'grant', 'user', 'client')),
    subject    UUID        NOT NULL,
    org        TEXT,
    not_before TIMESTAMPTZ,
    expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT revocations_pkey PRIMARY KEY (env, seq)
);
-- purge_expired.
CREATE INDEX revocations_expiry ON {schema}.revocations (env, expires_at);

-- Per-application token lifetimes in whole seconds (NULL: the Identity's own).
ALTER TABLE {schema}.applications ADD COLUMN access_token_validity BIGINT;
ALTER TABLE {schema}.applications ADD COLUMN id_token_validity BIGINT;
ALTER TABLE {schema}.applications ADD COLUMN refresh_token_validity BIGINT;
