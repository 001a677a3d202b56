"""End-to-end tests: a real `python -m rush` on a loopback port."""
