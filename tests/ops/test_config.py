"""One configuration source: keyword arguments / flags over RUSH_* variables over defaults,
and `rush --help` naming every option with its default."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from rush.config import Config, parse_listen
from rush.exceptions import ConfigError
from tests.support.process import ROOT


def test_help_lists_every_option_with_its_default():
    result = subprocess.run(
        [sys.executable, "-m", "rush", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for field in fields(Config):
        flag = "--pid" if field.name == "pid_file" else "--" + field.name.replace("_", "-")
        assert flag in text, flag
        assert f"RUSH_{field.name.upper()}" in text, field.name
    assert "(default: None)" not in text
    for signal_name in ("HUP", "TTIN", "TTOU", "USR1", "USR2"):
        assert signal_name in text


def test_options_win_over_the_environment_which_wins_over_defaults():
    env = {
        "RUSH_MAX_REQUESTS": "500",
        "RUSH_WORKER_TIMEOUT": "12.5",
        "RUSH_RELOAD": "yes",
        "RUSH_HANDLER_TIMEOUT": "3",
    }
    config = Config.from_sources({"max_requests": 100}, env)
    assert config.max_requests == 100  # the option
    assert config.worker_timeout == 12.5  # the environment
    assert config.reload is True
    assert config.max_requests_jitter == 0  # the default
    assert config.needs_master


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_requests": -1}, "max_requests: must not be negative"),
        ({"worker_timeout": -1.0}, "worker_timeout"),
        ({"unix_socket_mode": 0o1777}, "unix_socket_mode"),
        ({"bind": ["unix:"]}, "names no path"),
        ({"bind": ["fd://x"]}, "fd://NUMBER"),
    ],
)
def test_bad_values_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_sources(options, {})


def test_bind_addresses():
    assert parse_listen("unix:/run/rush.sock") == ("unix", "/run/rush.sock")
    assert parse_listen("fd://3") == ("fd", 3)
    assert parse_listen("[::1]:8000") == ("tcp", ("::1", 8000))
    assert parse_listen(":80") == ("tcp", ("0.0.0.0", 80))


def test_one_worker_runs_in_process_unless_an_option_needs_a_master():
    assert not Config(workers=1).needs_master
    for name, value in [
        ("max_requests", 10),
        ("handler_timeout", 1.0),
        ("worker_timeout", 1.0),
        ("reload", True),
    ]:
        assert Config(workers=1, **{name: value}).needs_master, name
