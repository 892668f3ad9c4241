-- wrk script for `handover bench --scenario rush`: open-loop replay of a request file.
--
-- One connection per wrk thread (wrk -t N -c N), so each thread's request() and response()
-- alternate and every answer is matched to its request. Line i (0-based) is due at
-- start + i / rate; thread t sends the lines i with i % N == t, waiting in delay() until each is
-- due. A connection still waiting for an answer when its next line falls due sends it late: the
-- latency written is taken from the time the line was due, not from when it was sent, so a slow
-- answer is not hidden by the requests it held back (coordinated omission).
--
-- init args: requests file prefix, output directory, start (microseconds since the epoch), rate
-- (per s). Thread t reads <prefix>-<t>.tsv, its own lines, each:
-- LINE \t METHOD \t PATH \t TOKEN \t IDEMPOTENCY-KEY \t JSON BODY.
-- Each thread writes thread-<t>.tsv (line, due, sent, answered in microseconds, status) and,
-- once all its lines are answered, thread-<t>.done, and stops.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } rush_timespec;
int clock_gettime(int clk_id, rush_timespec *tp);
]]
local clock = ffi.new("rush_timespec")

local function now_us()
  ffi.C.clock_gettime(0, clock) -- CLOCK_REALTIME: the same clock in every thread and in the bench
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local reqs, k, sent_us, out, dir
local start_us, interval_us

local function finish()
  out:close()
  local marker = io.open(dir .. "/thread-" .. id .. ".done", "w")
  marker:close()
end

function init(args)
  local prefix = args[1]
  dir = args[2]
  start_us = tonumber(args[3])
  interval_us = 1000000 / tonumber(args[4])
  reqs = {}
  for line in io.lines(prefix .. "-" .. id .. ".tsv") do
    local n, method, target, token, key, body =
      line:match("^(%d+)\t(%u+)\t([^\t]+)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    if token ~= "" then headers["Authorization"] = "Bearer " .. token end
    if key ~= "" then headers["Idempotency-Key"] = key end
    if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
    reqs[#reqs + 1] = { tonumber(n), wrk.format(method, target, headers, body) }
  end
  k = 1
  out = io.open(dir .. "/thread-" .. id .. ".tsv", "w")
  out:setvbuf("line")
  if #reqs == 0 then finish() end
end

local function due(i)
  return start_us + math.floor(reqs[i][1] * interval_us)
end

function delay()
  if k > #reqs then return 86400000 end -- nothing left: idle until wrk is stopped
  local wait = (due(k) - now_us()) / 1000
  if wait <= 0 then return 0 end
  return math.ceil(wait)
end

function request()
  sent_us = now_us()
  return reqs[math.min(k, #reqs)][2]
end

function response(status, headers, body)
  local answered = now_us()
  if k > #reqs then return end
  out:write(string.format("%d\t%d\t%d\t%d\t%d\n", reqs[k][1], due(k), sent_us, answered, status))
  k = k + 1
  if k > #reqs then
    finish()
    wrk.thread:stop()
  end
end
