-- Every change to a station, written in the same transaction as the change.
CREATE TABLE audit_log (
  id BIGSERIAL PRIMARY KEY,
  station_id BIGINT NOT NULL REFERENCES stations(id),
  account_id BIGINT,
  actor TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('create', 'update', 'verify', 'retire')),
  at TIMESTAMPTZ NOT NULL,
  fields JSONB NOT NULL,
  before JSONB,
  after JSONB
);
CREATE INDEX audit_log_station ON audit_log (station_id, id);
-- Replicas resync from recent changes.
CREATE INDEX stations_updated_at ON stations (updated_at);
