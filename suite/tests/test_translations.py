"""The catalogues are complete: every zh-Hans and en entry is translated, none is fuzzy, placeholders survive,
and the compiled ``.mo`` files hold what the ``.po`` files say (``make messages`` rebuilds both).

The ``.po`` reader below covers what ``makemessages`` writes (no external dependency for one test file).
"""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
PLACEHOLDER = re.compile(r"%\([a-zA-Z_0-9]+\)[sdif]|%[sdif]|\{[a-zA-Z_0-9]*\}")


def read_po(path: Path) -> list[dict]:
    """Entries of a ``.po`` file as dicts: ``flags``, ``msgctxt``, ``msgid``, ``msgid_plural``, ``msgstr`` (a
    list: one item, or one per plural form). The header entry (empty msgid) is left out."""
    entries, entry, key = [], None, None

    def finish():
        if entry is not None and entry.get("msgid"):
            entries.append(entry)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            continue  # obsolete entries are not used
        if not line:
            finish()
            entry, key = None, None
            continue
        if entry is None:
            entry = {"flags": set(), "msgctxt": "", "msgid": "", "msgid_plural": "", "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if isinstance(key, tuple):
                entry["msgstr"][key[1]] += value
            else:
                entry[key] += value
        else:
            word, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            if word.startswith("msgstr["):
                key = ("msgstr", int(word[7:-1]))
                entry["msgstr"][key[1]] = value
            elif word == "msgstr":
                key = ("msgstr", 0)
                entry["msgstr"][0] = value
            else:
                key = word
                entry[key] = value
    finish()
    for item in entries:
        item["msgstr"] = [item["msgstr"][i] for i in sorted(item["msgstr"])]
    return entries


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_every_entry_is_translated_and_none_is_fuzzy(language):
    entries = read_po(LOCALE_DIR / language / "LC_MESSAGES" / "django.po")
    assert len(entries) > 1000  # the catalogue was read, not an empty file
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    empty = [e["msgid"] for e in entries if not all(e["msgstr"])]
    assert fuzzy == [], f"{len(fuzzy)} fuzzy entries in {language}, e.g. {fuzzy[:5]}"
    assert empty == [], f"{len(empty)} untranslated entries in {language}, e.g. {empty[:5]}"


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_translations_keep_every_placeholder(language):
    broken = []
    for entry in read_po(LOCALE_DIR / language / "LC_MESSAGES" / "django.po"):
        wanted = sorted(PLACEHOLDER.findall(entry["msgid"]))
        for text in entry["msgstr"][:1]:
            if sorted(PLACEHOLDER.findall(text)) != wanted and not entry["msgid_plural"]:
                broken.append((entry["msgid"], text))
    assert broken == [], broken[:5]


@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_the_compiled_catalogue_matches_the_po_file(language):
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    entries = read_po(folder / "django.po")
    with open(folder / "django.mo", "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in entries:
        if entry["msgid_plural"]:
            continue
        key = f"{entry['msgctxt']}\x04{entry['msgid']}" if entry["msgctxt"] else entry["msgid"]
        if compiled._catalog.get(key) != entry["msgstr"][0]:
            stale.append(entry["msgid"])
    assert stale == [], f"{len(stale)} entries differ from django.mo (run `make messages`), e.g. {stale[:5]}"


# The names ``makemessages`` extracts (xgettext's Python keywords plus Django's); a gettext imported under another
# name (``gettext as _g``) hides its strings from the catalogue: they stay English for every reader.
EXTRACTED = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy", "npgettext",
             "npgettext_lazy", "gettext_noop"}  # fmt: skip
TRANSLATION_FUNCTIONS = EXTRACTED - {"_"}


def test_every_gettext_is_imported_under_a_name_makemessages_extracts():
    base = Path(settings.BASE_DIR)
    hidden = []
    for path in base.glob("*/**/*.py"):
        if path.parts[len(base.parts)] in {".venv", "var", "node_modules"}:
            continue
        text = path.read_text(encoding="utf-8")
        if "django.utils.translation import" not in text:
            continue  # most files: no parsing
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                hidden += [
                    f"{path.relative_to(base)}:{node.lineno} {alias.name} as {alias.asname}"
                    for alias in node.names
                    if alias.name in TRANSLATION_FUNCTIONS and alias.asname and alias.asname not in EXTRACTED
                ]
    assert hidden == []
