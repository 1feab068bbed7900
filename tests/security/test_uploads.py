"""Uploaded files (issue 9, item 9): served with the type their content shows, inline only when they are
images we re-encoded, never decoded when they claim too many pixels."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import ImageFile

from marketplace.billing import services as billing
from marketplace.catalog.models import Product
from marketplace.extensions import db
from tests.billing_fixtures import last_month
from tests.factories import category, get_admin, login, make_producer

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


def png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG, all black, made without Pillow: 13000 x 13000 is ~20 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then 8 pixels a byte
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def _product_form(photo: bytes, filename: str) -> dict:
    return {"name": "Beetroot", "description": "", "category_id": category().id, "unit": "piece", "price": "2.50",
            "vat_rate_bp": "550", "stock": "10", "estimated_weight_g": "", "active": "y",
            "photo": (io.BytesIO(photo), filename)}


def test_a_photo_claiming_169_megapixels_is_refused_before_any_decoding(app, client, monkeypatch):
    decoded = []
    original_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size) or original_load(self))
    farm = make_producer("farm@test.coop", "Farm")
    db.session.commit()
    login(client, farm)
    bomb = png(13000, 13000)
    assert len(bomb) < 100_000
    response = client.post("/producer/products/new", data=_product_form(bomb, "field.png"),
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert b"too many pixels" in response.data
    assert decoded == []
    assert db.session.query(Product).count() == 0


def test_a_photo_is_stored_re_encoded_and_shown_inline_as_the_image_it_is(app, client):
    farm = make_producer("farm@test.coop", "Farm")
    db.session.commit()
    login(client, farm)
    # A PNG named .jpg: what counts is the content.
    response = client.post("/producer/products/new", data=_product_form(png(40, 30), "photo.jpg"),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    name = db.session.query(Product).one().photo_filename
    served = client.get(f"/uploads/{name}")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("inline")


def test_anything_else_in_the_uploads_folder_is_a_download_of_plain_bytes(app, client):
    folder = Path(app.config["UPLOAD_FOLDER"])
    (folder / "page.html").write_bytes(HTML)
    (folder / "fake.png").write_bytes(HTML)
    for name in ("page.html", "fake.png"):
        served = client.get(f"/uploads/{name}")
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "application/octet-stream"
        assert served.headers["Content-Disposition"].startswith("attachment")
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/uploads/../test.sqlite").status_code == 404


@pytest.mark.parametrize("content,name,mimetype,download", [
    (PDF, "facture.html", "application/pdf", "facture.pdf"),
    (png(20, 20), "scan.svg", "image/png", "scan.png"),
])
def test_a_receipt_is_downloaded_with_the_type_of_its_content(app, client, content, name, mimetype, download):
    admin = get_admin()
    entry = billing.record_cost(admin, billing.CostInput("hosting", 1200, last_month()), receipt=content,
                                receipt_name=name)
    db.session.commit()
    login(client, admin)
    served = client.get(f"/admin/billing/costs/{entry.id}/receipt")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == mimetype
    assert served.headers["Content-Disposition"] == f"attachment; filename={download}"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Cache-Control"] == "no-store"
    assert served.data == content
