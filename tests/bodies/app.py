"""The app the end-to-end body tests serve: `python -m rush tests.bodies.app:app`.

Temporary files go to $TMPDIR (the tests point it at their own directory). Small form limits
so that the tests can cross each of them cheaply; the upload routes allow large bodies.
"""

from __future__ import annotations

import hashlib
import time

from rush import Rush

GIB = 1024**3

app = Rush(
    max_form_parts=50,
    max_form_field_size=64 * 1024,
    max_form_memory=256 * 1024,
    max_part_header_size=1024,
)

#: Stream handlers closed before their body ended (a client that left).
STATS = {"closed": 0}


@app.get("/ping")
def ping(request):
    return "pong"


@app.get("/stats")
def stats(request):
    return STATS


@app.post("/upload", max_body=2 * GIB)
def upload(request):
    """Every field, and for every file its names, size and sha256 (read back from storage)."""
    files = []
    for name, upload in request.files.items(multi=True):
        digest = hashlib.sha256()
        while chunk := upload.stream.read(1 << 20):
            digest.update(chunk)
        files.append(
            {
                "field": name,
                "filename": upload.filename,
                "safe": upload.safe_filename,
                "type": upload.content_type,
                "size": upload.size,
                "sha256": digest.hexdigest(),
                "spooled": not upload.in_memory,
            }
        )
    return {"form": request.form.to_dict(flat=False), "files": files}


@app.post("/limited", max_body=1024 * 1024, spool_threshold=64 * 1024)
def limited(request):
    return str(len(request.body))


@app.post("/save")
def save(request):
    """The issue's example: save under a safe name in the directory given by ?dir=."""
    upload = request.files["photo"]
    upload.save(f"{request.args['dir']}/{upload.safe_filename}")
    return {"name": upload.filename, "size": upload.size, "title": request.form.get("title")}


@app.post("/ingest", stream=True, max_body=8 * GIB)
def ingest(request):
    """sha256 of the body as it arrives, and when each chunk arrived (CLOCK_MONOTONIC)."""
    digest = hashlib.sha256()
    size = 0
    arrivals = []
    try:
        while chunk := (yield):
            digest.update(chunk)
            size += len(chunk)
            if len(arrivals) < 1000:
                arrivals.append((time.monotonic(), size))
    except GeneratorExit:
        STATS["closed"] += 1
        raise
    return {"sha256": digest.hexdigest(), "size": size, "arrivals": arrivals}
