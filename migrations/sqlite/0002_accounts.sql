-- Staff accounts, the stations each manager may edit, and login sessions.
-- Plain attribute tables, deliberately not registered in gpkg_contents: password hashes and
-- session tokens are no map layer, and GIS tools opening the file need not list them.

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  login TEXT NOT NULL UNIQUE,
  -- argon2 PHC string ($argon2id$v=19$…): salt and parameters travel with the hash.
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'manager')),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

CREATE TABLE account_stations (
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  station_id INTEGER NOT NULL REFERENCES stations(fid),
  PRIMARY KEY (account_id, station_id)
);
CREATE INDEX account_stations_station ON account_stations (station_id);

-- Only the SHA-256 of a session token is kept (hex): a copy of this file logs nobody in.
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
