-- The "pipelined" workload: every write carries 16 requests for the URL's path
-- (HTTP/1.1 pipelining). wrk counts the 16 requests in the returned string and
-- expects 16 responses per round trip.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local depth = 16

init = function(args)
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, nil)
   end
   req = table.concat(r)
end

request = function()
   return req
end
