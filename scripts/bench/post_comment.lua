-- wrk: POST /comments, every request from a fresh visitor, so every answer stores a comment
-- and creates a session. The site knows a visitor by their CSRF cookie (one comment each), so
-- each request takes its own CSRF pair from a file of `cookie token` lines, made by
-- `bench_seed csrf-pairs N`. Threads take alternate lines; a pair used twice answers 409 and
-- shows up as an error. No form is read, so no spam-trap stamp is sent: bench.sh runs the
-- servers with COMMENT_MIN_SECONDS=0 and COMMENT_THROTTLE_PER_ADDRESS=0.
--
--   BENCH_PAIRS        the file of pairs                               (required)
--   BENCH_PAIR_OFFSET  lines already used by earlier runs (default 0)
--   BENCH_THREADS      wrk's -t, so threads share the lines out (default 1)
--   BENCH_STOP_AFTER   optional: each thread stops sending after this many answers
--                      (wrk itself still runs to the end of -d)
local file = assert(os.getenv("BENCH_PAIRS"), "BENCH_PAIRS is not set")
local offset = tonumber(os.getenv("BENCH_PAIR_OFFSET") or "0")
local step = tonumber(os.getenv("BENCH_THREADS") or "1")
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "")

local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local cookies, tokens = {}, {}
local sent = 0
function init(args)
  local first = offset + (thread_index or 0)
  local n = 0
  for line in io.lines(file) do
    if n >= first and (n - first) % step == 0 then
      local cookie, token = line:match("^(%S+) (%S+)$")
      cookies[#cookies + 1] = cookie
      tokens[#tokens + 1] = token
    end
    n = n + 1
  end
  assert(#cookies > 0, "no CSRF pairs left in " .. file)
end

function request()
  sent = sent + 1
  local i = (sent - 1) % #cookies + 1
  local body = "comment=Benchmark+comment+" .. sent
    .. "+from+a+fresh+visitor%2C+about+as+long+as+a+real+one.&csrf_token=" .. tokens[i]
  local headers = {
    ["Host"] = wrk.headers["Host"],
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "csrftoken=" .. cookies[i],
  }
  return wrk.format("POST", "/comments", headers, body)
end

-- Only defined when asked for: a response callback makes wrk parse every answer.
if stop_after then
  local answered = 0
  function response(status, headers, body)
    answered = answered + 1
    if answered >= stop_after then
      wrk.thread:stop()
    end
  end
end
