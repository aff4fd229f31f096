"""E-mail a customer from a contact's, an account's, a lead's or a deal's page (``crm.services.customer_mail``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_GET

from crm import selectors
from crm.models import Account, Activity, Contact, Lead, Opportunity
from crm.services.customer_mail import address_of, customer_email
from crm.services.mail import MailRefused
from crm.services.replies import reply_text_for
from crm.views.activities import linked_record, record_url
from crm.views.common import require
from crm.views.forms import apply_errors
from suite.templatetags.troika import person_name
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required


class CustomerEmailForm(forms.Form):
    to = forms.CharField(
        label=gettext_lazy("To"), max_length=1000, help_text=gettext_lazy("Separate addresses by commas.")
    )
    cc = forms.CharField(label=gettext_lazy("Cc"), max_length=1000, required=False)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=200)
    template = forms.TypedChoiceField(
        label=gettext_lazy("Insert a reply"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=gettext_lazy("Added to the message, filled in for this customer."),
    )
    message = forms.CharField(label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 10}))

    def __init__(self, *args, templates=(), fill_url: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["template"]
        if not templates:
            del self.fields["template"]
            return
        field.choices = [("", _("Choose…")), *((template.pk, template.title) for template in templates)]
        field.widget.attrs.update(
            {
                "hx-get": fill_url,
                "hx-include": "#id_message",
                "hx-target": "#id_message",
                "hx-swap": "outerHTML",
                "hx-trigger": "change",
                "data-testid": "email-template",
            }
        )


def _greeting_name(record) -> str:
    if isinstance(record, Contact | Lead):
        return record.name
    if isinstance(record, Opportunity) and record.contact_id:
        return record.contact.name
    if isinstance(record, Opportunity) and record.account_id:
        return record.account.name
    return record.name if isinstance(record, Account) else ""


BODY_GAP = "\n\n\n\n"  # the empty lines between the greeting and the signature of a new e-mail


def _initial(record, user) -> dict:
    sender = person_name(user)
    subject = record.name if isinstance(record, Opportunity) else ""
    message = _("Dear %(name)s,\n\n\n\nKind regards,\n%(sender)s") % {
        "name": _greeting_name(record),
        "sender": sender,
    }
    return {"to": address_of(record), "subject": subject, "message": message}


@actor_required
def customer_email_view(request):
    """The e-mail form for the record of ``?contact=`` / ``?account=`` / ``?lead=`` / ``?opportunity=`` (the
    person's address and a greeting filled in); sending logs the e-mail on the record, or changes nothing and
    says why."""
    actor = request.actor
    require(actor, "add", Activity)
    name, record = linked_record(actor, request)
    back = record_url(name, record)
    options = {
        "templates": list(selectors.reply_templates_visible_to(actor)),
        "fill_url": f"{reverse('crm:customer-email-fill')}?{name}={record.pk}",
    }
    if request.method == "POST":
        form = CustomerEmailForm(request.POST, **options)
        if form.is_valid():
            fields = {key: value for key, value in form.cleaned_data.items() if key != "template"}
            try:
                customer_email(company=actor.company, by=request.user, record=record, **fields)
            except ValidationError as error:
                apply_errors(form, error)
            except MailRefused as error:
                form.add_error(None, str(error.message))
            else:
                messages.success(request, _("E-mail sent to %(to)s.") % {"to": form.cleaned_data["to"]})
                return redirect(back)
    else:
        form = CustomerEmailForm(initial=_initial(record, request.user), **options)
    return render(
        request,
        "crm/form.html",
        {
            "form": form,
            "kind": "customer-email",
            "title": _("E-mail about %(record)s") % {"record": record},
            "back": back,
            "hidden": {name: record.pk},
            "submit_label": pgettext("an e-mail", "Send"),
        },
    )


@require_GET
@actor_required
def customer_email_fill(request):
    """The message box with a reply template's text added to what was typed (``message``), filled in for the
    record (``?contact=`` …): the e-mail form swaps it in (htmx). The use of the template is counted."""
    actor = request.actor
    require(actor, "add", Activity)
    _name, record = linked_record(actor, request)
    typed = request.GET.get("message", "")[:10_000].replace("\r\n", "\n")  # a form sends CRLF line breaks
    chosen = chosen_id(request.GET.get("template", ""))
    template = selectors.reply_templates_visible_to(actor).filter(pk=chosen).first() if chosen else None
    text = typed
    if template is not None:
        filled = reply_text_for(template=template, record=record, by=actor.user)
        if BODY_GAP in typed:  # the greeting's empty lines, where the text goes, before the signature
            text = typed.replace(BODY_GAP, f"\n\n{filled}\n\n", 1)
        else:
            text = f"{typed.rstrip()}\n\n{filled}" if typed.strip() else filled
    form = CustomerEmailForm(initial={"message": text})
    return HttpResponse(str(form["message"]))
