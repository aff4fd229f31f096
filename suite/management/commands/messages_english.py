"""Fill the English catalogue: English is the source language, so each entry's translation is its msgid.

Run by ``make messages`` after ``makemessages``: new entries get their msgid, and the fuzzy guesses
``makemessages`` copies from similar strings are replaced (they would be wrong). Needs ``polib``
(requirements-dev.txt).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Set every entry of locale/en/LC_MESSAGES/django.po to its own msgid and drop fuzzy marks."

    def handle(self, *args, **options):
        import polib  # a development dependency: only `make messages` needs it

        path = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"
        catalogue = polib.pofile(str(path), wrapwidth=79)
        changed = 0
        for entry in catalogue:
            if entry.obsolete:
                continue
            fuzzy = "fuzzy" in entry.flags
            if entry.msgid_plural:
                wanted = {0: entry.msgid, 1: entry.msgid_plural}
                if entry.msgstr_plural != wanted or fuzzy:
                    entry.msgstr_plural = wanted
                    changed += 1
            elif entry.msgstr != entry.msgid or fuzzy:
                entry.msgstr = entry.msgid
                changed += 1
            if fuzzy:
                entry.flags.remove("fuzzy")
            entry.previous_msgid = entry.previous_msgid_plural = None
        catalogue.save()
        self.stdout.write(f"{path}: {changed} entries set to their msgid")
