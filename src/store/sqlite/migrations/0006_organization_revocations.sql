-- Deleting an organization revokes its tokens: the revocation feed gains the kind
-- 'organization' (subject = organization id, org = its domain, not_before set). Instances of
-- older versions read such a row as an unknown kind and fail closed (live verification answers
-- a store error): upgrade them all before deleting an organization. SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt, rows and sequence kept.
CREATE TABLE revocations_new (
    env        TEXT    NOT NULL CHECK (env IN ('sandbox', 'production')),
    seq        INTEGER NOT NULL CHECK (typeof(seq) = 'integer' AND seq >= 1),
    -- token: subject = jti; grant: subject = family; user: subject = user id (org set);
    -- organization: subject = organization id (org set); client: subject = client id.
    kind       TEXT    NOT NULL
               CHECK (kind IN ('token', 'grant', 'user', 'client', 'organization')),
    subject    BLOB    NOT NULL CHECK (typeof(subject) = 'blob' AND length(subject) = 16),
    org        TEXT,
    not_before INTEGER,
    expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
    CONSTRAINT revocations_pkey PRIMARY KEY (env, seq)
);
INSERT INTO revocations_new (env, seq, kind, subject, org, not_before, expires_at)
    SELECT env, seq, kind, subject, org, not_before, expires_at FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE INDEX revocations_expiry ON revocations (env, expires_at);
