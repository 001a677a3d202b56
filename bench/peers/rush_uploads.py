"""The Rush side of bench/uploads.py: `python -m rush bench.peers.rush_uploads:app`.

Both routes answer the sha256 hexdigest of the uploaded bytes as text/plain, the same
answer bench/peers/flask_app.py gives for its /upload, so the client checks every upload.
Limits are raised so that a 100 MiB body is accepted; everything else is Rush's defaults
(a form larger than `spool_threshold`, 1 MiB, has its files spooled to $TMPDIR).
"""

import hashlib

from rush import Rush

CHUNK = 64 * 1024  # the same read size as the Flask handler
GIB = 1024**3

app = Rush()


@app.post("/upload", max_body=2 * GIB)
def upload(request):
    """multipart/form-data: sha256 of the part named "file", read back in 64 KiB chunks."""
    digest = hashlib.sha256()
    stream = request.files["file"].stream
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


@app.post("/ingest", stream=True, max_body=2 * GIB)
def ingest(request):
    """A raw body, hashed chunk by chunk as it arrives (never stored)."""
    digest = hashlib.sha256()
    while chunk := (yield):
        digest.update(chunk)
    return digest.hexdigest()
