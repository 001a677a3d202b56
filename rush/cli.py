"""The `rush` command: load `module:app`, configure logging, serve.

This is the only module that configures logging; the library only logs to `rush.error` and
`rush.access`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from rush.config import DEFAULTS, Config
from rush.exceptions import ConfigError, RouteError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rush",
        description="Serve a Rush app: rush module:app --workers 4 --bind 127.0.0.1:8000",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("app", help="the app to serve, as module:attribute (e.g. examples.app:app)")
    parser.add_argument(
        "-b",
        "--bind",
        action="append",
        default=None,
        help="HOST:PORT to listen on; repeat for several (default 127.0.0.1:8000)",
    )
    parser.add_argument(
        "-w",
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per CPU; 1 serves in-process)",
    )
    numeric = {
        "backlog": int,
        "max_connections": int,
        "max_request_line": int,
        "max_header_bytes": int,
        "max_header_count": int,
        "max_body": int,
        "header_timeout": float,
        "keepalive_timeout": float,
        "body_timeout": float,
        "graceful_timeout": float,
        "write_high_water": int,
    }
    for name, kind in numeric.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            dest=name,
            help=f"(default {DEFAULTS[name]}; env RUSH_{name.upper()})",
        )
    parser.add_argument(
        "--access-log",
        default=None,
        dest="access_log",
        help="write an access log line per request to this file, or - for stdout (default off)",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        dest="log_level",
        choices=["debug", "info", "warning", "error"],
        help="(default info)",
    )
    return parser


def load_app(spec: str) -> Any:
    """Import `module:attribute`, with the current directory importable like `python -m`."""
    module_name, _, attribute = spec.partition(":")
    if not module_name:
        raise ConfigError(f"cannot load {spec!r}: expected module:attribute")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute or "app")
    except AttributeError:
        raise ConfigError(
            f"module {module_name!r} has no attribute {attribute or 'app'!r}"
        ) from None


def configure_logging(config: Config) -> None:
    level = getattr(logging, config.log_level.upper(), logging.INFO)
    error_logger = logging.getLogger("rush.error")
    if not error_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
        )
        error_logger.addHandler(handler)
    error_logger.setLevel(level)
    error_logger.propagate = False
    access_logger = logging.getLogger("rush.access")
    access_logger.propagate = False
    if config.access_log:
        if config.access_log == "-":
            access_handler: logging.Handler = logging.StreamHandler(sys.stdout)
        else:
            access_handler = logging.FileHandler(config.access_log)
        access_handler.setFormatter(logging.Formatter("%(message)s"))
        access_logger.addHandler(access_handler)
        access_logger.setLevel(logging.INFO)


def run_app(app: Any, config: Config) -> int:
    """Serve `app` with logging configured; what `app.run()` and the CLI both use."""
    from rush.server.serve import serve

    configure_logging(config)
    return serve(app, config)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "app" and v is not None}
    try:
        config = Config.from_sources(options)
        app = load_app(args.app)
        return run_app(app, config)
    except (ConfigError, RouteError) as exc:
        print(f"rush: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"rush: error: cannot import {args.app!r}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
