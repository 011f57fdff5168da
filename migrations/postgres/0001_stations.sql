CREATE EXTENSION IF NOT EXISTS postgis;

-- Stations: one row each, retired ones kept (retired_at set) with their history.
CREATE TABLE stations (
  id BIGSERIAL PRIMARY KEY,
  geom geometry(Point, 4326) NOT NULL,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  address TEXT NOT NULL DEFAULT '',
  county TEXT NOT NULL,
  amenities TEXT NOT NULL DEFAULT '',
  opening_hours TEXT NOT NULL,
  closure_until TIMESTAMPTZ,
  closure_reason TEXT,
  phone TEXT,
  photo_url TEXT,
  notes TEXT,
  demo BOOLEAN NOT NULL DEFAULT FALSE,
  verified_at TIMESTAMPTZ,
  version BIGINT NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  retired_at TIMESTAMPTZ
);

CREATE INDEX stations_geom_gist ON stations USING GIST (geom);
CREATE INDEX stations_active ON stations (id) WHERE retired_at IS NULL;
