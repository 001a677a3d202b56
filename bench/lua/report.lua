-- Shared by every bench/run.py workload: after wrk's own text report, print one
-- machine-readable line so the harness never has to scrape wrk's human output.
-- Latencies are in microseconds, duration too; "status" counts non-2xx/3xx replies.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'RUSHBENCH {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
         .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
