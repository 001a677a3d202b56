"""`python -m rush` startup errors: exit code 2 and a message that says what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.process import run_rush

BIND = ("--bind", "127.0.0.1:0", "--workers", "2")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (":app", "cannot load ':app': expected module:attribute"),
        ("tests.apps.missing_module:app", "cannot import 'tests.apps.missing_module:app'"),
        ("no_such_package.app:app", "No module named 'no_such_package'"),
        ("tests.apps.basic:nope", "module 'tests.apps.basic' has no attribute 'nope'"),
    ],
)
def test_a_bad_app_spec_exits_2_with_a_message(spec, message):
    result = run_rush(spec, *BIND)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("rush: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stderr


def test_a_bad_route_pattern_is_reported_at_startup():
    result = run_rush("tests.apps.badroute:app", *BIND)
    assert result.returncode == 2, result.stderr
    assert "rush: error: route '/users/<int:id'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "tests.apps.badhandler:app",
            "rush: error: route '/users/<int:id>': handler show_user(request, user_id) "
            "cannot take parameter 'id'",
        ),
        (
            "tests.apps.badoption:app",
            "rush: error: route '/submit': unknown option 'method' (did you mean 'methods'?)",
        ),
    ],
)
def test_a_route_mistake_is_reported_at_startup(spec, message):
    result = run_rush(spec, *BIND)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "tests.apps.notrush:settings",
            "rush: error: 'tests.apps.notrush:settings' (type dict) is neither a Rush app nor "
            "callable",
        ),
        (
            "tests.apps.notrush",
            "rush: error: 'tests.apps.notrush:app' is the class Rush, not an app: create one "
            "with app = Rush()",
        ),
        (
            "tests.apps.notrush:create_app",
            "if it is an app factory, call it in the module: app = create_app()",
        ),
    ],
)
def test_an_object_that_is_not_a_rush_app_is_refused_before_any_fork(spec, message):
    result = run_rush(spec, *BIND)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "listening on" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--workers", "0"), "workers: must be at least 1"),
        (("--bind", "127.0.0.1:99999"), "port 99999 is out of range"),
        (("--bind", "127.0.0.1"), "is not HOST:PORT"),
        (("--header-timeout", "0"), "header_timeout"),
    ],
)
def test_bad_options_exit_2_with_a_message(args, message):
    result = run_rush("tests.apps.basic:app", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_address_in_use_by_another_program_is_reported():
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: rush must not share this port
        other.listen(1)
        port = other.getsockname()[1]
        result = run_rush("tests.apps.basic:app", "--bind", f"127.0.0.1:{port}")
    assert result.returncode == 2, result.stderr
    assert f"cannot bind 127.0.0.1:{port}" in result.stderr


def test_an_app_logging_at_import_time_is_formatted_like_the_server(rush_server):
    """configure_logging runs before the app is imported: its module-level app.logger lines
    come out with the server's format, not bare through logging.lastResort."""
    server = rush_server(app="tests.apps.importlog:app")
    assert "[WARNING] IMPORT-TIME-WARNING from the app module" in server.log


def test_version_says_which_implementation_runs():
    from rush import __version__

    result = subprocess.run(
        [sys.executable, "-m", "rush", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "40"},  # argparse's own version action wrapped it
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"rush {__version__} (")
    assert result.stdout.count("\n") == 1, result.stdout
    for part in ("request heads", "answers", "route walk", "requests"):
        assert part in result.stdout
    pure = subprocess.run(
        [sys.executable, "-m", "rush", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "RUSH_NO_EXTENSIONS": "1"},
    )
    assert "(pure Python: request heads, answers, route walk, requests; " in pure.stdout


def test_the_startup_log_says_the_version_and_implementation_once(rush_server):
    from rush.cli import version_text

    server = rush_server(app="tests.apps.basic:app", workers=2)
    assert server.log.count(version_text()) == 1
