-- GET /recommendation/{id} for a uniformly random user id in 1..USERS (env, default 100000).
local users = tonumber(os.getenv("USERS") or "100000")

request = function()
  return wrk.format("GET", "/recommendation/" .. math.random(1, users))
end
