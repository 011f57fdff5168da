-- wrk script: GET a random tile path from the file named by $TILE_LIST (one path a line).
local paths = {}
for line in io.lines(os.getenv("TILE_LIST")) do
  paths[#paths + 1] = line
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)], { ["Accept-Encoding"] = "identity" })
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
