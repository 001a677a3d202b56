"""Files served from disk: static folders, `send_file`, `send_from_directory`, and their cache.

What it owns: turning an untrusted URL path into a file inside a folder (or a 404), the
per-process cache of small files as pre-rendered response bytes, and keeping that cache fresh
through a `rush.watch.DirectoryWatcher`. Path rules live in `rush.paths`, HTTP semantics
(conditional requests, ranges, encodings) in `rush.fileresponse`. It must not touch sockets or
the event loop: the worker registers the watcher it gets from `StaticFiles.start_watching()`.

Facts and strategy:
- Small files (up to `threshold` bytes, with their .br/.gz siblings) are read once and kept as
  header lines + body, bounded by `max_bytes` in LRU order; a hit is a dict lookup. Larger
  files are opened per request and sent with sendfile; they are never read into memory.
- Freshness: with a watcher running (in a worker, after the fork), an entry is trusted until
  inotify reports a change to one of its *dependencies*: the directory entries it was reached
  through (each path component, each symlink hop, the root's own name) and its sibling names
  (a new `x.css.gz` changes what `x.css` answers). The watches are placed before the file is
  read, so no change can fall between reading and watching. Without a watcher (the test
  client, or a directory over the watch limit) every hit is checked with stat(), and a file
  modified within `RACY_SECONDS` of being read is re-read, since an in-place write in the same
  timestamp tick leaves stat() unchanged (git's "racy clean" problem).
- Containment: names are split on "/" and "..", "\\", NUL and (unless allowed) dot-names are
  refused before any syscall; symlinks are followed, but the real path must stay inside the
  folder's real path. Every refusal is a 404, so probing learns nothing.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import IO, Any

try:
    # RSS: hashlib imports OpenSSL's libcrypto (3.5 MB in every worker) for constructors we do
    # not use; blake2b is CPython's own, and hashlib's is this one.
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - another Python
    from hashlib import blake2b

from rush.exceptions import ConfigError, HTTPError
from rush.fileresponse import (
    FileResponse,
    Representation,
    Resource,
    cache_control_line,
    content_type_line,
    disposition_line,
    file_object_response,
)
from rush.paths import (
    ENCODINGS,
    Trace,
    open_regular,
    read_all,
    root_path_of,
    signature,
    split_name,
    stat_signature,
)
from rush.response import Response
from rush.watch import DirectoryWatcher

error_log = logging.getLogger("rush.error")

DEFAULT_THRESHOLD = 256 * 1024
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
DEFAULT_CACHE_CONTROL = "no-cache"
#: In stat() mode, a file this recently modified when read is re-read (see the docstring).
RACY_SECONDS = 1.0
_ENTRY_OVERHEAD = 512  # bytes per cached entry beyond its header lines and bodies
_DEFAULT_LINES = cache_control_line(DEFAULT_CACHE_CONTROL)


# -- the cache -----------------------------------------------------------------------------


class StaticFiles:
    """One per app: the file cache of this process, its mounts, and its watcher."""

    def __init__(
        self,
        root_path: str,
        threshold: int = DEFAULT_THRESHOLD,
        max_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if threshold < 0 or max_bytes < 0:
            raise ConfigError("file cache sizes must not be negative")
        self.root_path = root_path
        self.threshold = threshold
        self.max_bytes = max_bytes
        self.size = 0
        self.mounts: list[StaticMount] = []
        self.watcher: DirectoryWatcher | None = None
        # Each table holds entries reached under one set of rules, so that a name looked up
        # without checks (a mount's fast path) can only find what those rules let in.
        self.send_file_table: dict[str, Resource] = {}  # send_file: trusted paths
        self._directories: dict[str, dict[str, Resource]] = {}  # send_from_directory
        self._lru: OrderedDict[Resource, None] = OrderedDict()
        self._by_dep: dict[str, set[Resource]] = {}
        self._abs_memo: dict[str, str] = {}
        #: f(resource, trusted): an entry is now cached and trusted without a stat() (inotify
        #: watches it), or no longer; rush.fixedanswers publishes such files to the server.
        self.observer: Callable[[Resource, bool], None] | None = None

    @classmethod
    def for_app(cls, import_name: str | None, threshold: int, max_bytes: int) -> StaticFiles:
        """Relative paths start at the app's module directory (Flask's root_path), else cwd."""
        return cls(root_path_of(import_name), threshold, max_bytes)

    # -- public entry points ---------------------------------------------------------------

    def mount(
        self,
        url: str,
        directory: str | os.PathLike[str],
        *,
        cache_control: str | None = DEFAULT_CACHE_CONTROL,
        dotfiles: bool = False,
        index: str | None = "index.html",
    ) -> StaticMount:
        if not isinstance(url, str) or not url.startswith("/"):
            raise ConfigError(f"static url {url!r} must start with '/'")
        root = self.absolute(directory)
        if not os.path.isdir(root):
            raise ConfigError(f"static folder {os.fspath(directory)!r} ({root}) is not a directory")
        mount = StaticMount(self, url.rstrip("/"), root, cache_control, dotfiles, index)
        self.mounts.append(mount)
        return mount

    def send_file(
        self,
        path: str | os.PathLike[str] | IO[bytes],
        *,
        mimetype: str | None = None,
        as_attachment: bool = False,
        download_name: str | None = None,
        cache_control: str | None = DEFAULT_CACHE_CONTROL,
    ) -> Response:
        """A trusted path (relative to the app's root): no containment, dot names allowed.
        An open file object is read whole instead (see fileresponse.file_object_response)."""
        key = self._abs_memo.get(path) if type(path) is str else None  # type: ignore[arg-type]
        if key is None:
            if hasattr(path, "read"):
                return file_object_response(
                    path, mimetype, as_attachment, download_name, cache_control
                )
            key = self.absolute(path)
            if type(path) is str:
                if len(self._abs_memo) > 4096:
                    self._abs_memo.clear()
                self._abs_memo[path] = key  # type: ignore[index]
        resource = self.lookup(self.send_file_table, key)
        if resource is None:
            root, name = os.path.split(key)
            resource = self.load(self.send_file_table, key, root, [name], contain=False, index=None)
        if (
            cache_control == DEFAULT_CACHE_CONTROL  # (the default object: equal at `is`'s cost)
            and mimetype is None
            and not as_attachment
            and download_name is None
        ):
            return FileResponse(resource, _DEFAULT_LINES)  # PERF: the common call, no options
        return self.response(resource, mimetype, as_attachment, download_name, cache_control, key)

    def send_from_directory(
        self,
        directory: str | os.PathLike[str],
        name: str,
        *,
        mimetype: str | None = None,
        as_attachment: bool = False,
        download_name: str | None = None,
        cache_control: str | None = DEFAULT_CACHE_CONTROL,
    ) -> FileResponse:
        """`name` is untrusted (a URL part): it must stay inside `directory`, else 404."""
        root = self.absolute(directory)
        split = split_name(name)
        if split is None or not split[0] or split[1]:
            raise HTTPError(404)
        parts = split[0]
        key = root + "/" + "/".join(parts)
        table = self._directories.get(root)
        if table is None:
            if len(self._directories) >= 1024:  # directories built from requests: forget empty ones
                self._directories = {d: t for d, t in self._directories.items() if t}
            table = self._directories[root] = {}
        resource = self.lookup(table, key)
        if resource is None:
            resource = self.load(table, key, root, parts, contain=True, index=None)
        return self.response(
            resource, mimetype, as_attachment, download_name, cache_control, parts[-1]
        )

    def preload(self, paths: Iterable[str | os.PathLike[str]]) -> int:
        """Read files (or every file below directories) into the cache now; returns how many."""
        count = 0
        for path in paths:
            absolute = self.absolute(path)
            if os.path.isdir(absolute):
                for mount in self.mounts:
                    if absolute == mount.root or absolute.startswith(mount.root + "/"):
                        count += mount.preload(absolute)
                        break
                else:
                    for file in _walk(absolute, dotfiles=True):
                        count += self._preload_one(file)
            elif os.path.exists(absolute):
                count += self._preload_one(absolute)
            else:
                raise ConfigError(f"preload: {os.fspath(path)!r} ({absolute}) does not exist")
        return count

    def _preload_one(self, key: str) -> int:
        if self.size >= self.max_bytes or key in self.send_file_table:
            return 0
        try:
            root, name = os.path.split(key)
            resource = self.load(self.send_file_table, key, root, [name], contain=False, index=None)
        except HTTPError:
            return 0
        resource.close_files()
        return int(resource.table is not None)

    def absolute(self, path: str | os.PathLike[str]) -> str:
        return os.path.abspath(os.path.join(self.root_path, os.fspath(path)))

    # -- the watcher -----------------------------------------------------------------------

    def start_watching(self) -> list[DirectoryWatcher]:
        """Called in each worker after the fork: open the inotify fd, watch what is cached.

        Entries preloaded in the master are kept only if stat() still agrees after their
        directories are watched; from then on inotify keeps them fresh.
        """
        self.stop_watching()
        try:
            watcher = DirectoryWatcher(self.on_change, self.clear)
        except OSError as exc:
            error_log.warning("cannot use inotify (%s); static files are checked with stat()", exc)
            return []
        self.watcher = watcher
        for resource in list(self._lru):
            if self._watch_all(resource.dirs) and self.still_fresh(resource):
                resource.checked = False
                self._announce(resource, True)
            elif not self.still_fresh(resource):
                self.drop(resource)
        return [watcher]

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
            self.watcher = None
            for resource in self._lru:
                resource.checked = True
                self._announce(resource, False)

    def on_change(self, path: str, tree: bool) -> None:
        """A watched directory entry changed: drop every entry that depended on it."""
        victims = set(self._by_dep.get(path, ()))
        if tree:
            prefix = path + "/"
            for dep, resources in self._by_dep.items():
                if dep.startswith(prefix):
                    victims.update(resources)
        for resource in victims:
            self.drop(resource)

    def clear(self) -> None:
        for resource in list(self._lru):
            self.drop(resource)

    def _watch_all(self, dirs: Iterable[str]) -> bool:
        watcher = self.watcher
        if watcher is None:
            return False
        ok = True
        for directory in set(dirs):
            ok = watcher.watch(directory) and ok
        return ok

    # -- entries ---------------------------------------------------------------------------

    def lookup(self, table: dict[str, Resource], key: str) -> Resource | None:
        resource = table.get(key)
        if resource is not None:
            if resource.checked and not self.still_fresh(resource):
                self.drop(resource)
                return None
            self._lru.move_to_end(resource)
        return resource

    def still_fresh(self, resource: Resource) -> bool:
        if resource.racy:
            return False
        return all(stat_signature(path) == sig for path, sig in resource.signatures)

    def drop(self, resource: Resource) -> None:
        table = resource.table
        if table is None:
            return
        resource.table = None
        if table.get(resource.key) is resource:
            del table[resource.key]
        self._lru.pop(resource, None)
        self.size -= resource.cost
        self._announce(resource, False)
        for dep in resource.deps:
            resources = self._by_dep.get(dep)
            if resources is not None:
                resources.discard(resource)
                if not resources:
                    del self._by_dep[dep]

    def _insert(self, table: dict[str, Resource], resource: Resource) -> None:
        if resource.cost > self.max_bytes:
            return
        old = table.get(resource.key)
        if old is not None:
            self.drop(old)
        while self.size + resource.cost > self.max_bytes and self._lru:
            self.drop(next(iter(self._lru)))
        resource.table = table
        table[resource.key] = resource
        self._lru[resource] = None
        self.size += resource.cost
        for dep in resource.deps:
            self._by_dep.setdefault(dep, set()).add(resource)
        if not resource.checked:
            self._announce(resource, True)

    def _announce(self, resource: Resource, trusted: bool) -> None:
        if self.observer is not None:
            self.observer(resource, trusted)

    def cached_keys(self) -> list[str]:
        """Keys of the cached entries, least recently used first (for tests and debugging)."""
        return [resource.key for resource in self._lru]

    # -- loading ---------------------------------------------------------------------------

    def load(
        self,
        table: dict[str, Resource],
        key: str,
        root: str,
        parts: list[str],
        *,
        contain: bool,
        index: str | None,
        want_dir: bool = False,
    ) -> Resource:
        """Resolve, open and (if small) read `root/parts`; raises HTTPError 404 or 403."""
        if "\x00" in key:
            raise HTTPError(404)  # a trusted path built from a URL part may still hold one
        try:
            trace = Trace(root, parts)
        except OSError:
            raise HTTPError(404) from None  # a symlink loop
        cacheable = True
        checked = True
        if self.watcher is not None:
            # Watch first, then look: a change after this point is reported, one before it is
            # in what we read. If watching changed anything, trace again and compare.
            known = all(self.watcher.is_watching(d) for d in trace.dirs)
            checked = not self._watch_all(trace.dirs)
            if not known:
                try:
                    again = Trace(root, parts)
                except OSError:
                    raise HTTPError(404) from None
                cacheable = again.deps == trace.deps
                trace = again
        if contain and not trace.contains(trace.real):
            raise HTTPError(404)
        try:
            found = open_regular(trace.real)
        except PermissionError:
            raise HTTPError(403) from None
        except OSError as exc:  # out of descriptors: the file may well exist, try later
            error_log.warning("cannot open %s: %s", trace.real, exc)
            raise HTTPError(503, headers={"Retry-After": "1"}) from None
        if found is None:
            raise HTTPError(404)
        fd, st = found
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            if index is None:
                raise HTTPError(404)
            return self.load(table, key, root, [*parts, index], contain=contain, index=None)
        if want_dir:
            os.close(fd)
            raise HTTPError(404)
        # From here on _build owns `fd`: it closes it, or hands it to the response.
        return self._build(table, key, root, parts, trace, fd, st, contain, cacheable, checked)

    def _build(
        self,
        table: dict[str, Resource],
        key: str,
        root: str,
        parts: list[str],
        trace: Trace,
        fd: int,
        st: os.stat_result,
        contain: bool,
        cacheable: bool,
        checked: bool,
    ) -> Resource:
        lexical = root + "/" + "/".join(parts)
        opened: list[tuple[str | None, int, os.stat_result]] = [(None, fd, st)]
        resource = Resource(key, content_type_line(parts[-1]))
        try:
            for coding, real in trace.siblings:
                if contain and not trace.contains(real):
                    continue
                try:
                    sibling = open_regular(real)
                except OSError:  # unreadable, or out of descriptors: serve the identity
                    sibling = None
                if sibling is not None:
                    if stat.S_ISREG(sibling[1].st_mode):
                        opened.append((coding, *sibling))
                    else:
                        os.close(sibling[0])
            vary = len(opened) > 1
            if not all(item[2].st_size <= self.threshold for item in opened):
                for encoding, rep_fd, rep_st in opened:
                    resource.reps.append(Representation.from_open(encoding, rep_fd, rep_st, vary))
                opened = []  # the descriptors now belong to the resource (and its response)
                return resource
            read_at = time.time()
            bodies = [read_all(rep_fd, rep_st.st_size) for _, rep_fd, rep_st in opened]
        finally:
            for _, rep_fd, _ in opened:
                os.close(rep_fd)
        newest = 0
        for (encoding, _, rep_st), body in zip(opened, bodies, strict=True):
            if len(body) != rep_st.st_size:
                cacheable = False  # changed while we read: answer it, do not keep it
            etag = f'"{len(body):x}-{blake2b(body, digest_size=8).hexdigest()}"'
            resource.reps.append(Representation.from_bytes(encoding, body, rep_st, etag, vary))
            newest = max(newest, rep_st.st_mtime_ns)
        resource.racy = read_at - newest / 1e9 < RACY_SECONDS
        resource.signatures = [(lexical, signature(st))] + [
            (lexical + suffix, stat_signature(lexical + suffix)) for _, suffix in ENCODINGS
        ]
        resource.deps = tuple(set(trace.deps))
        resource.dirs = tuple(set(trace.dirs))
        resource.checked = checked
        resource.cost = _ENTRY_OVERHEAD + sum(
            len(rep.body or b"") + len(rep.common) for rep in resource.reps
        )
        if cacheable and not (checked and resource.racy):
            self._insert(table, resource)
        return resource

    def response(
        self,
        resource: Resource,
        mimetype: str | None,
        as_attachment: bool,
        download_name: str | None,
        cache_control: str | None,
        name: str,
    ) -> FileResponse:
        ctype = None if mimetype is None else content_type_line(name, mimetype)
        lines = cache_control_line(cache_control) if cache_control else b""
        if as_attachment or download_name:
            lines += disposition_line(
                download_name or os.path.basename(name), as_attachment or not download_name
            )
        return FileResponse(resource, lines, ctype)


class StaticMount:
    """A folder served under a URL prefix: `/static/<path>` -> `root/<path>`."""

    def __init__(
        self,
        files: StaticFiles,
        url: str,
        root: str,
        cache_control: str | None,
        dotfiles: bool,
        index: str | None,
    ) -> None:
        self.files = files
        self.url = url
        self.root = root
        self.prefix = root + "/"
        self.cache_control = cache_control
        self.dotfiles = dotfiles
        self.index = index
        self.entries: dict[str, Resource] = {}
        #: The header lines its answers add (Cache-Control).
        self.lines = cache_control_line(cache_control) if cache_control else b""

    def serve(self, request: Any, filename: str = "") -> FileResponse:
        """The route endpoint. PERF: a cached name costs one string concat and a dict hit."""
        files = self.files
        key = self.prefix + filename
        resource = files.lookup(self.entries, key)
        if resource is None:
            split = split_name(filename, self.dotfiles)
            if split is None:
                raise HTTPError(404)
            parts, want_dir = split
            key = self.prefix + "/".join(parts) + ("/" if want_dir and parts else "")
            resource = files.lookup(self.entries, key)
            if resource is None:
                resource = files.load(
                    self.entries,
                    key,
                    self.root,
                    parts,
                    contain=True,
                    index=self.index,
                    want_dir=want_dir and bool(parts),
                )
        return FileResponse(resource, self.lines)

    def version(self, filename: str) -> str:
        """A short tag of the file's content, from its ETag (for cache-busting URLs).

        A cached file costs a dict hit; another is loaded (and cached, if small) once, as
        `serve` would. Raises HTTPError 404 for a name that `serve` would refuse."""
        resource = self.serve(None, filename).resource
        if resource.table is None:
            resource.close_files()  # a large file: nothing keeps its descriptors
        return content_version(resource)

    def preload(self, directory: str | None = None) -> int:
        """Cache the small files below `directory` (default: the whole folder)."""
        files = self.files
        count = 0
        for path in _walk(directory or self.root, self.dotfiles):
            if files.size >= files.max_bytes:
                break
            name = os.path.relpath(path, self.root)
            try:
                resource = files.load(
                    self.entries,
                    self.prefix + name,
                    self.root,
                    name.split("/"),
                    contain=True,
                    index=None,
                )
            except HTTPError:
                continue
            resource.close_files()
            count += int(resource.table is not None)
        return count

    def __repr__(self) -> str:
        return f"<StaticMount {self.url}/ -> {self.root}>"


def content_version(resource: Resource) -> str:
    """The `v=` of a file's versioned URL (url_for with `_version`): a hash of its ETag."""
    return blake2b(resource.reps[0].etag, digest_size=6).hexdigest()


def _walk(directory: str, dotfiles: bool) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(directory):
        if not dotfiles:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in sorted(filenames):
            if (dotfiles or not filename.startswith(".")) and not filename.endswith((".gz", ".br")):
                yield os.path.join(dirpath, filename)
