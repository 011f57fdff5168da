-- Planners: a third role, for demand data and coverage suggestions; it manages no station.
--
-- SQLite cannot change a CHECK constraint in place, so `accounts` is rebuilt. sqlx 0.8 runs
-- every SQLite migration inside a transaction (it ignores `-- no-transaction` for SQLite),
-- where `PRAGMA foreign_keys = OFF` is a no-op: with foreign keys on, dropping `accounts`
-- would cascade into `sessions` and `account_stations`. Their rows are kept aside in
-- temporary tables and put back once the new table carries the old name. Their own
-- definitions name `accounts`, so they reference the new table without change.

CREATE TEMP TABLE keep_sessions AS SELECT * FROM sessions;
CREATE TEMP TABLE keep_account_stations AS SELECT * FROM account_stations;

CREATE TABLE accounts_new (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  login TEXT NOT NULL UNIQUE,
  -- argon2 PHC string ($argon2id$v=19$…): salt and parameters travel with the hash.
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'planner')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
INSERT INTO accounts_new (id, login, password_hash, role, created_at, updated_at)
  SELECT id, login, password_hash, role, created_at, updated_at FROM accounts;
-- AUTOINCREMENT never hands out an id again, not even a deleted one: keep its counter.
DELETE FROM sqlite_sequence WHERE name = 'accounts_new';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'accounts_new', seq FROM sqlite_sequence WHERE name = 'accounts';

DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;

INSERT INTO account_stations (account_id, station_id)
  SELECT account_id, station_id FROM keep_account_stations;
INSERT INTO sessions (token_hash, account_id, created_at, expires_at)
  SELECT token_hash, account_id, created_at, expires_at FROM keep_sessions;
DROP TABLE keep_sessions;
DROP TABLE keep_account_stations;
