#!/usr/bin/env bash
# Refresh the French and English catalogues from the code, then compile and check them.
#
#   bash scripts/update_translations.sh          # extract, update fr/en, compile, check
#   bash scripts/update_translations.sh --check  # only compile and check (no extraction)
#
# Idempotent and quick (about a second): run it as often as you like. Steps:
#   1. extract every _() / gettext / ngettext / _l() / lazy_gettext from marketplace/**.py and
#      templates/**.html (see babel.cfg; .venv, tests and bench are never scanned) into
#      translations/messages.pot. A run that finds the same messages keeps the old .pot, so
#      nothing changes on disk, not even the creation date.
#   2. add the msgids listed in translations/runtime_messages.txt (values such as order or
#      membership statuses that the code passes to _() at run time, which extraction cannot
#      see) when the code does not already mark them;
#   3. pybabel update (init the first time) for fr and en. No fuzzy matching: a new message
#      starts empty (shown in English) rather than with a guessed, possibly wrong translation,
#      because the install compiles with -f, which would ship fuzzy guesses;
#   4. pybabel compile -f;
#   5. check: a msgstr whose %-placeholders differ from its msgid's makes the script fail
#      (it would crash the page); untranslated or fuzzy French messages are listed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-.venv/bin/python}"
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
DIR=translations
POT="$DIR/messages.pot"
LOCALES="fr en"

if [ "${1:-}" != "--check" ]; then
  new_pot="$(mktemp "${TMPDIR:-/tmp}/messages.XXXXXX.pot")"
  trap 'rm -f "$new_pot"' EXIT
  "$PYBABEL" -q extract -F babel.cfg \
    -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k lazy_pgettext:1c,2 \
    --add-comments=TRANSLATORS: \
    --project=coop-marketplace --copyright-holder="coop-marketplace contributors" \
    -o "$new_pot" .

  "$PYTHON" - "$new_pot" "$DIR/runtime_messages.txt" <<'PY'
"""Add the run-time msgids to the freshly extracted template."""
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

pot_path, list_path = sys.argv[1], Path(sys.argv[2])
if list_path.exists():
    with open(pot_path, "rb") as f:
        catalog = read_po(f)
    comment, added = "runtime status names", 0
    for raw in list_path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("##"):          # "## comment" labels the msgids that follow
            comment = line.lstrip("#").strip()
            continue
        if line.startswith("#"):
            continue
        if line not in catalog:
            catalog.add(line, auto_comments=[comment])
            added += 1
    if added:
        with open(pot_path, "wb") as f:
            write_po(f, catalog, width=76)
PY

  # Keep the previous template when only its POT-Creation-Date would change.
  if [ -f "$POT" ] && cmp -s <(grep -v '^"POT-Creation-Date:' "$POT") <(grep -v '^"POT-Creation-Date:' "$new_pot"); then
    echo "messages.pot: no change"
  else
    cat "$new_pot" > "$POT"
    echo "messages.pot: updated"
  fi

  for lang in $LOCALES; do
    if [ -f "$DIR/$lang/LC_MESSAGES/messages.po" ]; then
      "$PYBABEL" -q update -i "$POT" -d "$DIR" -l "$lang" --no-fuzzy-matching
    else
      "$PYBABEL" -q init -i "$POT" -d "$DIR" -l "$lang"
    fi
  done
fi

compile_rc=0
"$PYBABEL" -q compile -d "$DIR" -f || compile_rc=$?

check_rc=0
"$PYTHON" - "$DIR" <<'PY' || check_rc=$?
"""Fail on a msgstr that would break %-formatting; list French messages still to translate."""
import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

# What Flask-Babel's gettext(msgid, **values) does with a translation is msgstr % values.
NAMED = re.compile(r"%\(([^)]*)\)[#0 +-]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa])")
POSITIONAL = re.compile(r"%[-+]?\d*(?:\.\d+)?[sdifr]")
TOKEN = re.compile(r"%\([^)]*\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%")


def problem(msgid, msgstr):
    """Why msgstr cannot stand in for msgid, or None."""
    if not msgstr or "%" not in msgid + msgstr:
        return None
    names = dict((n, c) for n, c in NAMED.findall(msgid))
    positional = sorted(POSITIONAL.findall(msgid))
    if positional:  # "... %s ..." % value, formatted by the caller
        got = sorted(POSITIONAL.findall(msgstr))
        return None if got == positional else f"placeholders {got} != {positional}"
    if not names and "%%" not in msgid:
        # Not formatted by the code (a literal % as in "Weighing margin (%)"): any text goes,
        # but a named placeholder in the translation would print as is.
        return "placeholder %s not in the msgid" % NAMED.findall(msgstr) if NAMED.search(msgstr) else None
    values = {n: (1.5 if c in "eEfFgG" else 1 if c in "diouxXc" else "x") for n, c in names.items()}
    try:
        msgstr % values
    except (KeyError, ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if sorted(TOKEN.findall(msgid)) != sorted(TOKEN.findall(msgstr)):
        return f"placeholders {sorted(TOKEN.findall(msgstr))} != {sorted(TOKEN.findall(msgid))}"
    return None


root, failed = Path(sys.argv[1]), False
for po_path in sorted(root.glob("*/LC_MESSAGES/messages.po")):
    lang = po_path.parts[-3]
    with open(po_path, "rb") as f:
        catalog = read_po(f)
    todo, fuzzy = [], []
    for msg in catalog:
        if not msg.id:
            continue
        ids = msg.id if isinstance(msg.id, (tuple, list)) else (msg.id,)
        strs = msg.string if isinstance(msg.string, (tuple, list)) else (msg.string,)
        if not all(strs):
            todo.append(ids[0])
        if msg.fuzzy:
            fuzzy.append(ids[0])
        for i, s in enumerate(strs):
            if len(ids) > 1:  # plural: ngettext formats every form with num= and the same values
                why = problem(ids[1], s) if i else problem(ids[1], s) and problem(ids[0], s)
            else:
                why = problem(ids[0], s)
            if why:
                print(f"ERROR {lang} {po_path}: {why} in msgstr for {ids[0]!r}")
                failed = True
    if lang == "en":
        continue  # English falls back to the msgid
    print(f"{lang}: {len(catalog)} messages, {len(todo)} untranslated, {len(fuzzy)} fuzzy")
    for msgid in todo:
        print(f"  untranslated: {msgid!r}")
    for msgid in fuzzy:
        print(f"  fuzzy (check it, then remove the flag): {msgid!r}")
sys.exit(1 if failed else 0)
PY

if [ "$compile_rc" != 0 ] || [ "$check_rc" != 0 ]; then
  echo "translations: errors above (compile exit $compile_rc, check exit $check_rc)" >&2
  exit 1
fi
