"""Where request bytes live when they are not kept whole in memory, and uploaded files.

Owns a request's temporary file (`Spool`), readers over regions of it, `UploadedFile` and
`safe_filename`. It knows nothing of HTTP parsing or the app.

Facts and strategy:
- The temporary file is anonymous (O_TMPFILE on Linux): it has no name on disk, so nothing is
  left behind even if the worker is killed; closing it frees the space.
- Writes are batched to `_FLUSH_SIZE` and go to the page cache; reads use pread, so several
  readers of one file never disturb each other.
- After `close()` every read fails loudly: the descriptor number may already belong to
  another file by then.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

from rush.datastructures import Headers

_FLUSH_SIZE = 64 * 1024  # a write batch: few syscalls, little memory per upload


# -- the temporary file ------------------------------------------------------------------


class Spool:
    """A request's bytes: in memory up to `threshold`, then in an anonymous temporary file."""

    __slots__ = ("size", "_threshold", "_directory", "_buffer", "_file", "closed")

    def __init__(self, threshold: int, directory: str | None) -> None:
        self.size = 0
        self._threshold = threshold
        self._directory = directory
        self._buffer = bytearray()  # everything while in memory; unwritten bytes after
        self._file: IO[bytes] | None = None
        self.closed = False

    @property
    def in_memory(self) -> bool:
        return self._file is None

    def append(self, data: bytes | bytearray) -> None:
        """Add `data` at the end; may write to disk (OSError: e.g. the disk is full)."""
        self.size += len(data)
        buffer = self._buffer
        if self._file is None and self.size <= self._threshold:
            buffer += data
        elif not buffer and len(data) >= _FLUSH_SIZE:
            self._write(data)  # PERF: a big chunk goes straight to the file, no copy
        else:
            buffer += data
            if len(buffer) >= _FLUSH_SIZE:
                self.flush()

    def flush(self) -> None:
        if self._buffer and (self._file is not None or self.size > self._threshold):
            self._write(self._buffer)
            self._buffer = bytearray()

    def _write(self, data: bytes | bytearray) -> None:
        if self.closed:
            raise ValueError("the request's temporary file is closed")
        file = self._file
        if file is None:
            file = self._file = tempfile.TemporaryFile(dir=self._directory, buffering=0)
        fd = file.fileno()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    def pread(self, size: int, offset: int) -> bytes:
        """Up to `size` bytes from `offset` (bytes only a file can hold are flushed first)."""
        self._check_open()
        if self._file is None:
            return bytes(self._buffer[offset : offset + size])
        self.flush()
        fd = self._file.fileno()
        data = os.pread(fd, size, offset)
        if len(data) == size or not data:
            return data
        parts = [data]  # Linux reads at most 2 GiB - 4 KiB per call
        while size > (done := sum(map(len, parts))):
            part = os.pread(fd, size - done, offset + done)
            if not part:
                break
            parts.append(part)
        return b"".join(parts)

    def copy_to(self, fd: int, offset: int, count: int) -> None:
        """Write `count` bytes from `offset` to the file `fd`, in the kernel when it can."""
        self._check_open()
        if self._file is None:
            view = memoryview(self._buffer)[offset : offset + count]
            while view:
                view = view[os.write(fd, view) :]
            return
        self.flush()
        source = self._file.fileno()
        end = offset + count
        while offset < end:
            try:
                copied = os.copy_file_range(source, fd, end - offset, offset)
            except OSError as error:
                if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                copied = os.write(fd, os.pread(source, min(end - offset, 1 << 20), offset))
            if copied == 0:
                raise OSError(errno.EIO, "the request's temporary file ended early")
            offset += copied

    def _check_open(self) -> None:
        if self.closed:
            # The descriptor number may already belong to another file: never read through it.
            raise ValueError("the request ended: its body and uploads are gone (save() them)")

    def close(self) -> None:
        self.closed = True
        self._buffer = bytearray()
        if self._file is not None:
            self._file.close()


