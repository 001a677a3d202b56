"""Serve wsgi_app with bjoern: `python bench/peers/run_bjoern.py HOST PORT [--workers N]`.

bjoern is single-threaded and single-process; for N > 1 we fork N processes that
each bind their own SO_REUSEPORT socket, so the kernel spreads connections.
"""

import argparse

import bjoern
from common import fork_workers
from wsgi_app import app


def serve(host: str, port: int) -> None:
    bjoern.listen(app, host, port, reuse_port=True)
    bjoern.run()


def main() -> None:
    parser = argparse.ArgumentParser(description="bjoern launcher for wsgi_app")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        serve(args.host, args.port)
    else:
        fork_workers(lambda: serve(args.host, args.port), args.workers)


if __name__ == "__main__":
    main()
