"""E-mail a quote to the customer from the deal's page (``crm.services.quote_mail``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from crm import selectors
from crm.errors import CrmConflict
from crm.services.quote_mail import quote_email
from crm.views.common import require
from crm.views.forms import apply_errors
from suite import policy
from suite.templatetags.troika import person_name
from suite.ui.records import actor_required


class QuoteEmailForm(forms.Form):
    to = forms.CharField(
        label=gettext_lazy("To"), max_length=1000, help_text=gettext_lazy("Separate addresses by commas.")
    )
    cc = forms.CharField(label=gettext_lazy("Cc"), max_length=1000, required=False)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    message = forms.CharField(label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 8}), required=False)


def _initial(quote, user) -> dict:
    opportunity = quote.opportunity
    contact = opportunity.contact
    greeting = quote.contact_name or (contact.name if contact else "") or quote.customer_name
    sender = person_name(user)
    return {
        "to": (contact.email if contact and contact.email else ""),
        "subject": _("Quote %(number)s from %(company)s") % {"number": quote.display_number, "company": quote.company},
        "message": _(
            "Dear %(name)s,\n\nPlease find attached our quote %(number)s (total %(total)s %(currency)s, valid until "
            "%(date)s).\n\nKind regards,\n%(sender)s"
        )
        % {
            "name": greeting,
            "number": quote.display_number,
            "total": f"{quote.total:,.2f}",
            "currency": quote.currency,
            "date": quote.valid_until.isoformat(),
            "sender": sender,
        },
    }


@actor_required
def quote_email_view(request, quote_pk: int):
    """The e-mail form (recipient from the deal's contact, subject and a message filled in); sending marks the
    quote sent and notes it on the deal, or changes nothing and says why."""
    actor = request.actor
    quote = policy.get_visible_or_404(
        actor, selectors.quotes_visible_to(actor).select_related("opportunity__contact", "company"), pk=quote_pk
    )
    require(actor, "send", quote)
    back = reverse("crm:opportunity-detail", args=[quote.opportunity_id])
    if request.method == "POST":
        form = QuoteEmailForm(request.POST)
        if form.is_valid():
            try:
                quote_email(quote=quote, by=request.user, **form.cleaned_data)
            except ValidationError as error:
                apply_errors(form, error)
            except CrmConflict as error:
                form.add_error(None, str(error))
            else:
                messages.success(
                    request,
                    _("Quote %(number)s was e-mailed to %(to)s.")
                    % {"number": quote.display_number, "to": form.cleaned_data["to"]},
                )
                return redirect(back)
    else:
        form = QuoteEmailForm(initial=_initial(quote, request.user))
    return render(
        request,
        "crm/form.html",
        {
            "form": form,
            "kind": "quote-email",
            "title": _("E-mail quote %(number)s") % {"number": quote.display_number},
            "back": back,
            "submit_label": pgettext("an e-mail", "Send"),
        },
    )
