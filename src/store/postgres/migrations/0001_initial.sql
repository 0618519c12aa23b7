-- idcore PostgreSQL schema, version 1.
--
-- `{schema}` stands for the configured schema (a validated, quoted identifier); every object is
-- qualified with it, so the store never touches a connection's `search_path`.
--
-- Every table carries `env` ('sandbox' | 'production') as the first column of every key and
-- index: no query reads or writes the other environment.
--
-- Portability (CockroachDB, YugabyteDB): only plain types (TEXT, BYTEA, UUID, BOOLEAN, BIGINT,
-- NUMERIC, DATE, TIMESTAMPTZ, TEXT[]), named constraints (the store maps unique violations by
-- constraint name), partial indexes, and one explicit sequence. No jsonb, no triggers, no
-- functions, no extensions, no collation-dependent expressions (e-mail keys are lowercased by
-- idcore, not by lower()). JSON documents are stored as TEXT: they are never queried into, and
-- TEXT keeps `\u0000` escapes that jsonb refuses.

CREATE TABLE {schema}.organizations (
    env                  TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    domain               TEXT        NOT NULL,
    id                   UUID        NOT NULL,
    managed_by           TEXT        NOT NULL,
    name                 TEXT        NOT NULL,
    locality             TEXT,
    state                TEXT,
    country_name         TEXT,
    privacy_policy_url   TEXT,
    terms_of_service_url TEXT,
    inserted_at          TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    deleted_at           TIMESTAMPTZ,
    version              BIGINT      NOT NULL CHECK (version >= 0),
    -- A deleted organization keeps its row (a tombstone), so its domain is never reused.
    CONSTRAINT organizations_pkey PRIMARY KEY (env, domain),
    CONSTRAINT organizations_id_key UNIQUE (env, id)
);
-- list_organizations: live ones, newest first.
CREATE INDEX organizations_live_newest
    ON {schema}.organizations (env, inserted_at DESC, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE {schema}.users (
    env                   TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    id                    UUID        NOT NULL,
    org                   TEXT        NOT NULL,
    email                 TEXT        NOT NULL,
    -- Email::key(): the address lowercased by idcore (Unicode-aware, independent of the
    -- database's collation), the case-insensitive unique key.
    email_key             TEXT        NOT NULL,
    managed_by            TEXT        NOT NULL,
    email_verified        BOOLEAN     NOT NULL,
    name                  TEXT,
    given_name            TEXT,
    family_name           TEXT,
    middle_name           TEXT,
    nickname              TEXT,
    preferred_username    TEXT,
    profile               TEXT,
    picture               TEXT,
    website               TEXT,
    gender                TEXT,
    birthdate             DATE,
    zoneinfo              TEXT,
    locale                TEXT,
    phone_number          TEXT,
    phone_number_verified BOOLEAN     NOT NULL,
    address               TEXT,       -- JSON object (the Address serde form), or NULL
    metadata              TEXT        NOT NULL, -- JSON array of {key, value}
    avatar_hexa_color     TEXT        NOT NULL,
    inserted_at           TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    version               BIGINT      NOT NULL CHECK (version >= 0),
    CONSTRAINT users_pkey PRIMARY KEY (env, id),
    CONSTRAINT users_email_key UNIQUE (env, org, email_key)
);
-- list_users: an organization's users, newest first.
CREATE INDEX users_newest ON {schema}.users (env, org, inserted_at DESC, id DESC);

CREATE TABLE {schema}.applications (
    env                               TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    client_id                         UUID        NOT NULL,
    -- '' for a global application, else the organization domain (never empty).
    scope                             TEXT        NOT NULL,
    managed_by                        TEXT        NOT NULL,
    name                              TEXT        NOT NULL,
    description                       TEXT,
    application_type                  TEXT        NOT NULL,
    client_secret_digest              BYTEA,
    allowed_redirect_urls             TEXT[]      NOT NULL,
    allowed_logout_urls               TEXT[]      NOT NULL,
    allowed_origins_cors              TEXT[]      NOT NULL,
    allowed_web_origins               TEXT[]      NOT NULL,
    default_redirect_uri_after_login  TEXT,
    default_redirect_uri_after_logout TEXT,
    default_origin_cors               TEXT,
    default_web_origin                TEXT,
    inserted_at                       TIMESTAMPTZ NOT NULL,
    updated_at                        TIMESTAMPTZ NOT NULL,
    deleted_at                        TIMESTAMPTZ,
    version                           BIGINT      NOT NULL CHECK (version >= 0),
    CONSTRAINT applications_pkey PRIMARY KEY (env, client_id)
);
-- list_applications: the live applications of one scope, newest first.
CREATE INDEX applications_live_newest
    ON {schema}.applications (env, scope, inserted_at DESC, client_id DESC)
    WHERE deleted_at IS NULL;

-- Event ids: strictly increasing in assignment order (CACHE 1, no cycling). On YugabyteDB the
-- server-side sequence cache (ysql_sequence_cache_minval) must be 1 for this to hold across
-- connections; on CockroachDB a sequence is the only way to get it (unique_rowid() is not).
CREATE SEQUENCE {schema}.events_id_seq AS BIGINT START WITH 1 INCREMENT BY 1 CACHE 1 NO CYCLE;
CREATE TABLE {schema}.events (
    id                        BIGINT      NOT NULL DEFAULT nextval('{schema}.events_id_seq'),
    env                       TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    event_code                TEXT        NOT NULL,
    tenant_domain             TEXT,
    client_id                 UUID,
    email                     TEXT,
    resource_owner_id         UUID,
    saml_identity_provider_id TEXT,
    inserted_at               TIMESTAMPTZ NOT NULL,
    details                   TEXT        NOT NULL, -- JSON object of strings
    CONSTRAINT events_pkey PRIMARY KEY (id)
);
-- events(): newest first (id descending) under each filter the query can set.
CREATE INDEX events_newest ON {schema}.events (env, id DESC);
CREATE INDEX events_by_tenant ON {schema}.events (env, tenant_domain, id DESC);
CREATE INDEX events_by_code ON {schema}.events (env, event_code, id DESC);
CREATE INDEX events_by_tenant_code ON {schema}.events (env, tenant_domain, event_code, id DESC);
CREATE INDEX events_by_client
    ON {schema}.events (env, client_id, id DESC) WHERE client_id IS NOT NULL;
CREATE INDEX events_by_idp
    ON {schema}.events (env, saml_identity_provider_id, id DESC)
    WHERE saml_identity_provider_id IS NOT NULL;

-- Take-once entries (authorization codes, e-mail codes). Keys are BYTEA: they are opaque
-- strings built by idcore and may hold any character, NUL included.
CREATE TABLE {schema}.one_time (
    env          TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    key          BYTEA       NOT NULL,
    payload      BYTEA       NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    retain_until TIMESTAMPTZ NOT NULL,
    taken_at     TIMESTAMPTZ,
    CONSTRAINT one_time_pkey PRIMARY KEY (env, key)
);
CREATE INDEX one_time_retain ON {schema}.one_time (retain_until);

-- One row per refresh token family: the lock that orders rotations against revocations (a
-- revocation locks its families first, so it also sees successors inserted by a rotation that
-- held the lock before it).
CREATE TABLE {schema}.refresh_families (
    env               TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    family            UUID        NOT NULL,
    family_expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT refresh_families_pkey PRIMARY KEY (env, family)
);
CREATE INDEX refresh_families_expiry ON {schema}.refresh_families (family_expires_at);

CREATE TABLE {schema}.refresh_tokens (
    env               TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    digest            BYTEA       NOT NULL,
    family            UUID        NOT NULL,
    generation        BIGINT      NOT NULL CHECK (generation BETWEEN 0 AND 4294967295),
    org               TEXT        NOT NULL,
    user_id           UUID        NOT NULL,
    client_id         UUID        NOT NULL,
    scope             TEXT        NOT NULL,
    auth_time         TIMESTAMPTZ NOT NULL,
    issued_at         TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    family_expires_at TIMESTAMPTZ NOT NULL,
    state             TEXT        NOT NULL CHECK (state IN ('active', 'rotated', 'revoked')),
    state_at          TIMESTAMPTZ, -- when rotated or revoked
    successor         BYTEA,       -- digest of the successor, when rotated
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (env, digest),
    CONSTRAINT refresh_tokens_state_consistent CHECK (
        (state = 'active' AND state_at IS NULL AND successor IS NULL)
        OR (state = 'rotated' AND state_at IS NOT NULL AND successor IS NOT NULL)
        OR (state = 'revoked' AND state_at IS NOT NULL AND successor IS NULL))
);
CREATE INDEX refresh_tokens_by_family ON {schema}.refresh_tokens (env, family);
CREATE INDEX refresh_tokens_by_user ON {schema}.refresh_tokens (env, org, user_id);
CREATE INDEX refresh_tokens_by_client ON {schema}.refresh_tokens (env, client_id);
CREATE INDEX refresh_tokens_expiry ON {schema}.refresh_tokens (family_expires_at);

-- Counters with a limit and a fixed expiry window (failed attempts, seats).
CREATE TABLE {schema}.counters (
    env        TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    key        BYTEA       NOT NULL,
    value      BIGINT      NOT NULL CHECK (value >= 0),
    expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT counters_pkey PRIMARY KEY (env, key)
);
CREATE INDEX counters_expiry ON {schema}.counters (expires_at);

-- Set-once markers (request nonces).
CREATE TABLE {schema}.marks (
    env        TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    key        BYTEA       NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT marks_pkey PRIMARY KEY (env, key)
);
CREATE INDEX marks_expiry ON {schema}.marks (expires_at);

-- Monotonic steps (TOTP). NUMERIC(20, 0) holds every u64 exactly; they never expire.
CREATE TABLE {schema}.steps (
    env   TEXT          NOT NULL CHECK (env IN ('sandbox', 'production')),
    key   BYTEA         NOT NULL,
    value NUMERIC(20, 0) NOT NULL CHECK (value >= 0),
    CONSTRAINT steps_pkey PRIMARY KEY (env, key)
);
