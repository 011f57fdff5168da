-- wrk script: GET /api/v1/stations/nearest at random points, 70 % around Nanchang, 30 % anywhere
-- in Jiangxi; prints one machine-readable RESULT line at the end (used by scripts/loadtest.sh).
-- WRK_SEED makes the point sequence repeatable; each wrk thread gets its own stream.
-- WRK_FIXED_PATH=/path requests that one path instead (the static-file ceiling run).

local seed = tonumber(os.getenv("WRK_SEED") or "20261127")
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(seed + 7919 * (tid or 0))
end

local fixed_path = os.getenv("WRK_FIXED_PATH")

function request()
  if fixed_path then
    -- The static-file ceiling: one path, the same RESULT line.
    return wrk.format("GET", fixed_path)
  end
  local lon, lat
  if math.random() < 0.7 then
    -- Nanchang: a 0.4° x 0.3° box around the centre.
    lon = 115.69 + math.random() * 0.40
    lat = 28.53 + math.random() * 0.30
  else
    lon = 113.6 + math.random() * 4.8
    lat = 24.5 + math.random() * 5.5
  end
  return wrk.format("GET", string.format(
    "/api/v1/stations/nearest?lat=%.6f&lon=%.6f&limit=5", lat, lon))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f req_s=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.status, e.timeout))
end
