"""Serve a WSGI app with bjoern: `python bench/peers/run_bjoern.py HOST PORT [--workers N]
[--app wsgi_app|flask_app]` (the plain WSGI callable by default).

bjoern is single-threaded and single-process; for N > 1 we fork N processes that
each bind their own SO_REUSEPORT socket, so the kernel spreads connections.
"""

import argparse
import importlib

import bjoern
from common import fork_workers


def serve(app, host: str, port: int) -> None:
    bjoern.listen(app, host, port, reuse_port=True)
    bjoern.run()


def main() -> None:
    parser = argparse.ArgumentParser(description="bjoern launcher for wsgi_app")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--app", default="wsgi_app", help="module in bench/peers with `app`")
    args = parser.parse_args()
    app = importlib.import_module(args.app).app
    if args.workers == 1:
        serve(app, args.host, args.port)
    else:
        fork_workers(lambda: serve(app, args.host, args.port), args.workers)


if __name__ == "__main__":
    main()
