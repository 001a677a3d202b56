"""The `rush` command: load `module:app`, configure logging, serve.

This is the only module that configures logging; the library only logs to `rush.error` and
`rush.access`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

from rush.app import Rush
from rush.config import DEFAULTS, INTERFACES, Config, parse_listen
from rush.exceptions import ConfigError, RouteError
from rush.protocol.answers import ANSWERS_IMPLEMENTATION
from rush.protocol.heads import COMPILED
from rush.protocol.heads import IMPLEMENTATION as HEADS_IMPLEMENTATION
from rush.request import IMPLEMENTATION as REQUEST_IMPLEMENTATION
from rush.routetrie import IMPLEMENTATION as WALK_IMPLEMENTATION
from rush.version import __version__
from rush.wsgihost import WSGIHost


def version_text() -> str:
    """What `rush --version` prints and the startup log says once: the version, and whether
    the compiled accelerators run or their pure-Python twins (RUSH_NO_EXTENSIONS=1, or no
    compiler at install time)."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    parts = {
        "request heads": HEADS_IMPLEMENTATION,
        "answers": ANSWERS_IMPLEMENTATION,
        "route walk": WALK_IMPLEMENTATION,
        "requests": REQUEST_IMPLEMENTATION,
    }
    compiled = [name for name, how in parts.items() if how == COMPILED]
    pure = [name for name, how in parts.items() if how != COMPILED]
    what = []
    if compiled:
        what.append(f"C accelerators: {', '.join(compiled)}")
    if pure:
        what.append(f"pure Python: {', '.join(pure)}")
    return f"rush {__version__} ({'; '.join(what)}; {python})"


