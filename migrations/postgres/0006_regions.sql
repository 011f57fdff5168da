-- Administrative regions (province, city, county) with their outlines.
CREATE TABLE regions (
  adcode INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  level TEXT NOT NULL CHECK (level IN ('province', 'city', 'county')),
  -- No foreign key: a file of counties may be imported before (or without) its city.
  parent_adcode INTEGER,
  geom geometry(MultiPolygon, 4326) NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX regions_parent ON regions (parent_adcode);
CREATE INDEX regions_geom_gist ON regions USING GIST (geom);
