-- Crowd-style SSO sessions: the token's digest, never the token. A live session is unique
-- per reuse key (the user and its validation factors as the application compares them); an
-- expired one is replaced in the same write transaction that opens the next.
CREATE TABLE sessions (
    env                 TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    id                  BLOB    NOT NULL CHECK (typeof(id) = 'blob' AND length(id) = 16),
    org                 TEXT    NOT NULL,
    user_id             BLOB    NOT NULL CHECK (typeof(user_id) = 'blob' AND length(user_id) = 16),
    token_digest        BLOB    NOT NULL CHECK (typeof(token_digest) = 'blob' AND length(token_digest) = 32),
    token_nonce         BLOB    NOT NULL CHECK (typeof(token_nonce) = 'blob'),
    reuse_key           BLOB    NOT NULL CHECK (typeof(reuse_key) = 'blob' AND length(reuse_key) = 32),
    factors             TEXT    NOT NULL,
    created_at          INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
    validated_at        INTEGER NOT NULL CHECK (typeof(validated_at) = 'integer'),
    idle_expires_at     INTEGER NOT NULL CHECK (typeof(idle_expires_at) = 'integer'),
    absolute_expires_at INTEGER NOT NULL CHECK (typeof(absolute_expires_at) = 'integer'),
    CONSTRAINT sessions_pkey PRIMARY KEY (env, id),
    CONSTRAINT sessions_token_key UNIQUE (env, token_digest),
    CONSTRAINT sessions_reuse_key UNIQUE (env, reuse_key)
);
CREATE INDEX sessions_by_user ON sessions (env, org, user_id, created_at);
