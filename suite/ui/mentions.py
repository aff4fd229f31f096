"""@mentions in the browser: the colleagues an "@" being typed may mean (the note boxes' suggestions), and what a
page says after a note with @mentions was saved (``suite.services.mentions``)."""

from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.utils.translation import gettext as _

from suite.selectors import members_to_mention
from suite.services.mentions import Mentions
from suite.templatetags.troika import person_name
from suite.ui.records import actor_required


def say_mentions(request, mentions: Mentions | None) -> None:
    """One message per outcome: who was told, who may not see the record, which names fit several people."""
    if mentions is None:
        return
    if mentions.told:
        names = "、".join(person_name(person) for person in mentions.told)
        messages.info(request, _("Told %(names)s.") % {"names": names})
    if mentions.cannot_see:
        names = "、".join(person_name(person) for person in mentions.cannot_see)
        messages.warning(request, _("%(names)s may not see this record and were not told.") % {"names": names})
    if mentions.unclear:
        names = "、".join(mentions.unclear)
        messages.warning(
            request, _("%(names)s fits several people: write the username after the @.") % {"names": names}
        )


@actor_required
def suggest(request):
    """The colleagues an "@" being typed may mean (``?q=`` what follows the @), as JSON for the note boxes."""
    return JsonResponse({"people": members_to_mention(request.actor, request.GET.get("q", ""))})
