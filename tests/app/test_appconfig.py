"""app.config (rush.appconfig), app.logger and debug mode, in-process."""

from __future__ import annotations

import logging
import types
from datetime import timedelta
from pathlib import Path

import pytest

from rush import Rush
from rush.appconfig import AppConfig


class Settings:
    SECRET_KEY = "from-object"
    MAX_ITEMS = 10
    lower_is_ignored = True


def test_defaults_are_flasks_and_each_app_has_its_own_lists():
    first, second = Rush(), Rush()
    assert first.config["SESSION_COOKIE_NAME"] == "session"
    assert first.config["SESSION_COOKIE_HTTPONLY"] is True
    assert first.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert first.config["PERMANENT_SESSION_LIFETIME"] == timedelta(days=31)
    assert first.config["DEBUG"] is False and first.debug is False
    first.config["SECRET_KEY_FALLBACKS"].append("old")
    assert second.config["SECRET_KEY_FALLBACKS"] == []


def test_secret_key_and_debug_are_config_keys(monkeypatch):
    monkeypatch.delenv("RUSH_SECRET_KEY", raising=False)
    app = Rush(secret_key="k", debug=True)
    assert app.config["SECRET_KEY"] == "k" and app.secret_key == "k"
    assert app.debug is True
    app.secret_key = "other"
    assert app.config["SECRET_KEY"] == "other"
    assert Rush().secret_key is None
    monkeypatch.setenv("RUSH_SECRET_KEY", "from-env")
    assert Rush().secret_key == "from-env"
    assert Rush(secret_key="explicit").secret_key == "explicit"


def test_from_mapping_takes_uppercase_keys_only():
    config = AppConfig("/")
    assert config.from_mapping({"A": 1, "b": 2}, C=3)
    assert config["A"] == 1 and config["C"] == 3 and "b" not in config


def test_from_object_takes_a_class_a_module_or_an_import_string():
    config = AppConfig("/")
    config.from_object(Settings)
    assert config["SECRET_KEY"] == "from-object" and config["MAX_ITEMS"] == 10
    assert "lower_is_ignored" not in config
    module = types.ModuleType("settings")
    module.ANSWER = 42  # type: ignore[attr-defined]
    config.from_object(module)
    assert config["ANSWER"] == 42
    config.from_object("tests.app.test_appconfig:Settings")
    config.from_object("tests.app.test_appconfig.Settings")
    assert config["MAX_ITEMS"] == 10
    with pytest.raises(ImportError):
        config.from_object("tests.app.no_such_module")


def test_from_pyfile_is_relative_to_the_app(tmp_path: Path):
    (tmp_path / "settings.py").write_text("SECRET_KEY = 'file'\nVALUES = [1, 2]\nhidden = 1\n")
    config = AppConfig(str(tmp_path))
    assert config.from_pyfile("settings.py") is True
    assert config["SECRET_KEY"] == "file" and config["VALUES"] == [1, 2]
    assert "hidden" not in config
    assert config.from_pyfile("missing.py", silent=True) is False
    with pytest.raises(OSError, match="missing.py"):
        config.from_pyfile("missing.py")


def test_from_envvar_loads_the_file_the_variable_names(tmp_path: Path, monkeypatch):
    (tmp_path / "prod.py").write_text("SECRET_KEY = 'from env'\n")
    config = AppConfig(str(tmp_path))
    monkeypatch.setenv("RUSH_TEST_SETTINGS", str(tmp_path / "prod.py"))
    assert config.from_envvar("RUSH_TEST_SETTINGS") is True and config["SECRET_KEY"] == "from env"
    monkeypatch.delenv("RUSH_TEST_SETTINGS")
    assert config.from_envvar("RUSH_TEST_SETTINGS", silent=True) is False
    with pytest.raises(RuntimeError, match="RUSH_TEST_SETTINGS"):
        config.from_envvar("RUSH_TEST_SETTINGS")
    monkeypatch.setenv("RUSH_TEST_SETTINGS", "missing.py")
    with pytest.raises(OSError, match="missing.py"):
        config.from_envvar("RUSH_TEST_SETTINGS")


def test_from_file_with_a_loader(tmp_path: Path):
    import json

    (tmp_path / "settings.json").write_text('{"LIMIT": 5, "lower": 1}')
    config = AppConfig(str(tmp_path))
    assert config.from_file("settings.json", load=json.load)
    assert config["LIMIT"] == 5 and "lower" not in config
    assert config.from_file("nope.json", load=json.load, silent=True) is False


def test_from_prefixed_env_decodes_json_and_nests(monkeypatch):
    monkeypatch.setenv("MYAPP_SECRET_KEY", "plain text")
    monkeypatch.setenv("MYAPP_DEBUG", "true")
    monkeypatch.setenv("MYAPP_PORT", "8000")
    monkeypatch.setenv("MYAPP_DB__HOST", '"db.local"')
    monkeypatch.setenv("MYAPP_DB__PORT", "5432")
    monkeypatch.setenv("OTHER_THING", "1")
    config = AppConfig("/")
    assert config.from_prefixed_env("MYAPP")
    assert config["SECRET_KEY"] == "plain text"
    assert config["DEBUG"] is True and config["PORT"] == 8000
    assert config["DB"] == {"HOST": "db.local", "PORT": 5432}
    assert "THING" not in config


def test_logger_is_named_under_rush_app():
    assert Rush("tests.app.test_appconfig").logger.name == "rush.app.tests.app.test_appconfig"
    assert Rush().logger.name == "rush.app.app"


def boom(request):
    raise ValueError("<kaput>")


def test_the_default_500_page_hides_the_traceback(caplog):
    app = Rush()
    app.get("/boom")(boom)
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        response = app.test_client().get("/boom")
    assert response.status == 500
    assert b"Traceback" not in response.body and b"kaput" not in response.body
    assert "Traceback" in caplog.text


def test_debug_shows_the_escaped_traceback(caplog):
    app = Rush(debug=True)
    app.get("/boom")(boom)
    app.errorhandler(500)(lambda request, error: ("custom 500", 500))
    with caplog.at_level(logging.ERROR, logger="rush.error"):
        response = app.test_client().get("/boom", query={"q": "<x>"})
    assert response.status == 500
    assert b"Traceback" in response.body and b"test_appconfig.py" in response.body
    assert b"ValueError: &lt;kaput&gt;" in response.body
    assert b"<kaput>" not in response.body and b"<x>" not in response.body
    assert "Traceback" in caplog.text  # still logged


def test_debug_leaves_http_errors_and_exception_handlers_alone():
    app = Rush(debug=True)
    app.get("/boom")(boom)
    app.errorhandler(ValueError)(lambda request, error: ("handled", 400))
    client = app.test_client()
    assert client.get("/boom").text == "handled"
    assert client.get("/missing").status == 404
    assert b"Traceback" not in client.get("/missing").body
