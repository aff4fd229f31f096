"""The inbox pages: the conversation list and one conversation, each with an htmx partial polled every 2 s
so new messages appear without a reload; replies go through ``conversation_reply``."""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm import selectors as crm_selectors
from crm.selectors_finance import customer_credit
from scrm import selectors, selectors_dashboards
from scrm.models import Conversation
from scrm.services.inbox import (
    conversation_lead_request,
    conversation_note_add,
    conversation_reply,
    conversation_ticket_request,
)
from scrm.views.paging import paginate_ids_first
from suite import policy
from suite.templatetags.troika import person_name
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

PAGE_SIZE = 25
THREAD_SIZE = 50


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _inbox_context(request):
    actor = request.actor
    _require(actor, "view", Conversation)
    mine = request.GET.get("mine") == "1"
    status = request.GET.get("status", "open")
    status = status if status in Conversation.Status.values else ""
    conversations = selectors.conversations_visible_to(actor, status=status, mine=mine)
    # the social dashboard's figures link here with their filters (issue #7)
    conversations, drill = selectors_dashboards.conversations_drilled(conversations, actor, request.GET)
    page = paginate_ids_first(request, conversations, PAGE_SIZE)  # a deep page joined every skipped row
    return {"page": page, "mine": mine, "status": status, "statuses": Conversation.Status.choices, "drill": drill}


@actor_required
def inbox(request):
    if opened_with_default := default_view_redirect(request, "scrm:inbox"):
        return opened_with_default
    return render(request, "scrm/inbox.html", _inbox_context(request))


@actor_required
def inbox_rows(request):
    """The polled partial of the conversation list."""
    return render(request, "scrm/_conversation_rows.html", _inbox_context(request))


def _conversation_or_404(actor, pk: int) -> Conversation:
    conversation = selectors.conversations_visible_to(actor).filter(pk=pk).first()
    if conversation is None:
        raise Http404
    return conversation


def _thread(actor, conversation):
    return list(reversed(selectors.messages_visible_to(actor, conversation=conversation)[:THREAD_SIZE]))


@actor_required
def conversation_detail(request, pk: int):
    actor = request.actor
    conversation = _conversation_or_404(actor, pk)
    return render(
        request,
        "scrm/conversation.html",
        {
            "conversation": conversation,
            "thread": _thread(actor, conversation),
            "can_reply": policy.can(actor, "reply", conversation),
            "reply_templates": _reply_templates(actor, policy.can(actor, "reply", conversation)),
            # credit in the conversation (closed loop, flow 12): receivables kept in the CRM from ERP
            "credit": customer_credit(
                actor,
                account_id=conversation.identity.crm_account_id,
                contact_id=conversation.identity.crm_contact_id,
            ),
        },
    )


def _reply_templates(actor, can_reply: bool) -> list:
    """The CRM's reply templates (快捷回复) the agent may insert: the company's shared ones and their own."""
    return list(crm_selectors.reply_templates_visible_to(actor)[:50]) if can_reply else []


@require_GET
@actor_required
def conversation_reply_fill(request, pk: int):
    """The reply box with a reply template's text added to what was typed, filled in for this conversation's
    customer (htmx swaps it in)."""
    actor = request.actor
    conversation = _conversation_or_404(actor, pk)
    _require(actor, "reply", conversation)
    typed = request.GET.get("text", "")[:2000]
    chosen = crm_selectors.reply_templates_visible_to(actor).filter(pk=chosen_id(request.GET.get("template", "")))
    template = chosen.first()
    text = typed
    if template is not None:
        name = str(conversation.identity)
        values = {"customer": name, "contact": name, "agent": person_name(request.user), "company": actor.company.name}
        filled = crm_selectors.reply_filled(template, values)
        text = f"{typed.rstrip()}\n\n{filled}" if typed.strip() else filled
    return render(request, "scrm/_reply_text.html", {"reply_text": text[:2000]})


@actor_required
def conversation_messages(request, pk: int):
    """The polled partial of one conversation's thread."""
    actor = request.actor
    conversation = _conversation_or_404(actor, pk)
    return render(request, "scrm/_messages.html", {"thread": _thread(actor, conversation)})


@require_POST
@actor_required
def conversation_reply_view(request, pk: int):
    actor = request.actor
    conversation = _conversation_or_404(actor, pk)
    _require(actor, "reply", conversation)
    text = request.POST.get("text", "")
    as_note = request.POST.get("as") == "note"
    errors: list[str] = []
    try:
        if as_note:
            conversation_note_add(conversation=conversation, text=text, by=request.user)
        else:
            conversation_reply(conversation=conversation, text=text, by=request.user)
    except ValidationError as exc:
        errors = exc.messages
    if getattr(request, "htmx", False):
        context = {
            "conversation": conversation,
            "thread": _thread(actor, conversation),
            "can_reply": True,
            "reply_templates": _reply_templates(actor, True),
            "reply_errors": errors,
            "reply_text": text if errors else "",
        }
        # 200 either way: htmx 2 swaps no 4xx answer, and the errors are shown next to the field.
        return render(request, "scrm/_conversation_card.html", context)
    for error in errors:
        flash.error(request, error)
    if not errors:
        flash.success(request, _("Note added.") if as_note else _("Reply sent."))
    return redirect("scrm:conversation", pk=conversation.pk)


def _ask_crm(request, pk: int, ask, done: str):
    """Hand a conversation to the CRM through ``ask`` (a service that publishes the request); the refusal or
    ``done`` as a message, back on the conversation."""
    actor = request.actor
    conversation = _conversation_or_404(actor, pk)
    _require(actor, "reply", conversation)
    try:
        ask(conversation=conversation, by=request.user)
    except ValidationError as exc:
        for error in exc.messages:
            flash.error(request, error)
    else:
        flash.success(request, done)
    return redirect("scrm:conversation", pk=conversation.pk)


@require_POST
@actor_required
def conversation_ticket_view(request, pk: int):
    """「转工单」: ask the CRM for a service ticket about this conversation (``conversation_ticket_request``)."""
    return _ask_crm(
        request,
        pk,
        conversation_ticket_request,
        _("A service ticket is being opened in the CRM; it appears under Tickets in a moment."),
    )


@require_POST
@actor_required
def conversation_lead_view(request, pk: int):
    """「转线索」: ask the CRM for a lead of this conversation's person (``conversation_lead_request``)."""
    return _ask_crm(
        request,
        pk,
        conversation_lead_request,
        _("A lead is being made in the CRM, owned by you; it appears under Leads in a moment."),
    )
