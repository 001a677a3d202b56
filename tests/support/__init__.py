"""Test machinery shared by the suites; each suite imports it from here, never from another
suite's conftest or modules (tests/test_layering.py checks that).

- `process`: a real `python -m rush` process: `rush_env()` (the one environment every server
  subprocess gets), `StderrLog` (its log, read on a thread), `RushServer` (start, wait until
  ready, signal, stop by PID with any worker left behind), `start_server`, `run_rush`,
  `assert_no_errors`, and ROOT, the repository.
- `polling`: `wait_until`, polling with a deadline.
- `procfs`: /proc readings: children, liveness, command lines, RSS and other status figures,
  open descriptors, the open-files limit, sockets listening on a loopback port.
- `client`: raw-socket HTTP/1.1 clients (`connect`, `request`, `Reader`, `exchange`, ...;
  `http_get` and `read_response` for any address) and `free_port`.
- `protocol`: the request corpus (tests/protocol/corpus), splitting a byte stream, feeding a
  RequestParser and comparing outcomes; for the protocol and hardening suites.
- `asan`: building a C accelerator with AddressSanitizer (gcc, libasan, a canary that proves
  ASan reports here) for the protocol and app suites' ASan tests.
"""
