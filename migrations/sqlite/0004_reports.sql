-- Rider problem reports (纠错). A plain attribute table, deliberately not registered in
-- gpkg_contents: the reporters' positions are personal data, not a map layer for GIS tools.
-- Reports never change the station they are about; they only point at it.

CREATE TABLE reports (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  station_id INTEGER NOT NULL REFERENCES stations(fid),
  kind TEXT NOT NULL CHECK (kind IN ('closed', 'amenity_broken', 'wrong_location', 'other')),
  amenity TEXT,
  note TEXT,
  -- The reporter's position, WGS-84, already rounded to 3 decimals (~100 m) before it is stored.
  lat REAL,
  lon REAL,
  status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
  created_at TEXT NOT NULL,
  resolved_at TEXT,
  -- Who resolved it: the account (kept even if the account goes) and its login at the time.
  resolved_by_id INTEGER,
  resolved_by TEXT,
  resolution TEXT,
  CHECK ((kind = 'amenity_broken') = (amenity IS NOT NULL)),
  CHECK ((lat IS NULL) = (lon IS NULL)),
  CHECK ((status = 'resolved') = (resolved_at IS NOT NULL AND resolution IS NOT NULL))
);
-- A station's list and the managers' inbox, newest first, filtered by status.
CREATE INDEX reports_station ON reports (station_id, status, id);
CREATE INDEX reports_status ON reports (status, id);
