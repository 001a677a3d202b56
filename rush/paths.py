"""Paths on disk for rush.static: untrusted names, where a path really leads, safe opening.

It owns the rules that keep a client inside a folder (`split_name`, `Trace.contains`) and the
list of directory entries a resolved path depended on (`Trace.deps`), which is what the
cache must watch. It knows nothing of HTTP, caching or inotify.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Sequence

#: Sibling files that hold a pre-compressed representation, best first.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
_MAX_HOPS = 40
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW


def root_path_of(import_name: str | None) -> str:
    """Where relative file paths start: the directory of the app's module, else the cwd."""
    module = sys.modules.get(import_name) if import_name else None
    file = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(file)) if file else os.getcwd()


def split_name(name: str, dotfiles: bool = False) -> tuple[list[str], bool] | None:
    """An untrusted relative name as path components, and whether it names a directory.

    None for anything that could leave the folder or is not allowed: `..`, backslashes (a
    Windows separator that a proxy may have normalised differently), NUL, an absolute path,
    and names starting with a dot unless `dotfiles`.
    """
    if "\x00" in name or "\\" in name or name.startswith("/"):
        return None
    parts = []
    for segment in name.split("/"):
        if not segment or segment == ".":
            continue
        if segment == ".." or (segment[0] == "." and not dotfiles):
            return None
        parts.append(segment)
    return parts, not name or name.endswith("/")


class Trace:
    """Where root/parts really is, and every directory entry that decided it."""

    __slots__ = ("real", "boundary", "parent", "deps", "dirs", "siblings")

    def __init__(self, root: str, parts: Sequence[str]) -> None:
        self.deps: list[str] = []
        self.dirs: list[str] = []
        parent, name = os.path.split(root)
        self.real = self.boundary = self._locate(os.path.realpath(parent), name)
        self.parent = os.path.dirname(self.real)
        for part in parts:
            self.parent = self.real
            self.real = self._locate(self.real, part)
        self.siblings: list[tuple[str, str]] = []
        if parts:
            for encoding, suffix in ENCODINGS:
                self.siblings.append((encoding, self._locate(self.parent, parts[-1] + suffix)))

    def _locate(self, directory: str, name: str) -> str:
        """The real path of `directory/name`, following symlinks one hop at a time."""
        for _ in range(_MAX_HOPS):
            location = directory + "/" + name if directory != "/" else "/" + name
            self.deps.append(location)
            self.dirs.append(directory)
            try:
                target = os.readlink(location)
            except OSError:
                return location  # not a symlink, or missing: open() decides what that means
            target = os.path.normpath(os.path.join(directory, target))
            directory, name = os.path.split(target)
            directory = os.path.realpath(directory)
            if not name:
                return directory
        raise OSError(errno.ELOOP, "too many levels of symbolic links", location)

    def contains(self, path: str) -> bool:
        boundary = self.boundary
        return path == boundary or path.startswith(boundary + "/") or boundary == "/"


def signature(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def stat_signature(path: str) -> tuple[int, int, int, int, int] | None:
    try:
        return signature(os.stat(path))
    except OSError:
        return None


_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


def open_regular(path: str) -> tuple[int, os.stat_result] | None:
    """An fd and stat of `path` if it is a regular file or directory; None if missing.

    PermissionError propagates (the caller answers 403), and so does running out of
    descriptors (EMFILE/ENFILE: the caller answers 503, the file is not missing). O_NONBLOCK
    keeps a FIFO from blocking the worker; O_NOFOLLOW refuses a symlink swapped in after we
    traced the path.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except PermissionError:
        raise
    except OSError as exc:
        if exc.errno in _OUT_OF_DESCRIPTORS:
            raise
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        os.close(fd)
        return None
    return fd, st


def read_all(fd: int, size: int) -> bytes:
    chunks = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
