-- POST /login with a random username and a wrong password each time, all from one browser
-- (one CSRF pair, from CSRF_COOKIE and CSRF_TOKEN): scripts/login-flood.sh.
local token = os.getenv("CSRF_TOKEN")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "csrftoken=" .. os.getenv("CSRF_COOKIE")

function setup(thread)
  thread:set("seed", math.random(1, 2 ^ 30))
end

function init()
  math.randomseed(seed)
end

function request()
  local name = string.format("flood%08x%08x", math.random(0, 2 ^ 31), math.random(0, 2 ^ 31))
  return wrk.format(nil, "/login", nil, "username=" .. name .. "&password=guess&csrf_token=" .. token)
end
