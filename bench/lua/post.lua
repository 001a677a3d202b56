-- The "post" workload: POST a fixed 1 KiB body; the server must echo it back.
-- bench/run.py checks the echo with the same bytes (POST_BODY there).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

wrk.method = "POST"
wrk.body = string.rep("0123456789abcdef", 64)
wrk.headers["Content-Type"] = "application/octet-stream"
