-- Nearest queries only ever search active stations (`WHERE retired_at IS NULL`, the exact
-- predicate of the store's KNN query, `NEAREST_SQL` in src/store/postgres/mod.rs). A GiST index
-- with that same predicate is the only spatial index on the table, so the planner's one way to
-- answer `ORDER BY geom <-> p LIMIT k` without sorting every row is this KNN scan, whatever the
-- statistics say: on a freshly loaded, never analysed table it used to pick the partial btree
-- `stations_active` plus a sort of all stations (and, once analysed, the full GiST with a
-- filter, which scans retired stations too). Retired stations are kept for their history and
-- are never searched by place, so the index over all rows is dropped.
CREATE INDEX stations_active_geom_gist ON stations USING GIST (geom) WHERE retired_at IS NULL;
DROP INDEX stations_geom_gist;
