-- Warm-up only (never measured): cycle through every benchmarked route so each
-- handler, cache and lazy import has run before the first measured wrk run.
local routes = {
   {"GET", "/easter"}, {"GET", "/"}, {"GET", "/hello?name=bill"},
   {"GET", "/users/42"}, {"POST", "/echo"}, {"GET", "/missing"},
}
local body = string.rep("0123456789abcdef", 64)
local reqs = {}
local i = 0

init = function(args)
   for n, r in ipairs(routes) do
      if r[1] == "POST" then
         reqs[n] = wrk.format("POST", r[2],
            {["Content-Type"] = "application/octet-stream"}, body)
      else
         reqs[n] = wrk.format("GET", r[2], {}, nil)
      end
   end
end

request = function()
   i = i % #reqs + 1
   return reqs[i]
end
