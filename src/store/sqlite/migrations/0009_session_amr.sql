-- How the user of a session authenticated (RFC 8176 `amr` values, a JSON array): the ID
-- tokens of codes obtained with the session carry it.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT '[]';
