-- GET a list of request paths round-robin, one list per run (read by id, or a search URL family).
-- Usage: wrk ... -s bench/lua/paths.lua URL -- PATHS_FILE
-- Each thread starts at a different offset so threads don't ask for the same id in lockstep.
-- FHIR_BENCH_TOKEN, when set, is sent as a bearer token.
-- done() prints one line "BENCH_JSON {...}" with exact percentiles from wrk's histogram.

local paths = {}
local cursor = 0
local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("no paths in " .. args[1]) end
  cursor = math.floor(#paths * (thread_index or 0) / 2) % #paths
  local token = os.getenv("FHIR_BENCH_TOKEN")
  if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
  wrk.headers["Accept"] = "application/fhir+json"
end

function request()
  cursor = cursor % #paths + 1
  return wrk.format("GET", paths[cursor])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
