-- idcore PostgreSQL schema, version 3: sign-in credentials (one row per user that has any).

CREATE TABLE {schema}.credentials (
    env                 TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    user_id             UUID        NOT NULL,
    org                 TEXT        NOT NULL,
    -- Case-folded by idcore (Username::parse), compared exactly: no lower(), no collation.
    username            TEXT,
    -- A PHC string ($argon2id$…, $pbkdf2-sha256$…); NULL: no password set.
    password_hash       TEXT,
    status              TEXT        NOT NULL CHECK (status IN ('unverified', 'active')),
    role                TEXT        NOT NULL CHECK (role IN ('member', 'organization_admin')),
    -- TOTP secrets only sealed (AES-256-GCM under the host's key-encryption key).
    totp_secret         BYTEA,
    totp_at             TIMESTAMPTZ,
    pending_totp_secret BYTEA,
    pending_totp_at     TIMESTAMPTZ,
    recovery_generation BIGINT      NOT NULL CHECK (recovery_generation BETWEEN 0 AND 4294967295),
    -- Keyed SHA-256 digests (32 bytes each), oldest first.
    known_devices       BYTEA[]     NOT NULL,
    known_ips           BYTEA[]     NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    version             BIGINT      NOT NULL CHECK (version >= 0),
    -- credentials / update_credentials (with org in the WHERE), and the cascade below.
    CONSTRAINT credentials_pkey PRIMARY KEY (env, user_id),
    -- credentials_by_username; NULLs (no username) never collide.
    CONSTRAINT credentials_username_key UNIQUE (env, org, username),
    -- Credentials never outlive their user: delete_account deletes the user row and these go
    -- with it, in the same statement.
    CONSTRAINT credentials_user_fkey FOREIGN KEY (env, user_id)
        REFERENCES {schema}.users (env, id) ON DELETE CASCADE,
    CONSTRAINT credentials_totp_whole CHECK ((totp_secret IS NULL) = (totp_at IS NULL)),
    CONSTRAINT credentials_pending_totp_whole
        CHECK ((pending_totp_secret IS NULL) = (pending_totp_at IS NULL))
);
