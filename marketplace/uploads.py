"""Stored uploads served safely: the type read from the file's first bytes, never from a name a member chose."""
from __future__ import annotations

from pathlib import Path

from flask import abort, send_file
from werkzeug.security import safe_join

# First bytes -> (media type, extension). Only what the shop accepts: photos and receipts.
FILE_TYPES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"%PDF-", "application/pdf", "pdf"),
)
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}
UNKNOWN = ("application/octet-stream", "bin")


def detect_type(head: bytes) -> tuple[str, str] | None:
    """(media type, extension) of a file from its first bytes; None if it is none of the accepted kinds."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return next(((mimetype, ext) for magic, mimetype, ext in FILE_TYPES if head.startswith(magic)), None)


def send_upload(folder: Path, filename: str, *, download_name: str | None = None, reencoded: bool = True,
                max_age: int | None = None):
    """Serve a stored file with the type its content shows, `nosniff` (set for every response).

    Only images that we re-encoded ourselves (`reencoded`) are shown inline; anything else is
    a download, and a file of an unknown kind is plain bytes."""
    path = safe_join(str(folder), filename)
    if path is None or not Path(path).is_file():
        abort(404)
    with open(path, "rb") as stream:
        mimetype, extension = detect_type(stream.read(16)) or UNKNOWN
    inline = reencoded and mimetype in IMAGE_TYPES
    name = f"{Path(download_name or filename).stem or 'file'}.{extension}"
    return send_file(path, mimetype=mimetype, as_attachment=not inline, download_name=name, max_age=max_age,
                     conditional=True, etag=True)
