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
    cp "$new_pot" "$POT"
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

"$PYBABEL" -q compile -d "$DIR" -f

"$PYTHON" - "$DIR" <<'PY'
"""Fail on placeholder mismatches; list French messages still to translate."""
import re
import sys
from pathlib import Path

from babel.messages.pofile import read_po

# %(name)s, %s, %d, %.2f ... and %% (a literal percent sign, which must survive too).
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[a-zA-Z%]")


def placeholders(text):
    return sorted(PLACEHOLDER.findall(text or ""))


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
        # Only a formatted string goes through %: compare when the msgid has a placeholder.
        want = placeholders(ids[-1])
        if not want and "%" not in ids[0]:
            continue
        for i, s in enumerate(strs):
            if not s:
                continue
            expected = placeholders(ids[min(i, len(ids) - 1)])
            got = placeholders(s)
            # msgstr[0] of a plural may leave out the count (e.g. "one item").
            if got != expected and not (len(ids) > 1 and set(got) <= set(expected)):
                print(f"ERROR {lang}: placeholders {got} != {expected} in msgstr for {ids[0]!r}")
                failed = True
    if lang == "en":
        continue  # English falls back to the msgid
    print(f"{lang}: {len(catalog)} messages, {len(todo)} untranslated, {len(fuzzy)} fuzzy")
    for msgid in todo:
        print(f"  untranslated: {msgid!r}")
    for msgid in fuzzy:
        print(f"  fuzzy (check, then remove the flag): {msgid!r}")
sys.exit(1 if failed else 0)
PY
