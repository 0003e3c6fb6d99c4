-- wrk script for bench/sections/wrk.ts: POSTs 100-byte JSON objects.
-- Started with one connection per thread (-t N -c N), so each thread is one connection; with
-- STREAMS set to N paths (comma-separated) thread k appends to path k, with one path every
-- thread shares it. done() prints one JSON line the harness parses.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local paths = {}
  for path in string.gmatch(os.getenv("STREAMS") or "/", "([^,]+)") do table.insert(paths, path) end
  local path = paths[(index % #paths) + 1]
  local bare = string.format('{"w":%d,"p":""}', index)
  local body = string.format('{"w":%d,"p":"%s"}', index, string.rep("x", 100 - #bare))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  req = wrk.format("POST", path, nil, body)
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
