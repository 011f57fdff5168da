-- Every change to a station, written in the same transaction as the change.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  station_id INTEGER NOT NULL REFERENCES stations(fid),
  account_id INTEGER,
  actor TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('create', 'update', 'verify', 'retire')),
  at TEXT NOT NULL,
  fields TEXT NOT NULL,
  before TEXT,
  after TEXT
);
CREATE INDEX audit_log_station ON audit_log (station_id, id);
-- Replicas resync from recent changes.
CREATE INDEX stations_updated_at ON stations (updated_at);
