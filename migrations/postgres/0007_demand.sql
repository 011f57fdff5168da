-- Demand, aggregated to H3 cells (raw points are never stored), and counts of nearest-query
-- origins per coarse H3 cell. A cell is an H3 index stored as a signed 64-bit integer (every
-- index fits in 63 bits).

CREATE TABLE demand_cells (
  cell BIGINT NOT NULL,
  label TEXT NOT NULL DEFAULT '',
  weight DOUBLE PRECISION NOT NULL,
  -- BIGINT like the count it holds (i64): appended imports add up.
  points BIGINT NOT NULL,
  PRIMARY KEY (cell, label)
);

CREATE TABLE query_demand (
  cell BIGINT PRIMARY KEY,
  count BIGINT NOT NULL
);
