"""Directory watching with inotify, for one worker process: no polling, no thread.

Owns one non-blocking inotify fd that the worker's epoll loop polls (`on_readable`); it knows
directories and paths, nothing of HTTP or caches. Each change is reported to a callback as the
absolute path that changed, and whether a whole tree went (a directory moved or deleted, or a
watched directory itself moved, deleted or unmounted).

Facts and strategy:
- Directories are watched, not files: a directory watch sees a file modified in place, replaced
  by an atomic rename, deleted or created, under its name, which a watch on the file's inode
  would miss after a rename.
- Create it after the fork, in the worker: an inotify fd shared across a fork would hand each
  event to whichever process reads first, and the others would never hear of it.
- A watch reports paths as they were when it was added. When a directory moves, the watches
  on it and below it describe the old place, so they are removed and the caller hears "tree"
  and must forget everything it learned under that path.
- Not seen by inotify: writes through a hard link in an unwatched directory, writes through a
  shared mmap, changes on network file systems made by other machines.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable

from inotify_simple import INotify, flags, parse_events

error_log = logging.getLogger("rush.error")

DIR_MASK = (
    flags.MODIFY
    | flags.ATTRIB
    | flags.CLOSE_WRITE
    | flags.CREATE
    | flags.DELETE
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.DELETE_SELF
    | flags.MOVE_SELF
    | flags.ONLYDIR
    | flags.EXCL_UNLINK
)
# A child directory that went away or arrived: what we knew below that name is void.
_CHILD_TREE = flags.MOVED_FROM | flags.MOVED_TO | flags.DELETE
# The watched directory itself is gone (IGNORED follows a removal by the kernel).
_SELF_TREE = flags.DELETE_SELF | flags.MOVE_SELF | flags.UNMOUNT | flags.IGNORED
_READ_SIZE = 64 * 1024


class DirectoryWatcher:
    """Watches directories; calls `on_change(path, tree)` for each event, `on_overflow()`
    when the kernel dropped events (then nothing learned so far can be trusted)."""

    def __init__(
        self, on_change: Callable[[str, bool], None], on_overflow: Callable[[], None]
    ) -> None:
        self._inotify = INotify(nonblocking=True)  # close-on-exec; OSError when out of instances
        self._fd = self._inotify.fileno()
        self._on_change = on_change
        self._on_overflow = on_overflow
        self._paths: dict[int, str] = {}
        self._wds: dict[str, int] = {}
        self._limit_logged = False

    def fileno(self) -> int:
        return self._fd

    def is_watching(self, path: str) -> bool:
        return path in self._wds

    def watch(self, path: str) -> bool:
        """Watch directory `path` (a real path); False when it cannot be watched."""
        if path in self._wds:
            return True
        try:
            wd = self._inotify.add_watch(path, DIR_MASK)
        except OSError as exc:
            if exc.errno == errno.ENOSPC and not self._limit_logged:
                self._limit_logged = True
                error_log.warning(
                    "inotify watch limit reached (fs.inotify.max_user_watches) at %s; "
                    "files there are checked with stat() on every request instead",
                    path,
                )
            return False
        old = self._paths.get(wd)
        if old is not None and old != path:
            # The same directory under a second path (a bind mount): keep one name per watch.
            self._wds.pop(old, None)
        self._paths[wd] = path
        self._wds[path] = wd
        return True

    def on_readable(self) -> None:
        while True:
            try:
                data = os.read(self._fd, _READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                error_log.exception("reading the inotify fd failed")
                return
            if not data:
                return
            for event in parse_events(data):
                self._dispatch(event.wd, event.mask, event.name)

    def on_writable(self) -> None:  # pragma: no cover - never asks for EPOLLOUT
        pass

    def _dispatch(self, wd: int, mask: int, name: str) -> None:
        if mask & flags.Q_OVERFLOW:
            self._report_overflow()
            return
        base = self._paths.get(wd)
        if base is None:
            return  # a watch we already forgot (its IGNORED event, or an old path)
        if name:
            path = base + "/" + name if base != "/" else "/" + name
            tree = bool(mask & flags.ISDIR and mask & _CHILD_TREE)
        else:
            path = base
            tree = bool(mask & _SELF_TREE)
        if tree:
            self._forget_tree(path)
        try:
            self._on_change(path, tree)
        except Exception:
            error_log.exception("handling a change of %s failed", path)

    def _report_overflow(self) -> None:
        error_log.warning("inotify event queue overflowed; dropping every cached file")
        try:
            self._on_overflow()
        except Exception:
            error_log.exception("handling an inotify overflow failed")

    def _forget_tree(self, path: str) -> None:
        """Drop the watches at and below `path`: they describe a place that moved."""
        prefix = path + "/"
        for watched in [p for p in self._wds if p == path or p.startswith(prefix)]:
            wd = self._wds.pop(watched)
            self._paths.pop(wd, None)
            try:
                self._inotify.rm_watch(wd)
            except OSError:
                pass  # the kernel removed it already

    def close(self) -> None:
        self._paths.clear()
        self._wds.clear()
        self._inotify.close()
