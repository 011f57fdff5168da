-- Rider problem reports (纠错). Reports never change the station they are about; they only
-- point at it. The reporter's position is personal data, kept coarse (see below) and shown to
-- managers only; it is plain numbers, not a geometry, because nothing queries it spatially.

CREATE TABLE reports (
  id BIGSERIAL PRIMARY KEY,
  station_id BIGINT NOT NULL REFERENCES stations(id),
  kind TEXT NOT NULL CHECK (kind IN ('closed', 'amenity_broken', 'wrong_location', 'other')),
  amenity TEXT,
  note TEXT,
  -- WGS-84, already rounded to 3 decimals (~100 m) before it is stored.
  lat DOUBLE PRECISION,
  lon DOUBLE PRECISION,
  status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
  created_at TIMESTAMPTZ NOT NULL,
  resolved_at TIMESTAMPTZ,
  -- Who resolved it: the account (kept even if the account goes) and its login at the time.
  resolved_by_id BIGINT,
  resolved_by TEXT,
  resolution TEXT,
  CHECK ((kind = 'amenity_broken') = (amenity IS NOT NULL)),
  CHECK ((lat IS NULL) = (lon IS NULL)),
  CHECK ((status = 'resolved') = (resolved_at IS NOT NULL AND resolution IS NOT NULL))
);
-- A station's list and the managers' inbox, newest first, filtered by status.
CREATE INDEX reports_station ON reports (station_id, status, id);
CREATE INDEX reports_status ON reports (status, id);
