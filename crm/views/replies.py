"""Reply templates (快捷回复) in the browser: the list of the company's shared replies and one's own, with a form
to add or change one, and the ticket page's "Insert a reply…" — the template's text, filled in for the ticket,
added to what the agent has typed (htmx). Writes go through ``crm.services.replies``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from crm import selectors
from crm.models import ReplyTemplate, Ticket
from crm.services import replies as reply_services
from crm.views.common import refusal_message, require
from crm.views.forms import apply_errors
from suite import policy
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required


class ReplyTemplateForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=100)
    body = forms.CharField(
        label=gettext_lazy("Text"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy("{customer}, {contact}, {agent}, {ticket} and {company} are filled in when it is used."),
    )
    category = forms.ModelChoiceField(
        label=gettext_lazy("Ticket category"), queryset=None, required=False, empty_label=gettext_lazy("Any")
    )
    shared = forms.BooleanField(label=gettext_lazy("Shared with the company"), required=False)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = selectors.ticket_categories_visible_to(actor).filter(is_active=True)
        if not policy.can(actor, "share", ReplyTemplate):
            del self.fields["shared"]


@actor_required
def reply_template_list(request):
    actor = request.actor
    require(actor, "view", ReplyTemplate)
    editing = None
    if chosen_id(request.GET.get("edit", "")) is not None:
        editing = selectors.reply_templates_visible_to(actor).filter(pk=chosen_id(request.GET["edit"])).first()
    initial = (
        {"title": editing.title, "body": editing.body, "category": editing.category_id, "shared": editing.shared}
        if editing
        else {}
    )
    form = ReplyTemplateForm(request.POST or None, actor=actor, initial=initial)
    if request.method == "POST":
        require(actor, "change" if editing else "add", ReplyTemplate)
        if form.is_valid():
            data = dict(form.cleaned_data)
            shared = data.pop("shared", False)
            try:
                if editing:
                    reply_services.reply_template_update(template=editing, actor=actor, **data)
                else:
                    reply_services.reply_template_create(company=actor.company, actor=actor, shared=shared, **data)
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("The reply template was saved."))
                return redirect("crm:reply-templates")
    templates = list(selectors.reply_templates_visible_to(actor))
    can_share = policy.can(actor, "share", ReplyTemplate)
    for template in templates:
        template.may_keep = template.owner_id == actor.user.pk or (template.shared and can_share)
    context = {
        "templates": templates,
        "form": form,
        "editing": editing,
        "can_add": policy.can(actor, "add", ReplyTemplate),
    }
    return render(request, "crm/reply_templates.html", context)


@require_POST
@actor_required
def reply_template_delete(request, pk: int):
    actor = request.actor
    template = policy.get_visible_or_404(actor, selectors.reply_templates_visible_to(actor), pk=pk)
    require(actor, "delete", template)
    try:
        reply_services.reply_template_delete(template=template, actor=actor)
        messages.success(request, _("%(name)s was removed.") % {"name": template.title})
    except ValidationError as error:
        messages.error(request, refusal_message(error))
    return redirect("crm:reply-templates")


@require_GET
@actor_required
def ticket_reply_fill(request, pk: int):
    """The reply box of a ticket with a template's text added to what was typed (``body``), filled in for the
    ticket: the ticket page swaps it in (htmx)."""
    actor = request.actor
    ticket = policy.get_visible_or_404(actor, selectors.tickets_visible_to(actor), pk=pk)
    require(actor, "reply", Ticket)
    typed = request.GET.get("body", "")[:50000]
    template = selectors.reply_templates_visible_to(actor).filter(pk=chosen_id(request.GET.get("template", ""))).first()
    text = typed
    if template is not None:
        filled = reply_services.reply_text(template=template, ticket=ticket, by=actor.user)
        text = f"{typed.rstrip()}\n\n{filled}" if typed.strip() else filled
    return render(request, "crm/_reply_box.html", {"text": text})
