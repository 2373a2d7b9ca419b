-- wrk script: PUT /execution/task-instances/<id>/heartbeat with the id and execution
-- token of one line of the fixture file (TOKENS_FILE, "<ti_id> <token>" per line),
-- cycling through the lines so that every task instance gets heartbeats. Non-2xx answers
-- are counted and printed at the end.
local pairs_ = {}
local next_ = 1
local errors = 0

function init(args)
  local path = os.getenv("TOKENS_FILE")
  for line in io.lines(path) do
    local id, token = line:match("^(%S+) (%S+)$")
    if id then table.insert(pairs_, { id = id, token = token }) end
  end
  -- Each wrk thread starts at a different place in the file.
  next_ = (math.random(#pairs_))
end

function request()
  local p = pairs_[next_]
  next_ = next_ % #pairs_ + 1
  return wrk.format("PUT", "/execution/task-instances/" .. p.id .. "/heartbeat",
    { ["Authorization"] = "Bearer " .. p.token, ["Content-Type"] = "application/json" },
    '{"hostname":"bench","pid":1}')
end

function response(status, headers, body)
  if status ~= 204 then errors = errors + 1 end
end

function done(summary, latency, requests)
  local s = summary
  local non2xx = s.errors.status
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d socket_errors=%d\n",
    s.requests / (s.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, s.requests, non2xx,
    s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
