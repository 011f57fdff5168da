-- Demand, aggregated to H3 cells (raw points are never stored), and counts of nearest-query
-- origins per coarse H3 cell. Plain attribute tables, not map layers: a cell is its own
-- geometry (an H3 index, stored as a signed 64-bit integer; every index fits in 63 bits).

CREATE TABLE demand_cells (
  cell INTEGER NOT NULL,
  label TEXT NOT NULL DEFAULT '',
  weight REAL NOT NULL,
  points INTEGER NOT NULL,
  PRIMARY KEY (cell, label)
);

CREATE TABLE query_demand (
  cell INTEGER PRIMARY KEY,
  count INTEGER NOT NULL
);
