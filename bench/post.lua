-- wrk script for the POST scenario of bench/run.ts: every request is a POST with a body of
-- BENCH_POST_BYTES bytes (default 64 KiB). wrk adds the Content-Length header itself.
local bytes = tonumber(os.getenv("BENCH_POST_BYTES") or "") or 65536
if bytes <= 0 then bytes = 65536 end
wrk.method = "POST"
wrk.body = string.rep("a", bytes)
wrk.headers["Content-Type"] = "application/octet-stream"
