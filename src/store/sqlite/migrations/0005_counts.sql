-- idcore SQLite schema, version 5: list totals kept up to date instead of counted, so a list
-- answers its total in O(1) however long it is.
--
-- Triggers keep the counts: they run inside the statement that inserts or deletes the row, so
-- every write path (directory writes, accounts, the audit log) counts in its own transaction.
-- The migration holds the write lock while it back-fills, so nothing slips in between.

-- Users per organization.
CREATE TABLE user_counts (
    env TEXT    NOT NULL,
    org TEXT    NOT NULL,
    n   INTEGER NOT NULL,
    PRIMARY KEY (env, org)
) WITHOUT ROWID;
INSERT INTO user_counts (env, org, n) SELECT env, org, count(*) FROM users GROUP BY env, org;
CREATE TRIGGER users_counted AFTER INSERT ON users BEGIN
    INSERT INTO user_counts (env, org, n) VALUES (NEW.env, NEW.org, 1)
        ON CONFLICT (env, org) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER users_uncounted AFTER DELETE ON users BEGIN
    UPDATE user_counts SET n = n - 1 WHERE env = OLD.env AND org = OLD.org;
END;

-- Events per (tenant, code), '' meaning "any", for the four filter combinations the list
-- answers from counts: {all, tenant, code, tenant + code}, each in 16 shards by id % 16 (as on
-- PostgreSQL; SQLite has one writer at a time, so the shards only keep the schemas alike).
CREATE TABLE event_counts (
    env           TEXT    NOT NULL,
    tenant_domain TEXT    NOT NULL,
    event_code    TEXT    NOT NULL,
    shard         INTEGER NOT NULL CHECK (shard BETWEEN 0 AND 15),
    n             INTEGER NOT NULL,
    PRIMARY KEY (env, tenant_domain, event_code, shard)
) WITHOUT ROWID;
INSERT INTO event_counts (env, tenant_domain, event_code, shard, n)
    SELECT env, t, c, shard, count(*) FROM (
        SELECT env, '' AS t, '' AS c, id % 16 AS shard FROM events
        UNION ALL SELECT env, tenant_domain, '', id % 16 FROM events
            WHERE tenant_domain IS NOT NULL
        UNION ALL SELECT env, '', event_code, id % 16 FROM events
        UNION ALL SELECT env, tenant_domain, event_code, id % 16 FROM events
            WHERE tenant_domain IS NOT NULL
    ) GROUP BY env, t, c, shard;
CREATE TRIGGER events_counted AFTER INSERT ON events BEGIN
    INSERT INTO event_counts (env, tenant_domain, event_code, shard, n)
        VALUES (NEW.env, '', '', NEW.id % 16, 1), (NEW.env, '', NEW.event_code, NEW.id % 16, 1)
        ON CONFLICT (env, tenant_domain, event_code, shard) DO UPDATE SET n = n + 1;
    INSERT INTO event_counts (env, tenant_domain, event_code, shard, n)
        SELECT NEW.env, NEW.tenant_domain, c, NEW.id % 16, 1
        FROM (SELECT '' AS c UNION ALL SELECT NEW.event_code)
        WHERE NEW.tenant_domain IS NOT NULL
        ON CONFLICT (env, tenant_domain, event_code, shard) DO UPDATE SET n = n + 1;
END;
