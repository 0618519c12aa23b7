-- idcore SQLite schema, version 3: sign-in credentials (one row per user that has any).

CREATE TABLE credentials (
    env                 TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    user_id             BLOB    NOT NULL CHECK (typeof(user_id) = 'blob' AND length(user_id) = 16),
    org                 TEXT    NOT NULL,
    -- Case-folded by idcore (Username::parse), compared exactly (BINARY collation).
    username            TEXT,
    -- A PHC string ($argon2id$…, $pbkdf2-sha256$…); NULL: no password set.
    password_hash       TEXT,
    status              TEXT    NOT NULL CHECK (status IN ('unverified', 'active')),
    role                TEXT    NOT NULL CHECK (role IN ('member', 'organization_admin')),
    -- TOTP secrets only sealed (AES-256-GCM under the host's key-encryption key).
    totp_secret         BLOB,
    totp_at             INTEGER,
    pending_totp_secret BLOB,
    pending_totp_at     INTEGER,
    recovery_generation INTEGER NOT NULL
        CHECK (typeof(recovery_generation) = 'integer'
               AND recovery_generation BETWEEN 0 AND 4294967295),
    -- Keyed SHA-256 digests, oldest first: 32 bytes each, concatenated.
    known_devices       BLOB    NOT NULL
        CHECK (typeof(known_devices) = 'blob' AND length(known_devices) % 32 = 0),
    known_ips           BLOB    NOT NULL
        CHECK (typeof(known_ips) = 'blob' AND length(known_ips) % 32 = 0),
    updated_at          INTEGER NOT NULL CHECK (typeof(updated_at) = 'integer'),
    version             INTEGER NOT NULL CHECK (typeof(version) = 'integer' AND version >= 0),
    -- credentials / update_credentials (with org in the WHERE), and the cascade below.
    CONSTRAINT credentials_pkey PRIMARY KEY (env, user_id),
    -- credentials_by_username; NULLs (no username) never collide.
    CONSTRAINT credentials_username_key UNIQUE (env, org, username),
    -- Credentials never outlive their user: delete_account deletes the user row and these go
    -- with it, in the same statement (the store turns foreign_keys on for every connection).
    CONSTRAINT credentials_user_fkey FOREIGN KEY (env, user_id)
        REFERENCES users (env, id) ON DELETE CASCADE,
    CONSTRAINT credentials_totp_whole CHECK ((totp_secret IS NULL) = (totp_at IS NULL)),
    CONSTRAINT credentials_pending_totp_whole
        CHECK ((pending_totp_secret IS NULL) = (pending_totp_at IS NULL))
);
