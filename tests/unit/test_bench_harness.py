"""The benchmark harness reads wrk's report, including the 95th percentile its Lua hook adds."""

from loadtests.harness import WRK_P95_HOOK, parse_wrk

REPORT = """Running 8s test @ http://127.0.0.1:8083/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    42.10ms   12.00ms 150.00ms   80.00%
  Latency Distribution
     50%   40.50ms
     75%   48.00ms
     90%   60.25ms
     99%    1.20s
  12152 requests in 8.00s, 1.50MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   1519.00
Transfer/sec:    191.00KB
     95%  70.75ms
"""


def test_the_report_is_read_in_milliseconds():
    result = parse_wrk(REPORT)
    assert (result.p50_ms, result.p90_ms, result.p95_ms, result.p99_ms) == (40.5, 60.25, 70.75, 1200.0)
    assert (result.requests, result.requests_per_second) == (12152, 1519.0)
    assert (result.non_2xx, result.errors) == (3, 3)


def test_the_hook_prints_the_95th_percentile_as_wrk_prints_the_others():
    assert "latency:percentile(95)" in WRK_P95_HOOK
    assert '"     95%%  %.2fms\\n"' in WRK_P95_HOOK
