-- The "browser" workload: the params request with the twelve header fields (Host included) a browser sends
-- (about 600 bytes, cookies included). A per-request counter in the Cookie and in a
-- sec-ch-ua field makes every head different, so no memo of identical heads can help.
-- bench/harness/workloads.py (BROWSER_FIELDS) sends the same fields in its checks.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local counter = 0
local headers = {}

init = function(args)
   headers["Connection"] = "keep-alive"
   headers["Upgrade-Insecure-Requests"] = "1"
   headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
      .. "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
   headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,"
      .. "image/avif,image/webp,*/*;q=0.8"
   headers["sec-ch-ua-mobile"] = "?0"
   headers["Sec-Fetch-Site"] = "same-origin"
   headers["Sec-Fetch-Mode"] = "navigate"
   headers["Accept-Encoding"] = "gzip, deflate, br, zstd"
   headers["Accept-Language"] = "en-US,en;q=0.9,de;q=0.8"
end

request = function()
   counter = counter + 1
   headers["sec-ch-ua"] = "\"Chromium\";v=\"124\", \"Not-A.Brand\";v=\"" .. counter % 97 .. "\""
   headers["Cookie"] = "_ga=GA1.1." .. counter .. ".1717171717; theme=dark; "
      .. "csrftoken=Xq3vT0aZ8mN2pL5rK7wY9bC1dF4gH6jE; sessionid=" .. (counter * 7919)
   return wrk.format("GET", "/hello?name=bill", headers)
end
