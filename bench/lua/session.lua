-- The "template" workload: every request carries the benchmark's signed session cookie
-- (bench/run.py signs it with Flask's settings and puts it in RUSH_BENCH_SESSION).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

wrk.headers["Cookie"] = "session=" .. os.getenv("RUSH_BENCH_SESSION")
