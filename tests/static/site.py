"""The static file tests' folder tree and server.

`make_tree` lays out a site in a folder; `StaticServer` is tests.support's RushServer running
tests/static/serverapp.py on 127.0.0.1:0 over such a folder, ready once `workers` distinct
workers answered /pid.
"""

from __future__ import annotations

import http.client
from pathlib import Path

from tests.support.polling import wait_until
from tests.support.process import RushServer

APP = "tests.static.serverapp:app"
_LISTENING = r"listening on http://127\.0\.0\.1:(\d+)"


def make_tree(root: Path) -> Path:
    """public/ (index, css + gz, a sub dir), assets/, files/, and a secret next to them."""
    (root / "public" / "sub").mkdir(parents=True)
    (root / "assets").mkdir()
    (root / "files").mkdir()
    (root / "secret.txt").write_text("TOP SECRET\n")
    (root / "public" / "index.html").write_text("<h1>index</h1>\n")
    (root / "public" / "a.txt").write_text("version 1\n")
    (root / "public" / "style.css").write_text("body { color: red; }\n")
    (root / "public" / "sub" / "index.html").write_text("<h1>sub</h1>\n")
    (root / "assets" / "app.js").write_text("console.log(1);\n")
    (root / "files" / "report.txt").write_text("the report\n")
    return root


class StaticServer(RushServer):
    """One `python -m rush tests.static.serverapp:app` subprocess serving `root`."""

    def __init__(self, root: Path, workers: int = 1, env: dict[str, str] | None = None):
        super().__init__(
            APP,
            "--bind",
            "127.0.0.1:0",
            "--workers",
            str(workers),
            env={"STATIC_TEST_ROOT": str(root), **(env or {})},
        )
        try:
            self.port = int(self.wait_for(_LISTENING, 10).group(1))
        except AssertionError:
            self.stop()
            raise
        pids = set()

        def ready() -> bool:
            try:
                pids.add(int(self.get("/pid")[2]))
            except OSError:
                pass
            return len(pids) >= workers

        if not wait_until(ready, 10, 0.01):
            self.stop()
            raise AssertionError(f"{workers} worker(s) not answering:\n{self.log}")

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = self.connect()
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()
