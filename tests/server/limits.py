"""The shared server's limits (tests/server/conftest.py), small enough that tests can cross them
cheaply."""

LIMITS = {
    "max_request_line": 1024,
    "max_header_bytes": 4096,
    "max_header_count": 20,
    "max_body": 65536,
}
