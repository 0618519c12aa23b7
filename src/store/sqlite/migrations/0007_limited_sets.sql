-- Counted sets with a limit (a user's sessions, a connection's seats). Every write is one
-- BEGIN IMMEDIATE transaction on the one writer, so a join's count, eviction and insert are
-- never interleaved with another write.
CREATE TABLE limited_set_members (
    env        TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    set_key    BLOB    NOT NULL CHECK (typeof(set_key) = 'blob'),
    member     BLOB    NOT NULL CHECK (typeof(member) = 'blob'),
    joined_at  INTEGER NOT NULL CHECK (typeof(joined_at) = 'integer'),
    expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
    CONSTRAINT limited_set_members_pkey PRIMARY KEY (env, set_key, member)
);
CREATE INDEX limited_set_members_expiry ON limited_set_members (expires_at);
