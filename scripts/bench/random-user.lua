-- GET /recommendation/{id} for a uniformly random user id in 1..USERS (env, default 100000).
local users = tonumber(os.getenv("USERS") or "100000")

-- AUTHORIZATION (env), when set, is sent as the Authorization header: `Bearer slp_…`.
local authorization = os.getenv("AUTHORIZATION")
local headers = {}
if authorization and authorization ~= "" then
  headers["Authorization"] = authorization
end

request = function()
  return wrk.format("GET", "/recommendation/" .. math.random(1, users), headers)
end