class _VersionAction(argparse.Action):
    """`--version`: version_text() on one line (argparse's own wraps it to the terminal)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rush",
        description="Serve a Rush app, or any WSGI app (Flask, Django, Bottle): "
        "rush module:app --workers 4 --bind 127.0.0.1:8000",
        epilog="Precedence: these flags, then RUSH_<OPTION> environment variables, then the "
        "defaults shown. Signals to the master: TERM/INT stop gracefully (a second INT at once; "
        "TERM drains first with --drain-delay), "
        "HUP reloads the code worker by worker, TTIN/TTOU add/remove a worker, USR1 reopens "
        "log files; USR2 to a worker prints its stack.",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "app",
        help="the app to serve, as module:attribute (e.g. examples.app:app, mysite.wsgi:"
        "application)",
    )
    parser.add_argument(
        "-b",
        "--bind",
        action="append",
        default=None,
        help="HOST:PORT, [IPv6]:PORT, unix:/PATH or fd://N to listen on; repeat for several "
        "(default 127.0.0.1:8000; env RUSH_BIND, comma-separated; systemd socket activation "
        "(LISTEN_FDS) replaces it)",
    )
    parser.add_argument(
        "-w",
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per CPU; 1 serves in-process unless --reload, "
        "--max-requests or a watchdog timeout needs a master; env RUSH_WORKERS)",
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
        "max_requests": int,
        "max_requests_jitter": int,
        "handler_timeout": float,
        "worker_timeout": float,
        "drain_delay": float,
    }
    about = {
        "max_requests": "replace a worker gracefully after this many requests; 0: never.",
        "max_requests_jitter": "add a random 0..N to max_requests per worker.",
        "handler_timeout": "seconds; log the stack and request line of a handler running "
        "longer; 0: off.",
        "worker_timeout": "seconds; replace a worker whose loop is stuck this long; 0: off.",
        "graceful_timeout": "seconds a stopping worker may take to finish in-flight requests.",
        "drain_delay": "seconds SIGTERM keeps serving first, health readiness 503 and every answer "
        "closing its connection, so a balancer takes the host out; 0: stop at once.",
    }
    for name, kind in numeric.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            dest=name,
            help=f"{about.get(name, '')} (default {DEFAULTS[name]}; env RUSH_{name.upper()})",
        )
    parser.add_argument(
        "--access-log",
        default=None,
        dest="access_log",
        help="write an access log line per request to this file, or - for stdout (default "
        "off; env RUSH_ACCESS_LOG)",
    )
    parser.add_argument(
        "--access-log-format",
        default=None,
        dest="access_log_format",
        help="fields: {remote} {request} {method} {target} {path} {version} {status} {size} "
        "{body_size} {duration_us} {duration_ms} {time} {user_agent} {referer} {request_id} "
        "{pid} {header:NAME} (default "
        + DEFAULTS["access_log_format"].replace("%", "%%")
        + "; env RUSH_ACCESS_LOG_FORMAT)",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        dest="log_level",
        choices=["debug", "info", "warning", "error"],
        help="(default info; env RUSH_LOG_LEVEL)",
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        action="append",
        default=None,
        dest="forwarded_allow_ips",
        help="comma-separated proxies whose X-Forwarded-For/-Proto (or, with --forwarded-header "
        "forwarded, Forwarded) headers are believed: addresses, networks, `unix`, or `*` "
        "(default: none; env RUSH_FORWARDED_ALLOW_IPS)",
    )
    parser.add_argument(
        "--forwarded-header",
        default=None,
        dest="forwarded_header",
        choices=["x-forwarded", "forwarded"],
        help="which headers the trusted proxies set: X-Forwarded-For/-Proto or RFC 7239 "
        "Forwarded; only that family is believed (default x-forwarded; env "
        "RUSH_FORWARDED_HEADER)",
    )
    parser.add_argument(
        "--proxy-protocol",
        action="store_true",
        default=None,
        dest="proxy_protocol",
        help="every connection starts with a PROXY v1/v2 header (HAProxy) (default off; env "
        "RUSH_PROXY_PROTOCOL)",
    )
    parser.add_argument(
        "--reload",
        action="store_true",
        default=None,
        help="development: rolling-restart the workers when a source file of the app changes "
        "(inotify) (default off; env RUSH_RELOAD)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=None,
        help="development: a 500 page shows the exception's traceback to the client; never in "
        "production (default off; env RUSH_DEBUG)",
    )
    parser.add_argument(
        "--unix-socket-mode",
        type=_octal,
        default=None,
        dest="unix_socket_mode",
        help="octal permissions for unix:PATH binds, e.g. 660 (default: umask; env "
        "RUSH_UNIX_SOCKET_MODE)",
    )
    parser.add_argument(
        "--interface",
        default=None,
        choices=INTERFACES,
        help="auto: a Rush app natively, any other callable as a WSGI app; rush or wsgi force "
        "one (default auto; env RUSH_INTERFACE)",
    )
    parser.add_argument(
        "--root-path",
        default=None,
        dest="root_path",
        help="WSGI: the URL prefix the app is mounted at behind a proxy, its SCRIPT_NAME; a "
        "request path starting with it has it moved there (default none; env RUSH_ROOT_PATH)",
    )
    parser.add_argument(
        "--static",
        action="append",
        default=None,
        metavar="URL=DIR",
        help="serve the files of DIR at URL (e.g. /static=static) from Rush's inotify-fresh "
        "file cache, in front of the app; repeat for several (default none; env RUSH_STATIC, "
        "comma-separated)",
    )
    parser.add_argument(
        "--health-path",
        default=None,
        dest="health_path",
        metavar="PATH",
        help="answer GET/HEAD PATH (readiness: 200 ok, 503 starting or draining) and PATH/live "
        "(liveness: 200 ok) in the workers, without the app, e.g. /healthz (default off; env "
        "RUSH_HEALTH_PATH)",
    )
    parser.add_argument(
        "--pid",
        "--pid-file",
        default=None,
        dest="pid_file",
        help="write the master's pid to this file, for kill -HUP $(cat FILE) (default none; "
        "env RUSH_PID_FILE)",
    )
    return parser


def _octal(text: str) -> int:
    """A file mode as chmod takes it: 660, 0660 or 0o660."""
    try:
        return int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an octal mode like 660") from None


def load_app(spec: str, interface: str = "auto") -> Any:
    """Import `module:attribute`, with the current directory importable like `python -m`:
    a Rush app, or (interface auto or wsgi) any other WSGI callable.

    What cannot be served is refused here, in the master before any fork, rather than
    crashing every worker at its first request.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name:
        raise ConfigError(f"cannot load {spec!r}: expected module:attribute")
    attribute = attribute or "app"
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}") from None
    problem = _unservable(f"{module_name}:{attribute}", attribute, obj, interface)
    if problem:
        raise ConfigError(problem)
    return obj


def _unservable(name: str, attribute: str, obj: Any, interface: str) -> str | None:
    """Why `obj` cannot be served through `interface`, and what the user probably meant."""
    if isinstance(obj, Rush):
        if interface != "wsgi" or callable(obj):
            return None
        return f"{name!r} is a Rush app, which cannot be served as WSGI: use --interface rush"
    if isinstance(obj, type) and issubclass(obj, Rush):
        return (
            f"{name!r} is the class {obj.__qualname__}, not an app: "
            f"create one with {attribute} = {obj.__qualname__}()"
        )
    kind = type(obj)
    type_name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    if not callable(obj):
        return f"{name!r} (type {type_name}) is neither a Rush app nor callable"
    if _takes_no_arguments(obj):
        return (
            f"{name!r} (type {type_name}) is not a Rush app; if it is an app factory, "
            f"call it in the module: app = {attribute}()"
        )
    if interface == "rush":
        return (
            f"{name!r} (type {type_name}) is not a Rush app: it looks like a WSGI application; "
            "serve it with --interface wsgi (or auto)"
        )
    return None


