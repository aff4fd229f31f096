"""Django admin for service tickets (imported by ``crm.admin``): browse and inspect every ticket model with its
audit history; resolving and closing are admin actions that call the services."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm import models as m
from crm.errors import CrmConflict
from crm.services.tickets import ticket_close, ticket_resolve


def _run(modeladmin, request, queryset, service) -> None:
    from crm.admin import _report

    done, errors = 0, []
    for ticket in queryset.order_by("pk"):
        try:
            service(ticket=ticket, by=request.user)
            done += 1
        except (ValidationError, CrmConflict) as error:
            errors.append(f"#{ticket.number}: {getattr(error, 'message', error)}")
    _report(modeladmin, request, done, errors)


@admin.action(description=_("Resolve (follow-up visit and survey)"))
def resolve_tickets(modeladmin, request, queryset):
    _run(modeladmin, request, queryset, ticket_resolve)


@admin.action(description=_("Close"))
def close_tickets(modeladmin, request, queryset):
    _run(modeladmin, request, queryset, ticket_close)


def _read_only(model, **options):
    from crm.admin import ReadOnlyAdmin

    return admin.register(model)(type(f"{model.__name__}Admin", (ReadOnlyAdmin,), options))


_read_only(
    m.Ticket,
    list_display=("number", "subject", "company", "status", "priority", "assigned_agent", "resolution_due_at"),
    list_filter=("status", "priority", "channel", "escalated", "company"),
    search_fields=("subject", "requester_email"),
    list_select_related=("company", "assigned_agent"),
    actions=[resolve_tickets, close_tickets],
)
_read_only(m.TicketMessage, list_display=("ticket", "kind", "author", "created_at"), list_filter=("kind",))
_read_only(m.TicketCategory, list_display=("name", "name_en", "company", "default_team", "is_active"))
_read_only(m.SlaPolicy, list_display=("company", "priority", "first_response_minutes", "resolution_minutes"))
_read_only(m.CsatSurvey, list_display=("ticket", "score", "submitted_at", "expires_at"), exclude=("token",))
_read_only(m.TicketInboundToken, list_display=("name", "prefix", "company", "is_active", "last_used_at"))
_read_only(  # reply templates (快捷回复): kept on the CRM's Reply templates page, which calls the services
    m.ReplyTemplate,
    list_display=("title", "owner", "category", "usage_count", "last_used_at", "company"),
    list_filter=("company",),
    list_select_related=("company", "owner", "category"),
    search_fields=("title", "body"),
)
