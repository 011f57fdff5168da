-- Staff accounts, the stations each manager may edit, and login sessions.

CREATE TABLE accounts (
  id BIGSERIAL PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  -- argon2 PHC string ($argon2id$v=19$…): salt and parameters travel with the hash.
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'manager')),
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE account_stations (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  station_id BIGINT NOT NULL REFERENCES stations(id),
  PRIMARY KEY (account_id, station_id)
);
CREATE INDEX account_stations_station ON account_stations (station_id);

-- Only the SHA-256 of a session token is kept (hex): a dump of this table logs nobody in.
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  created_at TIMESTAMPTZ NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
