-- wrk script: PUT /execution/task-instances/<id>/heartbeat with the id and execution
-- token of one line of the fixture file (TOKENS_FILE, "<ti_id> <token>" per line),
-- cycling through the lines so that every task instance gets heartbeats.
--
-- The requests are formatted once, in init: wrk runs this Lua on the same cores as the
-- server under test, so request() only picks the next one. There is no response()
-- callback, which would make wrk hand every response's headers and body to Lua; answers
-- of status 400 or more are counted by wrk itself (summary.errors.status).
local requests = {}
local next_ = 1

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    local id, token = line:match("^(%S+) (%S+)$")
    if id then
      table.insert(requests, wrk.format("PUT", "/execution/task-instances/" .. id .. "/heartbeat",
        { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
        '{"hostname":"bench","pid":1}'))
    end
  end
  -- Each wrk thread starts at a different place in the file.
  next_ = math.random(#requests)
end

function request()
  local r = requests[next_]
  next_ = next_ % #requests + 1
  return r
end

function done(summary, latency, requests_done)
  local s = summary
  io.write(string.format(
    "RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d socket_errors=%d\n",
    s.requests / (s.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, s.requests, s.errors.status,
    s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
