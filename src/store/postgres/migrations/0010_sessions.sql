-- Crowd-style SSO sessions: the token's digest, never the token. A live session is unique
-- per reuse key (the user and its validation factors as the application compares them); an
-- expired one is deleted in the transaction that opens the next.
CREATE TABLE {schema}.sessions (
    env                 TEXT        NOT NULL CHECK (env IN ('sandbox', 'production')),
    id                  UUID        NOT NULL,
    org                 TEXT        NOT NULL,
    user_id             UUID        NOT NULL,
    token_digest        BYTEA       NOT NULL,
    token_nonce         BYTEA       NOT NULL,
    reuse_key           BYTEA       NOT NULL,
    factors             TEXT        NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    validated_at        TIMESTAMPTZ NOT NULL,
    idle_expires_at     TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT sessions_pkey PRIMARY KEY (env, id),
    CONSTRAINT sessions_token_key UNIQUE (env, token_digest),
    CONSTRAINT sessions_reuse_key UNIQUE (env, reuse_key)
);
CREATE INDEX sessions_by_user ON {schema}.sessions (org, user_id, env, created_at);
