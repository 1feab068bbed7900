"""The one CSV writer: cells that a spreadsheet would run as a formula are neutralised."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# A cell starting with one of these is a formula (or hides one) in Excel and LibreOffice.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    """CSV text (';'-separated, as a French spreadsheet opens it) with every text cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow([_cell(h) for h in header])
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()
