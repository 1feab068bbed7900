"""The one CSV writer of every export: what French Excel opens correctly (UTF-8 with a BOM, semicolons,
decimal commas), with every cell that a spreadsheet would run as a formula neutralised."""
from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Iterable
from datetime import date, datetime

from flask import Response


def cents_cell(cents: int | None) -> str:
    """1234 -> '12,34' (a number for a French spreadsheet, not text)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100},{cents % 100:02d}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?\Z")


def csv_cell(value) -> str:
    """One cell as text; one starting with = + - @ tab or CR (CSV injection) gets a leading quote, except a
    plain negative number."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, enum.Enum):
        value = value.value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.match(text):
        text = "'" + text
    return text


def csv_text(header: Iterable, rows: Iterable[Iterable]) -> str:
    """The whole file: header, rows, BOM first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return "\ufeff" + buffer.getvalue()


def csv_response(filename: str, header: Iterable, rows: Iterable[Iterable]) -> Response:
    """A CSV download."""
    return Response(csv_text(header, rows).encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Content-Type": "text/csv; charset=utf-8"})
