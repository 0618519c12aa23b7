-- Deleting an organization revokes its tokens: the revocation feed gains the kind
-- 'organization' (subject = organization id, org = its domain, not_before set). Instances of
-- older versions read such a row as an unknown kind and fail closed (live verification answers
-- a store error): upgrade them all before deleting an organization.
ALTER TABLE {schema}.revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE {schema}.revocations ADD CONSTRAINT revocations_kind_check
    CHECK (kind IN ('token', 'grant', 'user', 'client', 'organization'));

-- purge_expired: retired signing keys by an index, as in the SQLite schema since its 0002.
CREATE INDEX signing_keys_retired ON {schema}.signing_keys (retires_at) WHERE retires_at IS NOT NULL;
