-- wrk: as post.lua, and collect the relay's x-steadfast-overhead-ms of every answer; prints
-- their median and p99 at the end (one thread: run with -t1).
wrk.method = "POST"
wrk.body = '{"contents":[{"parts":[{"text":"hello there, how are you today?"}]}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-goog-api-key"] = os.getenv("KEY")
local seen = {}
function response(status, headers, body)
  local v = headers["x-steadfast-overhead-ms"]
  if v then seen[#seen + 1] = tonumber(v) end
end
function done(summary, latency, requests)
  table.sort(seen)
  if #seen == 0 then print("overhead: none seen") return end
  local function at(q) return seen[math.max(1, math.ceil(#seen * q))] end
  io.write(string.format("overhead_header p50=%.3f p99=%.3f n=%d\n", at(0.5), at(0.99), #seen))
end
