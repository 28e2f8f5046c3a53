-- wrk: POST /login with the right password, over and over, each request a new login (no
-- session cookie sent, so each creates a session and hashes the password once).
--
--   BENCH_CSRF_COOKIE  the csrftoken cookie's value        (required)
--   BENCH_CSRF_TOKEN   a form token matching that cookie   (required)
--   BENCH_USERNAME, BENCH_PASSWORD                         (required)
local function need(name)
  return assert(os.getenv(name), name .. " is not set")
end

local function form_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "csrftoken=" .. need("BENCH_CSRF_COOKIE")
wrk.path = "/login"
wrk.body = "username=" .. form_escape(need("BENCH_USERNAME"))
  .. "&password=" .. form_escape(need("BENCH_PASSWORD"))
  .. "&csrf_token=" .. form_escape(need("BENCH_CSRF_TOKEN"))
