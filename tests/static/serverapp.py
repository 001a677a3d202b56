"""The app the end-to-end static tests serve; its folders come from $STATIC_TEST_ROOT.

Layout under the root: public/ (the static folder, also `/` via send_file), assets/
(a second mount with its own Cache-Control), files/ (send_from_directory downloads).
"""

from __future__ import annotations

import os
from pathlib import Path

from rush import Rush

ROOT = Path(os.environ["STATIC_TEST_ROOT"])

app = Rush(
    static_folder=ROOT / "public",
    static_url="/static",
    file_cache_bytes=int(os.environ.get("STATIC_TEST_CACHE_BYTES", 64 * 1024 * 1024)),
)
app.static("/assets", ROOT / "assets", cache_control="max-age=3600")


@app.get("/")
def index(request):
    return app.send_file(ROOT / "public" / "index.html")


@app.get("/download/<path:name>")
def download(request, name):
    return app.send_from_directory(ROOT / "files", name, as_attachment=True)


@app.get("/pid")
def pid(request):
    return str(os.getpid())


@app.get("/cache")
def cache(request):
    files = app.static_files
    return {"keys": files.cached_keys(), "size": files.size}
