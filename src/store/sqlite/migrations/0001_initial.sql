-- idcore SQLite schema, version 1 (the tables of PostgreSQL's version 1, in SQLite's types).
--
-- The database file belongs to idcore: tables carry plain names (`users`, `events` …), so keep
-- the host's own tables in another file.
--
-- Every table carries `env` ('sandbox' | 'production') as the first column of every key and
-- index: no query reads or writes the other environment.
--
-- Types (SQLite stores what it is given; every column is typed by a CHECK, so a value of the
-- wrong type is refused, not stored):
-- - instants: INTEGER microseconds since 1970-01-01T00:00:00Z (what PostgreSQL's timestamptz
--   keeps, compared as plain integers);
-- - uuids and digests: BLOB of 16 and 32 bytes;
-- - booleans: INTEGER 0 or 1;
-- - lists of strings: TEXT holding a JSON array; JSON documents: TEXT (never queried into);
-- - opaque keys built by idcore: BLOB (they may hold any character, NUL included).
-- Text is compared with the default BINARY collation: exactly, bytewise. E-mail keys are
-- lowercased by idcore, never by lower().

CREATE TABLE organizations (
    env                  TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    domain               TEXT    NOT NULL CHECK (typeof(domain) = 'text'),
    id                   BLOB    NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
    managed_by           TEXT    NOT NULL CHECK (typeof(managed_by) = 'text'),
    name                 TEXT    NOT NULL CHECK (typeof(name) = 'text'),
    locality             TEXT,
    state                TEXT,
    country_name         TEXT,
    privacy_policy_url   TEXT,
    terms_of_service_url TEXT,
    inserted_at          INTEGER NOT NULL CHECK (typeof(inserted_at) = 'integer'),
    updated_at           INTEGER NOT NULL CHECK (typeof(updated_at) = 'integer'),
    deleted_at           INTEGER CHECK (deleted_at IS NULL OR typeof(deleted_at) = 'integer'),
    version              INTEGER NOT NULL CHECK (typeof(version) = 'integer' AND version >= 0),
    -- A deleted organization keeps its row (a tombstone), so its domain is never reused.
    CONSTRAINT organizations_pkey PRIMARY KEY (env, domain),
    CONSTRAINT organizations_id_key UNIQUE (env, id)
);
-- list_organizations: live ones, newest first.
CREATE INDEX organizations_live_newest
    ON organizations (env, inserted_at DESC, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE users (
    env                   TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    id                    BLOB    NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
    org                   TEXT    NOT NULL CHECK (typeof(org) = 'text'),
    email                 TEXT    NOT NULL CHECK (typeof(email) = 'text'),
    -- Email::key(): the address lowercased by idcore (Unicode-aware), the case-insensitive
    -- unique key.
    email_key             TEXT    NOT NULL CHECK (typeof(email_key) = 'text'),
    managed_by            TEXT    NOT NULL,
    email_verified        INTEGER NOT NULL CHECK (email_verified IN (0, 1)),
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
    birthdate             TEXT,    -- YYYY-MM-DD
    zoneinfo              TEXT,
    locale                TEXT,
    phone_number          TEXT,
    phone_number_verified INTEGER NOT NULL CHECK (phone_number_verified IN (0, 1)),
    address               TEXT,    -- JSON object (the Address serde form), or NULL
    metadata              TEXT    NOT NULL, -- JSON array of {key, value}
    avatar_hexa_color     TEXT    NOT NULL,
    inserted_at           INTEGER NOT NULL CHECK (typeof(inserted_at) = 'integer'),
    updated_at            INTEGER NOT NULL CHECK (typeof(updated_at) = 'integer'),
    version               INTEGER NOT NULL CHECK (typeof(version) = 'integer' AND version >= 0),
    CONSTRAINT users_pkey PRIMARY KEY (env, id),
    CONSTRAINT users_email_key UNIQUE (env, org, email_key)
);
-- list_users: an organization's users, newest first.
CREATE INDEX users_newest ON users (env, org, inserted_at DESC, id DESC);

CREATE TABLE applications (
    env                               TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    client_id                         BLOB    NOT NULL
        CHECK (typeof(client_id) = 'blob' AND length(client_id) = 16),
    -- '' for a global application, else the organization domain (never empty).
    scope                             TEXT    NOT NULL CHECK (typeof(scope) = 'text'),
    managed_by                        TEXT    NOT NULL,
    name                              TEXT    NOT NULL,
    description                       TEXT,
    application_type                  TEXT    NOT NULL,
    client_secret_digest              BLOB
        CHECK (client_secret_digest IS NULL
               OR (typeof(client_secret_digest) = 'blob' AND length(client_secret_digest) = 32)),
    allowed_redirect_urls             TEXT    NOT NULL, -- JSON array of strings
    allowed_logout_urls               TEXT    NOT NULL, -- JSON array of strings
    allowed_origins_cors              TEXT    NOT NULL, -- JSON array of strings
    allowed_web_origins               TEXT    NOT NULL, -- JSON array of strings
    default_redirect_uri_after_login  TEXT,
    default_redirect_uri_after_logout TEXT,
    default_origin_cors               TEXT,
    default_web_origin                TEXT,
    inserted_at                       INTEGER NOT NULL CHECK (typeof(inserted_at) = 'integer'),
    updated_at                        INTEGER NOT NULL CHECK (typeof(updated_at) = 'integer'),
    deleted_at                        INTEGER
        CHECK (deleted_at IS NULL OR typeof(deleted_at) = 'integer'),
    version                           INTEGER NOT NULL
        CHECK (typeof(version) = 'integer' AND version >= 0),
    CONSTRAINT applications_pkey PRIMARY KEY (env, client_id)
);
-- list_applications: the live applications of one scope, newest first.
CREATE INDEX applications_live_newest
    ON applications (env, scope, inserted_at DESC, client_id DESC) WHERE deleted_at IS NULL;

-- Event ids: AUTOINCREMENT never hands out an id twice, even after the newest row is deleted,
-- and every append holds the database's one write lock, so ids strictly increase in
-- assignment order.
CREATE TABLE events (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    env                       TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    event_code                TEXT    NOT NULL,
    tenant_domain             TEXT,
    client_id                 BLOB CHECK (client_id IS NULL OR length(client_id) = 16),
    email                     TEXT,
    resource_owner_id         BLOB CHECK (resource_owner_id IS NULL OR length(resource_owner_id) = 16),
    saml_identity_provider_id TEXT,
    inserted_at               INTEGER NOT NULL CHECK (typeof(inserted_at) = 'integer'),
    details                   TEXT    NOT NULL -- JSON object of strings
);
-- events(): newest first (id descending) under each filter the query can set.
CREATE INDEX events_newest ON events (env, id DESC);
CREATE INDEX events_by_tenant ON events (env, tenant_domain, id DESC);
CREATE INDEX events_by_code ON events (env, event_code, id DESC);
CREATE INDEX events_by_tenant_code ON events (env, tenant_domain, event_code, id DESC);
CREATE INDEX events_by_client ON events (env, client_id, id DESC) WHERE client_id IS NOT NULL;
CREATE INDEX events_by_idp
    ON events (env, saml_identity_provider_id, id DESC)
    WHERE saml_identity_provider_id IS NOT NULL;

-- Take-once entries (authorization codes, e-mail codes).
CREATE TABLE one_time (
    env          TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    key          BLOB    NOT NULL CHECK (typeof(key) = 'blob'),
    payload      BLOB    NOT NULL CHECK (typeof(payload) = 'blob'),
    expires_at   INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
    retain_until INTEGER NOT NULL CHECK (typeof(retain_until) = 'integer'),
    taken_at     INTEGER CHECK (taken_at IS NULL OR typeof(taken_at) = 'integer'),
    CONSTRAINT one_time_pkey PRIMARY KEY (env, key)
);
CREATE INDEX one_time_retain ON one_time (retain_until);

-- Refresh tokens. No family lock table (PostgreSQL's refresh_families): every write holds the
-- database's one write lock, which orders rotations and revocations.
CREATE TABLE refresh_tokens (
    env               TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    digest            BLOB    NOT NULL CHECK (typeof(digest) = 'blob' AND length(digest) = 32),
    family            BLOB    NOT NULL CHECK (typeof(family) = 'blob' AND length(family) = 16),
    generation        INTEGER NOT NULL
        CHECK (typeof(generation) = 'integer' AND generation BETWEEN 0 AND 4294967295),
    org               TEXT    NOT NULL,
    user_id           BLOB    NOT NULL CHECK (typeof(user_id) = 'blob' AND length(user_id) = 16),
    client_id         BLOB    NOT NULL
        CHECK (typeof(client_id) = 'blob' AND length(client_id) = 16),
    scope             TEXT    NOT NULL,
    auth_time         INTEGER NOT NULL CHECK (typeof(auth_time) = 'integer'),
    issued_at         INTEGER NOT NULL CHECK (typeof(issued_at) = 'integer'),
    expires_at        INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
    family_expires_at INTEGER NOT NULL CHECK (typeof(family_expires_at) = 'integer'),
    state             TEXT    NOT NULL CHECK (state IN ('active', 'rotated', 'revoked')),
    state_at          INTEGER, -- when rotated or revoked
    successor         BLOB,    -- digest of the successor, when rotated
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (env, digest),
    CONSTRAINT refresh_tokens_state_consistent CHECK (
        (state = 'active' AND state_at IS NULL AND successor IS NULL)
        OR (state = 'rotated' AND typeof(state_at) = 'integer'
            AND typeof(successor) = 'blob' AND length(successor) = 32)
        OR (state = 'revoked' AND typeof(state_at) = 'integer' AND successor IS NULL))
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (env, family);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (env, org, user_id);
CREATE INDEX refresh_tokens_by_client ON refresh_tokens (env, client_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (family_expires_at);

-- Counters with a limit and a fixed expiry window (failed attempts, seats).
CREATE TABLE counters (
    env        TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    key        BLOB    NOT NULL CHECK (typeof(key) = 'blob'),
    value      INTEGER NOT NULL CHECK (typeof(value) = 'integer' AND value >= 0),
    expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
    CONSTRAINT counters_pkey PRIMARY KEY (env, key)
);
CREATE INDEX counters_expiry ON counters (expires_at);

-- Set-once markers (request nonces).
CREATE TABLE marks (
    env        TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    key        BLOB    NOT NULL CHECK (typeof(key) = 'blob'),
    expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
    CONSTRAINT marks_pkey PRIMARY KEY (env, key)
);
CREATE INDEX marks_expiry ON marks (expires_at);

-- Monotonic steps (TOTP). A u64 does not fit SQLite's signed 64-bit INTEGER: it is stored as
-- exactly 20 decimal digits, zero-padded, so text order is numeric order. They never expire.
CREATE TABLE steps (
    env   TEXT NOT NULL CHECK (env IN ('sandbox', 'production')),
    key   BLOB NOT NULL CHECK (typeof(key) = 'blob'),
    value TEXT NOT NULL
        CHECK (typeof(value) = 'text' AND length(value) = 20 AND value NOT GLOB '*[^0-9]*'),
    CONSTRAINT steps_pkey PRIMARY KEY (env, key)
);
