-- Administrative regions (province, city, county) with their outlines: the GeoPackage feature
-- layer `regions`, which QGIS and GDAL show beside the stations.
-- GeoPackage wants an integer primary key (fid); the adcode is the key everything else uses.
CREATE TABLE regions (
  fid INTEGER PRIMARY KEY AUTOINCREMENT,
  geom MULTIPOLYGON NOT NULL,
  adcode INTEGER NOT NULL UNIQUE,
  name TEXT NOT NULL,
  level TEXT NOT NULL CHECK (level IN ('province', 'city', 'county')),
  -- No foreign key: a file of counties may be imported before (or without) its city.
  parent_adcode INTEGER,
  updated_at TEXT NOT NULL
);
CREATE INDEX regions_parent ON regions (parent_adcode);

INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)
VALUES ('regions', 'features', 'regions', '行政区划 / administrative regions (边界数据来源：高德)', 4326);
INSERT INTO gpkg_geometry_columns VALUES ('regions', 'geom', 'MULTIPOLYGON', 4326, 0, 0);

-- The R-tree extension, kept in step by the service (see 0001 for why not by triggers).
CREATE VIRTUAL TABLE rtree_regions_geom USING rtree(id, minx, maxx, miny, maxy);
INSERT INTO gpkg_extensions VALUES
  ('regions', 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');
