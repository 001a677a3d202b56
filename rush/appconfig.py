"""The app's own settings, `app.config`: a dict with Flask's loaders.

Owns the keys the framework reads (SECRET_KEY, the SESSION_COOKIE_* family, DEBUG, ...) and
their defaults, and filling them from mappings, objects, Python files and `RUSH_*` environment
variables. It is not the server's configuration (`rush.config.Config`: binds, workers,
timeouts), and it reads nothing per request: the framework reads a key where it needs it.
"""

from __future__ import annotations

import importlib
import json
import os
import types
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import IO, Any

DEFAULTS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": None,
    #: Older keys still accepted when reading a session cookie (newest first); never used to sign.
    "SECRET_KEY_FALLBACKS": [],
    "SESSION_COOKIE_NAME": "session",
    "SESSION_COOKIE_DOMAIN": None,
    "SESSION_COOKIE_PATH": "/",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_SAMESITE": "Lax",
    #: How long a signed session is accepted, and the cookie's Max-Age when `permanent`.
    "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
}


class AppConfig(dict):  # type: ignore[type-arg]
    """A dict of settings: `from_mapping`, `from_object`, `from_pyfile`, `from_file`,
    `from_prefixed_env`, as in Flask. Only UPPERCASE names are taken from objects and files."""

    def __init__(self, root_path: str, defaults: Mapping[str, Any] | None = None) -> None:
        if defaults is None:
            defaults = {**DEFAULTS, "SECRET_KEY_FALLBACKS": []}  # a list of its own per app
        super().__init__(defaults)
        #: Where relative file names start (the app's module directory).
        self.root_path = root_path

    def from_mapping(self, mapping: Mapping[str, Any] | None = None, **kwargs: Any) -> bool:
        """The UPPERCASE keys of `mapping` and `kwargs`; always True."""
        for key, value in {**(mapping or {}), **kwargs}.items():
            if key.isupper():
                self[key] = value
        return True

    def from_object(self, obj: object | str) -> None:
        """The UPPERCASE attributes of `obj`: a module, a class, an instance, or an import
        string ("package.settings" or "package.settings:Production")."""
        if isinstance(obj, str):
            obj = import_string(obj)
        for key in dir(obj):
            if key.isupper():
                self[key] = getattr(obj, key)

    def from_pyfile(self, filename: str | os.PathLike[str], silent: bool = False) -> bool:
        """Run a Python file (relative to the app's directory) and take its UPPERCASE names.
        A missing file is an OSError naming it, or False with `silent=True`."""
        path = os.path.join(self.root_path, os.fspath(filename))
        module = types.ModuleType("config")
        module.__file__ = path
        try:
            with open(path, "rb") as f:
                exec(compile(f.read(), path, "exec"), module.__dict__)
        except OSError as exc:
            if silent:
                return False
            exc.strerror = f"unable to load configuration file ({exc.strerror})"
            raise
        self.from_object(module)
        return True

    def from_envvar(self, variable_name: str, silent: bool = False) -> bool:
        """`from_pyfile` of the file the environment variable names, as Flask's. An unset
        variable is a RuntimeError naming it, or False with `silent=True`."""
        filename = os.environ.get(variable_name)
        if not filename:
            if silent:
                return False
            raise RuntimeError(
                f"the environment variable {variable_name!r} is not set: it should name a "
                "configuration file (app.config.from_envvar)"
            )
        return self.from_pyfile(filename, silent=silent)

    def from_file(
        self,
        filename: str | os.PathLike[str],
        load: Callable[[IO[Any]], Mapping[str, Any]],
        silent: bool = False,
        text: bool = True,
    ) -> bool:
        """`load` an open file (e.g. `json.load`, `tomllib.load` with `text=False`)."""
        path = os.path.join(self.root_path, os.fspath(filename))
        try:
            with open(path, "r" if text else "rb") as f:
                data = load(f)
        except OSError:
            if silent:
                return False
            raise
        return self.from_mapping(data)

    def from_prefixed_env(
        self, prefix: str = "RUSH", *, loads: Callable[[str], Any] = json.loads
    ) -> bool:
        """Every `PREFIX_NAME` environment variable as config["NAME"], its value decoded with
        `loads` (JSON: `RUSH_DEBUG=true`, `RUSH_PORT=8000`) or kept as text when that fails.
        A double underscore sets a key of a nested dict: `RUSH_DB__HOST` -> config["DB"]["HOST"].
        """
        start = f"{prefix}_"
        for name in sorted(os.environ):
            if not name.startswith(start):
                continue
            text = os.environ[name]
            try:
                value = loads(text)
            except Exception:
                value = text
            key = name[len(start) :]
            if "__" not in key:
                self[key] = value
                continue
            current: dict[str, Any] = self
            *parents, last = key.split("__")
            for part in parents:
                if not isinstance(current.get(part), dict):
                    current[part] = {}
                current = current[part]
            current[last] = value
        return True

    def __repr__(self) -> str:
        return f"<AppConfig {dict.__repr__(self)}>"


def import_string(name: str) -> object:
    """The object an import string names: "pkg.mod", "pkg.mod:attr" or "pkg.mod.attr"."""
    module_name, colon, attribute = name.partition(":")
    if colon:
        return getattr(importlib.import_module(module_name), attribute)
    try:
        return importlib.import_module(name)
    except ImportError:
        module_name, _, attribute = name.rpartition(".")
        if not module_name:
            raise
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except AttributeError:
            raise ImportError(f"cannot import {name!r}") from None
