-- idcore PostgreSQL schema, version 4: a user can be disabled (`Users::disable`).
-- Existing users stay active.

ALTER TABLE {schema}.users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