class SpoolReader(io.RawIOBase):
    """A read-only, seekable file over `size` bytes of a Spool starting at `start`."""

    def __init__(self, spool: Spool, start: int, size: int) -> None:
        super().__init__()
        self._spool = spool
        self._start = start
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = (0, self._position, self._size)[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        left = self._size - self._position
        if size is None or size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        data = self._spool.pread(size, self._start + self._position)
        self._position += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_reader(spool: Spool, start: int, size: int) -> BinaryIO:
    return io.BufferedReader(SpoolReader(spool, start, size), 64 * 1024)  # type: ignore[return-value]


# -- uploaded files ----------------------------------------------------------------------


class UploadedFile:
    """One file of a multipart form: `request.files["photo"]`.

    `filename` is the name the client sent ("" for an empty file input), `safe_filename` a name
    safe to join to a directory, `name` the form field, `content_type`, `headers` (the part's),
    `size`. `read(n)` and `stream` (a seekable binary file) read the content; `save(path or
    file)` writes all of it. The content lives in memory or in the request's temporary file and
    only until the request is answered: save() what you want to keep.
    """

    __slots__ = (
        "name",
        "filename",
        "content_type",
        "headers",
        "size",
        "_data",
        "_spool",
        "_offset",
        "_stream",
    )

    def __init__(
        self, name: str, filename: str, content_type: str, headers: Headers | None = None
    ) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else Headers()
        self.size = 0
        self._data: bytearray | bytes = bytearray()  # bytes once the part has ended
        self._spool: Spool | None = None
        self._offset = 0
        self._stream: BinaryIO | None = None

    @classmethod
    def from_bytes(
        cls, name: str, filename: str, data: bytes, content_type: str = ""
    ) -> UploadedFile:
        """An upload held in memory (for tests and for forms built by hand)."""
        upload = cls(name, filename, content_type or "application/octet-stream")
        upload._data = data
        upload.size = len(data)
        return upload

    @property
    def safe_filename(self) -> str:
        """`filename` made safe to join to a directory: its last path part, without what
        could leave the directory or hide the file ("upload" when nothing is left)."""
        return safe_filename(self.filename)

    @property
    def in_memory(self) -> bool:
        """False when the content was spooled to the request's temporary file."""
        return self._spool is None

    @property
    def stream(self) -> BinaryIO:
        """The content as a seekable binary file, read from memory or from the spool."""
        stream = self._stream
        if stream is None:
            if self._spool is None:
                stream = io.BytesIO(self._data)  # type: ignore[arg-type]
            else:
                stream = open_reader(self._spool, self._offset, self.size)
            self._stream = stream
        return stream

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes of the content (all of it by default) from `stream`."""
        return self.stream.read(size)

    # -- Werkzeug's FileStorage names, so that Flask upload code runs as it is ------------------

    @property
    def mimetype(self) -> str:
        """`content_type` without its parameters, lower case."""
        return self.content_type.partition(";")[0].strip().lower()

    @property
    def content_length(self) -> int:
        """The size of the content (`size`)."""
        return self.size

    def __bool__(self) -> bool:
        """False for an empty file input (no file name), as Werkzeug's: `if file: ...`."""
        return bool(self.filename)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.stream)

    def __getattr__(self, name: str) -> Any:
        """`seek`, `tell`, `readline`, `close`, ... of `stream`, as Werkzeug's proxies them."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.stream, name)

    def save(self, destination: str | os.PathLike[str] | BinaryIO) -> None:
        """Write the whole content to a path (created or truncated) or a binary file object.

        A spooled upload is copied in the kernel (copy_file_range). This runs in the handler,
        on the worker's loop: saving a large file takes the time the disk needs.
        """
        if hasattr(destination, "write"):
            if self._spool is None:
                destination.write(self._data)  # type: ignore[union-attr, arg-type]
                return
            reader = open_reader(self._spool, self._offset, self.size)
            while chunk := reader.read(1 << 20):
                destination.write(chunk)  # type: ignore[union-attr]
            return
        with open(destination, "wb") as out:  # type: ignore[arg-type]
            if self._spool is None:
                out.write(self._data)  # type: ignore[arg-type]
            else:
                self._spool.copy_to(out.fileno(), self._offset, self.size)

    def __repr__(self) -> str:
        return f"<UploadedFile {self.name!r} {self.filename!r} {self.content_type} {self.size}>"


_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)]
)
_UNSAFE_CHARS = str.maketrans({c: "_" for c in '<>:"|?*'})


def safe_filename(filename: str, default: str = "upload") -> str:
    """A filename safe to join to a directory: the last path part of `filename`, without
    control or format characters (NUL, bidi overrides), Windows-reserved characters and
    names, leading dots or trailing dots and spaces, at most 255 UTF-8 bytes; never empty.
    """
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.translate(_UNSAFE_CHARS).split())
    name = name.lstrip(".").rstrip(". ")
    if name.partition(".")[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    if len(name.encode("utf-8")) > 255:
        stem, dot, ext = name.rpartition(".")
        if not stem or len(ext) > 16:
            stem, dot, ext = name, "", ""
        room = 255 - len((dot + ext).encode("utf-8"))
        name = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(". ") + dot + ext
    return name or default
