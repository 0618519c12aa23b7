-- A refresh token is found by its primary key (env, digest), whatever the planner knows.
-- With `env` leading the secondary indexes, a statement planned while the table had no
-- statistics (a new database: each connection plans its prepared statements once and keeps
-- the plan until the table is analyzed) could probe a smaller secondary index by `env` alone
-- and filter every token of the environment — 0.5 ms per lookup at 10,000 tokens, growing
-- with the table. Leading with the selective column leaves the primary key the only index an
-- `env = $1 AND digest = $2` lookup can probe. (Rotation compares `family` with
-- `IS NOT DISTINCT FROM` for the same reason: see `rotate_once`.)
--
-- The index builds lock writes to refresh_tokens for their duration (they run inside the
-- migration's transaction, so not CONCURRENTLY): about a second per million tokens.
DROP INDEX {schema}.refresh_tokens_by_family;
DROP INDEX {schema}.refresh_tokens_by_user;
DROP INDEX {schema}.refresh_tokens_by_client;
CREATE INDEX refresh_tokens_by_family ON {schema}.refresh_tokens (family, env);
CREATE INDEX refresh_tokens_by_user ON {schema}.refresh_tokens (user_id, org, env);
CREATE INDEX refresh_tokens_by_client ON {schema}.refresh_tokens (client_id, env);
