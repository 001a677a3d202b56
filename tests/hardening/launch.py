"""`python -m tests.hardening.launch SOFT HARD module:app [rush options]`: rush under a given
RLIMIT_NOFILE, so a test can check what the worker does with a low descriptor limit."""

from __future__ import annotations

import resource
import sys

from rush.cli import main

if __name__ == "__main__":
    soft, hard = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    sys.exit(main(sys.argv[3:]))
