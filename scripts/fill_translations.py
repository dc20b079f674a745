"""Fill French msgstr in every catalogue from a JSON file {msgid: msgstr}; then run
`django-admin compilemessages`. Usage: python scripts/fill_translations.py fr.json"""

import glob
import json
import sys

import polib

with open(sys.argv[1]) as translations_file:
    tr = json.load(translations_file)
for path in glob.glob("**/locale/fr/LC_MESSAGES/django.po", recursive=True) + [
    "locale/fr/LC_MESSAGES/django.po"
]:
    if ".venv" in path:
        continue
    po = polib.pofile(path)
    changed = 0
    for e in po:
        if e.msgid in tr and (not e.msgstr or "fuzzy" in e.flags):
            e.msgstr = tr[e.msgid]
            changed += 1
            if "fuzzy" in e.flags:
                e.flags.remove("fuzzy")
        if e.msgid_plural and e.msgid in tr and isinstance(tr[e.msgid], list):
            e.msgstr_plural = {i: v for i, v in enumerate(tr[e.msgid])}
    po.metadata["Language"] = "fr"
    po.metadata["Plural-Forms"] = "nplurals=2; plural=(n > 1);"
    po.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    po.save()
    missing = [e.msgid for e in po if not e.msgstr and not e.msgstr_plural.get(0) and e.msgid]
    print(path, "filled", changed, "missing", len(missing), missing[:40])
