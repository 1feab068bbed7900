"""Templates: no stored text through `_()` (issue 9, item 2), nothing inline that the CSP would have to allow."""
from __future__ import annotations

import re
from pathlib import Path

from flask_babel import refresh
from sqlalchemy import Enum as SqlEnum

from marketplace import PROJECT_ROOT
from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import DeliveryJob, JobStatus
from marketplace.dispatch.planner import REASON_NO_COURIER
from marketplace.extensions import db
from tests.factories import get_admin, login
from tests.unit.test_dispatch_services import _accepted_run

TEMPLATES = PROJECT_ROOT / "templates"
CALL = re.compile(r"(?<![\w.])(?:_|gettext|ngettext)\(")
# The value of a column of a known enum (`order.payment_status.value`) or of `Distribution.phase()`.
ENUM_VALUE = re.compile(r"^[\w.]+?\.(\w+)(\(\))?\.value$")
ENUM_METHODS = {"phase"}


def first_argument(text: str, start: int) -> tuple[str, bool]:
    """The first argument of a call whose '(' ends at `start`, and whether it is a string literal."""
    i = start
    while text[i].isspace():
        i += 1
    if text[i] in "'\"":
        quote, j = text[i], i + 1
        while text[j] != quote:
            j += 2 if text[j] == "\\" else 1
        rest = text[j + 1:].lstrip()
        return text[i:j + 1], rest[:1] in (",", ")")  # a literal alone, not 'a' ~ b
    depth, j = 0, i
    while depth or text[j] not in ",)":
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        j += 1
    return text[i:j].strip(), False


def enum_attributes(app) -> set[str]:
    """Names of the enum columns of every model: `x.<name>.value` is then a known word, not a member's text."""
    return {column.name for table in db.metadata.tables.values() for column in table.columns
            if isinstance(column.type, SqlEnum)}


def untranslatable_calls(text: str, enum_names: set[str]) -> list[str]:
    bad = []
    for match in CALL.finditer(text):
        argument, literal = first_argument(text, match.end())
        enum = ENUM_VALUE.match(argument)
        if literal or (enum and (enum.group(1) in ENUM_METHODS if enum.group(2) else enum.group(1) in enum_names)):
            continue
        bad.append(argument)
    return bad


def test_no_template_translates_anything_but_a_literal_or_a_known_enum_value(app):
    enum_names = enum_attributes(app)
    assert {"status", "unit", "college", "payment_status"} <= enum_names
    found = {str(path.relative_to(TEMPLATES)): calls for path in sorted(TEMPLATES.rglob("*.html"))
             if (calls := untranslatable_calls(path.read_text(encoding="utf-8"), enum_names))}
    assert not found, f"stored text through _() (shown unescaped, %-formatted): {found}"


def test_the_scanner_catches_what_it_should():
    names = {"status", "reason"}
    assert untranslatable_calls("{{ _(job.reason) if job.reason else '' }}", {"status"}) == ["job.reason"]
    assert untranslatable_calls("{{ _(st) }} {{ _(p.note) }}", names) == ["st", "p.note"]
    assert untranslatable_calls("{{ _('Order %(ref)s', ref=o.ref) }} {{ _(\"x\") }} {{ _(o.status.value) }}"
                                " {{ _(d.phase().value) }}", names) == []
    assert untranslatable_calls("{{ _(d.wrong().value) }} {{ _(o.note.value) }}", names) == ["d.wrong().value",
                                                                                              "o.note.value"]
    assert untranslatable_calls("{{ _('a, b') }} {{ _('x' ~ o.note) }} {{ _( 'it\\'s (fine)' ) }}", names) == ["'x'"]


def test_no_inline_script_style_or_event_handler_in_templates():
    # Only an empty <script src="..."></script> of the app's own files (the CSP allows them on the courier's
    # pages alone, marketplace/headers.py SCRIPT_PAGES); never a script's text, a style or a handler inline.
    inline = re.compile(r"<script(?![^>]*\ssrc=\"\{\{ url_for\('static'[^>]*></script>)|<style|\sstyle=|\son[a-z]+=|"
                        r"javascript:", re.I)
    found = {str(p.relative_to(TEMPLATES)): inline.findall(p.read_text(encoding="utf-8"))
             for p in sorted(TEMPLATES.rglob("*.html")) if inline.search(p.read_text(encoding="utf-8"))}
    assert not found, found
    scripts = sorted(p.name for p in Path(PROJECT_ROOT / "static").rglob("*.js"))
    assert scripts == ["courier-sw.js", "courier.js"]   # the offline page's service worker and its registration


def _failed_delivery(reason: str) -> DeliveryJob:
    run, courier, order, _ = _accepted_run()
    for stop in run.stops[:-1]:
        dispatch.mark_picked_up(courier, stop.id)
    dispatch.report_failure(courier, run.stops[-1].id, reason)
    db.session.commit()
    return db.session.query(DeliveryJob).filter_by(order_id=order.id).one()


def test_a_couriers_reason_is_shown_escaped_on_the_board(app, client):
    reason = "<script>alert('board')</script> 50% of the street closed %(x)s"
    job = _failed_delivery(reason)
    assert job.status == JobStatus.FAILED
    login(client, get_admin())
    page = client.get(f"/admin/dispatch?day={job.order.distribution.starts_at.date().isoformat()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;board&#39;)&lt;/script&gt; 50% of the street closed %(x)s" in html
    assert "<script>" not in html


def test_the_planners_own_reasons_are_still_translated(app, client):
    job = _failed_delivery("nobody home")
    job.status, job.reason = JobStatus.UNASSIGNED, REASON_NO_COURIER
    db.session.commit()
    login(client, get_admin())
    client.post("/lang/fr")
    refresh()  # Flask-Babel keeps the locale it computed for the test's app context
    html = client.get(f"/admin/dispatch?day={job.order.distribution.starts_at.date().isoformat()}").get_data(
        as_text=True)
    assert "aucun livreur disponible" in html
