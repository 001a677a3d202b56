"""Reloading the app's code: fresh imports in a new worker generation, and a source watcher.

- `forget_modules(root)` drops from `sys.modules` the modules whose files live under the project
  directory `root` (not the standard library, not site-packages, not rush itself), so that the
  next import of `module:app` reads the code from disk. A new-generation worker does this right
  after its fork; the master never imports new code, so a broken edit cannot take it down.
- `SourceWatcher` (development, `--reload`) watches the directories of those modules with
  inotify, not polling; the master asks for a rolling reload when a `.py` file changes.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
from collections.abc import Iterable

from inotify_simple import INotify, flags

_MASK = flags.CLOSE_WRITE | flags.MOVED_TO | flags.CREATE | flags.DELETE
_KEEP = ("rush", "__main__")


def _excluded_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    found = {
        os.path.realpath(paths[key]) + os.sep
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if key in paths
    }
    return tuple(sorted(found))


def module_files(root: str) -> dict[str, str]:
    """name -> file of every imported module that belongs to the project under `root`."""
    root = os.path.realpath(root) + os.sep
    excluded = _excluded_prefixes()
    found: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in _KEEP or module is None:
            continue
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = os.path.realpath(file)
        if not path.startswith(root) or path.startswith(excluded):
            continue
        if "site-packages" in path or "dist-packages" in path:
            continue
        if not path.endswith(".py"):
            continue  # extension modules cannot be imported twice in one process
        found[name] = path
    return found


def forget_modules(root: str) -> list[str]:
    """Drop the project's modules from sys.modules; their names."""
    names = list(module_files(root))
    for name in names:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return names


def project_root(module_name: str) -> str | None:
    """The directory the app's top-level package is imported from (None if unknown)."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = os.path.dirname(os.path.realpath(file))
    depth = module_name.count(".") + (1 if os.path.basename(file) == "__init__.py" else 0)
    for _ in range(depth):
        path = os.path.dirname(path)
    return str(path)


class SourceWatcher:
    """inotify on the directories holding the project's modules; `changed()` after a wake-up."""

    def __init__(self, files: Iterable[str]) -> None:
        self.inotify = INotify()
        self.directories = sorted({os.path.dirname(f) for f in files})
        for directory in self.directories:
            self.inotify.add_watch(directory, _MASK)

    def fileno(self) -> int:
        return int(self.inotify.fileno())

    def changed(self) -> list[str]:
        """The .py files named by the events waiting now (empty: nothing that matters)."""
        names = []
        for event in self.inotify.read(timeout=0):
            if event.name.endswith(".py"):
                names.append(event.name)
        return names

    def close(self) -> None:
        self.inotify.close()
