-- idcore SQLite schema, version 4: a user can be disabled (`Users::disable`).
-- Existing users stay active.

ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1));
