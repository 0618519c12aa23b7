-- The identity provider account a user signs in as through an SSO connection: the JSON of the
-- Federation serde form ({"idp_id", "subject"}), NULL for a user that never signed in through
-- one.
ALTER TABLE {schema}.users ADD COLUMN federation TEXT;