def _takes_no_arguments(obj: Any) -> bool:
    try:
        inspect.signature(obj).bind()
    except (TypeError, ValueError):
        return False
    return True


def handler_for(app: Any, config: Config) -> Any:
    """What the server runs for `app`: a Rush app itself (with --static folders mounted on
    it), a WSGIHost as it is, any other callable in a WSGIHost."""
    if isinstance(app, WSGIHost):
        return app
    if isinstance(app, Rush) and config.interface != "wsgi":
        if config.root_path:
            raise ConfigError("root_path: only WSGI apps have a SCRIPT_NAME (--interface wsgi)")
        for url, directory in config.static_mounts:
            app.static(url, os.path.abspath(directory))
        return app
    name, port = "localhost", 80
    kind, target = parse_listen(config.bind[0])
    if kind == "tcp":
        name, port = target
    return WSGIHost(
        app,
        root_path=config.root_path,
        static=config.static_mounts,
        server_name=name,
        server_port=port,
    )


def check_health_path(app: Rush, path: str) -> None:
    """Refuse a route the health endpoint would hide: the workers answer its two paths before
    the app is asked. Only here can the routes be seen (the server knows an app only through
    the Handler protocol), so a WSGI app's routes are not checked; a parameter route that
    happens to match one of the paths is not refused either (it loses that one path)."""
    live = path.rstrip("/") + "/live"
    for target in (path, live):
        route = next(iter(app.router.static.get(target, {}).values()), None)
        if route is not None:
            raise ConfigError(
                f"health_path: {target} is also a route of the app ({route!r}), which the "
                f"health endpoint would hide: pick another --health-path or remove the route"
            )


def configure_logging(config: Config) -> None:
    level = getattr(logging, config.log_level.upper(), logging.INFO)
    # rush.error: the server's and framework's own lines; rush.app: each app's `app.logger`.
    for name in ("rush.error", "rush.app"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(
                logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
            )
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    access_logger = logging.getLogger("rush.access")
    access_logger.propagate = False
    if config.access_log and not access_logger.handlers:  # once: main() and run_app() call it
        if config.access_log == "-":
            access_handler: logging.Handler = logging.StreamHandler(sys.stdout)
        else:
            access_handler = logging.FileHandler(config.access_log)
        # The server hands over several lines per record (rush.server.accesslog): no prefix.
        access_handler.setFormatter(logging.Formatter("%(message)s"))
        access_logger.addHandler(access_handler)
        access_logger.setLevel(logging.INFO)


def reopen_log_files() -> None:
    """SIGUSR1 (after logrotate moved the files): reopen every file handler of our loggers."""
    for name in ("rush.access", "rush.error"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.FileHandler):
                stream = open(  # noqa: SIM115 - the handler owns it from here on
                    handler.baseFilename, "a", encoding=handler.encoding, errors=handler.errors
                )
                old = handler.setStream(stream)
                if old is not None:
                    old.close()


def app_loader(spec: str, config: Config) -> tuple[Any, str | None]:
    """A callable that imports `spec` afresh (for new worker generations), and the project
    directory whose modules it forgets first; call after `load_app(spec)` succeeded."""
    from rush.server.reloader import forget_modules, project_root

    root = project_root(spec.partition(":")[0])

    def load() -> Any:
        if root is not None:
            forget_modules(root)
        return handler_for(load_app(spec, config.interface), config)

    return load, root


def run_app(app: Any, config: Config, spec: str | None = None) -> int:
    """Serve `app` with logging configured; what `app.run()` and the CLI both use.

    `spec` (module:app) lets new worker generations re-import the code (SIGHUP, --reload).
    """
    from rush.server.serve import serve

    configure_logging(config)
    logging.getLogger("rush.error").info("%s", version_text())
    loader, root = app_loader(spec, config) if spec else (None, None)
    if config.debug and isinstance(app, Rush):
        app.debug = True
        if loader is not None:
            loader = _debug_loader(loader)
    if isinstance(app, Rush) and app.debug:
        logging.getLogger("rush.error").warning(
            "debug mode is on: 500 pages show tracebacks to clients; never use it in production"
        )
    handler = handler_for(app, config)
    if config.health_path and isinstance(handler, Rush):
        check_health_path(handler, config.health_path)
    return serve(handler, config, loader=loader, reopen_logs=reopen_log_files, source_root=root)


def _debug_loader(load: Any) -> Any:
    """`load`, with debug mode turned on in each freshly imported app (--debug, reloads)."""

    def load_debug() -> Any:
        app = load()
        if isinstance(app, Rush):
            app.debug = True
        return app

    return load_debug


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "app" and v is not None}
    try:
        config = Config.from_sources(options)
        configure_logging(config)  # before the import: the app may log at import time
        app = load_app(args.app, config.interface)
        return run_app(app, config, args.app)
    except (ConfigError, RouteError) as exc:
        print(f"rush: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"rush: error: cannot import {args.app!r}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
