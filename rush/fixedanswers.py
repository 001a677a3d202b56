"""Answers the server may send without calling the app: redirects, and cached files.

What it owns: the table behind `Rush.prerendered` (GET target -> answer) and telling the
servers that follow it (`Rush.follow_prerendered`) when an entry comes or goes.

Facts and strategy:
- A redirect's answer is fixed at startup (`Rush.redirect`).
- A file's answer is published while the file cache holds it *trusted*: read whole, one
  representation (no .br/.gz sibling to choose by Accept-Encoding), kept fresh by inotify
  (rush.static). It is withdrawn when the cache drops the entry (a change on disk, eviction)
  or stops trusting it (the watcher closed): the next request reaches the app, which reads
  the file again, and the cache announces the new entry.
- A file is published at a URL only where the app's own routing answers GET of that URL
  with that very entry: its name under a static mount (spelled with characters that need no
  percent-decoding) or a `static_file` route's URL, and the app's `Resolve` (its router, or
  the WSGI host's --static prefixes) maps the URL to the mount's or the route's endpoint with
  that name. A route of the user's that shadows the name keeps its requests.
- A folder's file is published also at the URL with the `?v=` that url_for adds
  with `_version` (the folder answers whatever the query).
- The server leaves a request with preconditions or a Range to the app, which compares them
  with the file's validators (rush.protocol.writer.Prerendered), and HEAD too.
- Answers sent by the server do not move the entry up the cache's LRU order: under memory
  pressure a busy file may be evicted first, and costs one read to come back.
"""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rush.fileresponse import Resource, plain_get_answer
from rush.protocol.writer import Answer
from rush.static import StaticFiles, content_version

if TYPE_CHECKING:
    from rush.routing import Router

Follower = Callable[[bytes, Answer | None], None]
#: f(url) -> (endpoint, arguments) that GET `url` reaches, or None.
Resolve = Callable[[str], tuple[Any, dict[str, Any]] | None]


def routed_by(router: Router) -> Resolve:
    """An app's Resolve: its router's match."""

    def resolve(url: str) -> tuple[Any, dict[str, Any]] | None:
        found = router.match("GET", url)
        return None if found is None else (found[0].endpoint, found[1])

    return resolve


#: A URL published as it is: pchar of RFC 3986 and "/", without "%" (nothing to decode).
_PLAIN_PATH = re.compile(r"/[\w.~!$&'()*+,;=:@/-]*", re.ASCII)


class FixedAnswers:
    """GET target -> the answer the server may send for it unasked, and who follows changes."""

    def __init__(self, files: StaticFiles, resolve: Resolve) -> None:
        self.files = files
        self.resolve = resolve
        self.answers: dict[bytes, Answer] = {}
        self.followers: list[Callable[[], Follower | None]] = []
        #: static_file routes: cache key -> (URL, header lines, endpoint) of each.
        self.file_routes: dict[str, list[tuple[str, bytes, Any]]] = {}
        self._published: dict[Resource, list[bytes]] = {}
        files.observer = self.file_changed

    def add(self, target: bytes, answer: Answer) -> None:
        """A fixed answer (a redirect's), known before any server follows."""
        self.answers[target] = answer

    def follow(self, follower: Follower) -> None:
        """Tell `follower` of every change from now on, while it lives: a server's method is
        held weakly, so that a stopped server (the tests start many) is not kept alive."""
        self.followers.append(
            weakref.WeakMethod(follower) if inspect.ismethod(follower) else lambda: follower
        )

    def file_changed(self, resource: Resource, trusted: bool) -> None:
        """The cache's observer: `resource` is now cached and trusted, or no longer."""
        for target in self._published.pop(resource, ()):
            self._set(target, None)
        if not trusted:
            return
        targets = []
        for url, lines in self._urls_of(resource):
            answer = plain_get_answer(resource, lines)
            if answer is None:
                continue  # not in memory, or chosen by Accept-Encoding: the app answers
            target = url.encode("ascii")
            self._set(target, answer)
            targets.append(target)
        if targets:
            self._published[resource] = targets

    def _urls_of(self, resource: Resource) -> list[tuple[str, bytes]]:
        """Where the app's routing answers GET with `resource`, and the header lines it adds."""
        resolve = self.resolve
        found: list[tuple[str, bytes]] = []
        for mount in self.files.mounts:
            if resource.table is mount.entries:
                name = resource.key[len(mount.prefix) :]
                url = mount.url + "/" + name
                match = resolve(url) if _PLAIN_PATH.fullmatch(url) else None
                if match is not None:
                    endpoint, args = match
                    # (no arguments: an app's `url/` route, whose name is "")
                    if endpoint == mount.serve and args == ({"filename": name} if args else {}):
                        # The folder answers whatever the query: the URL url_for makes with
                        # `_version` is published too.
                        version = f"{url}?v={content_version(resource)}"
                        found += ((url, mount.lines), (version, mount.lines))
                return found
        if resource.table is self.files.send_file_table:
            for url, lines, route_endpoint in self.file_routes.get(resource.key, ()):
                match = resolve(url) if _PLAIN_PATH.fullmatch(url) else None
                if match is not None and match[0] is route_endpoint and not match[1]:
                    found.append((url, lines))
        return found

    def _set(self, target: bytes, answer: Answer | None) -> None:
        if answer is None:
            self.answers.pop(target, None)
        else:
            self.answers[target] = answer
        for reference in list(self.followers):
            follower = reference()
            if follower is None:
                self.followers.remove(reference)
            else:
                follower(target, answer)
