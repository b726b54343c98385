-- wrk script of benches/wrk/run.sh: durable holds over HTTP.
--
-- Each request is POST /api/v1/reservations with
--   Authorization: Bearer <token>   (one of N user tokens, round robin)
--   Idempotency-Key: <run>-<thread>-<n>   (unique per request)
--   Content-Type: application/json
--   {"scheduleId":"<id>","quantity":1}   (one of M schedule ids)
-- Request i of a thread goes to user i mod N and schedule (i div N) mod M,
-- so every (user, schedule) pair comes round once per N x M requests and no
-- user nears maxSeatsPerUser on a schedule while holds are short.
--
-- The files (one token or schedule id a line) are named by the environment
-- variables WRK_TOKENS and WRK_SCHEDULES, or by the script arguments:
--   wrk ... -s holds.lua <url> -- tokens.txt schedules.txt
-- WRK_RUN (optional) prefixes the idempotency keys, so two runs against one
-- server do not replay each other's answers.
--
-- The same script is pointed at hello-server, which answers 200 to anything:
-- both targets get byte-for-byte the same kind of requests.
--
-- done() prints the status codes seen and one machine-readable line:
--   WRK_SUMMARY requests=.. seconds=.. rps=.. ok2xx_per_s=.. created201_per_s=.. p50_ms=.. p99_ms=.. ...

local threads = {}
local next_thread_id = 0

-- Runs in the main Lua state, once per thread, before the threads start.
function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

local function read_lines(path, what)
  local lines = {}
  local file = io.open(path, "r")
  if not file then
    error("holds.lua: cannot open the " .. what .. " file " .. tostring(path))
  end
  for line in file:lines() do
    line = line:gsub("%s+$", "")
    if line ~= "" then
      table.insert(lines, line)
    end
  end
  file:close()
  if #lines == 0 then
    error("holds.lua: the " .. what .. " file " .. path .. " is empty")
  end
  return lines
end

-- Per thread (each has its own Lua state).
local prefixes = {} -- per user: request line, Host and Authorization
local bodies = {} -- per schedule: the headers after the key, and the body
local users, schedules = 0, 0
local counter = 0
local key_prefix = ""
counts = {} -- status code -> responses; read by done() through thread:get

function init(args)
  local tokens_path = args[1] or os.getenv("WRK_TOKENS")
  local schedules_path = args[2] or os.getenv("WRK_SCHEDULES")
  if not tokens_path or not schedules_path then
    error("holds.lua: set WRK_TOKENS and WRK_SCHEDULES, or pass -- tokens.txt schedules.txt")
  end
  local host = wrk.headers["Host"]
  for _, token in ipairs(read_lines(tokens_path, "tokens")) do
    table.insert(prefixes,
      "POST /api/v1/reservations HTTP/1.1\r\n" ..
      "Host: " .. host .. "\r\n" ..
      "Authorization: Bearer " .. token .. "\r\n" ..
      "Idempotency-Key: ")
  end
  for _, id in ipairs(read_lines(schedules_path, "schedules")) do
    local body = '{"scheduleId":"' .. id .. '","quantity":1}'
    table.insert(bodies,
      "\r\nContent-Type: application/json\r\n" ..
      "Content-Length: " .. #body .. "\r\n\r\n" .. body)
  end
  users, schedules = #prefixes, #bodies
  local id = thread_id or 0
  key_prefix = (os.getenv("WRK_RUN") or tostring(os.time())) .. "-" .. id .. "-"
  -- Threads start at different places of the round.
  counter = id * 7919
end

function request()
  local i = counter
  counter = counter + 1
  local user = i % users
  local schedule = math.floor(i / users) % schedules
  return prefixes[user + 1] .. key_prefix .. i .. bodies[schedule + 1]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local seen = thread:get("counts")
    for status, n in pairs(seen) do
      total[status] = (total[status] or 0) + n
    end
  end
  local classes = { 0, 0, 0, 0, 0 }
  local codes = {}
  for status, n in pairs(total) do
    local class = math.floor(status / 100)
    if class >= 1 and class <= 5 then
      classes[class] = classes[class] + n
    end
    table.insert(codes, status)
  end
  table.sort(codes)
  local parts = {}
  for _, status in ipairs(codes) do
    table.insert(parts, status .. "=" .. total[status])
  end
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write("statuses: " .. (#parts > 0 and table.concat(parts, " ") or "none") .. "\n")
  io.write(string.format(
    "WRK_SUMMARY requests=%d seconds=%.3f rps=%.1f ok2xx_per_s=%.1f created201_per_s=%.1f " ..
    "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "s2xx=%d s3xx=%d s4xx=%d s5xx=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    classes[2] / seconds, (total[201] or 0) / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    classes[2], classes[3], classes[4], classes[5],
    errors.connect, errors.read, errors.write, errors.timeout))
end
