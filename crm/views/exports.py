"""Export of the CRM lists (accounts, contacts, leads, opportunities, activities, tickets, quotes, campaigns) as CSV
or XLSX.

A list view, when asked with ``?export=csv`` or ``?export=xlsx``, hands its filtered, sorted queryset here:
``suite.exports`` then applies the policy layer again (the "export" permission, the actor's scope, hidden
fields), so a salesperson's file holds their own records only, exactly what the list showed them.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from crm.views.common import require
from suite import exports, policy
from suite.ui.records import actor_required

_CUSTOMER = [
    "id",
    "name",
    "name_en",
    "phone",
    "email",
    "wechat_id",
    "province",
    "city",
    "district",
    "address",
    "source",
    "lifecycle_stage",
    "credit_limit",
    ("owner__username", _("owner")),
    ("team__name", _("team")),
    "created_at",
    "updated_at",
]
EXPORT_FIELDS: dict[str, list] = {
    "account": [
        *_CUSTOMER[:11],
        "industry",
        "size",
        "website",
        "tax_id",
        ("parent__name", _("parent account")),
        *_CUSTOMER[11:],
    ],
    "contact": [
        *_CUSTOMER[:2],
        ("account__name", _("account")),
        "title",
        "department",
        "gender",
        *_CUSTOMER[2:],
    ],
    "lead": [
        "id",
        "name",
        "company_name",
        "title",
        "phone",
        "email",
        "wechat_id",
        "province",
        "city",
        "industry",
        "source",
        "status",
        "score",
        ("owner__username", _("owner")),
        "created_at",
    ],
    "opportunity": [
        "id",
        "name",
        ("account__name", _("account")),
        ("contact__name", _("contact")),
        ("stage__name", _("stage")),
        "status",
        "amount",
        "currency",
        "expected_close_date",
        "closed_at",
        ("owner__username", _("owner")),
        ("team__name", _("team")),
        "created_at",
    ],
    "activity": [
        "id",
        "kind",
        "subject",
        "due_at",
        "done_at",
        "outcome",
        ("account__name", _("account")),
        ("contact__name", _("contact")),
        ("lead__name", _("lead")),
        ("opportunity__name", _("opportunity")),
        ("ticket__number", _("ticket")),
        ("owner__username", _("owner")),
        ("team__name", _("team")),
        "created_at",
    ],
    "ticket": [
        "number",
        "subject",
        ("account__name", _("account")),
        ("contact__name", _("contact")),
        "requester_name",
        "requester_email",
        "channel",
        ("category__name", _("category")),
        "priority",
        "status",
        ("assigned_agent__username", _("agent")),
        "first_response_due_at",
        "resolution_due_at",
        "resolved_at",
        "created_at",
    ],
    "quote": [
        "number",
        "version",
        ("opportunity__name", _("opportunity")),
        "customer_name",
        "contact_name",
        "state",
        "currency",
        "subtotal",
        "tax_total",
        "total",
        "valid_until",
        "sent_at",
        "decided_at",
        ("opportunity__owner__username", _("owner")),
        ("opportunity__team__name", _("team")),
        "created_at",
    ],
    "campaign": [
        "code",
        "name",
        "name_en",
        "channel",
        "status",
        "budget",
        "currency",
        "start_date",
        "end_date",
        ("owner__username", _("owner")),
        ("team__name", _("team")),
        "created_at",
    ],
}
FILE_NAMES = {
    "account": "accounts",
    "contact": "contacts",
    "lead": "leads",
    "opportunity": "opportunities",
    "activity": "activities",
    "ticket": "tickets",
    "quote": "quotes",
    "campaign": "campaigns",
}


def export_requested(request) -> str | None:
    """``csv`` / ``xlsx`` when the list was asked for a file, else ``None``."""
    value = request.GET.get("export", "")
    return value if value in exports.FORMATS else None


def export_list(request, queryset, kind: str):
    """The list's rows as a download (the "export" permission and the scope are checked by suite.exports)."""
    if not policy.can(request.actor, "export", queryset.model):
        raise PermissionDenied
    return exports.export_response(
        request.actor,
        queryset.prefetch_related(None),
        EXPORT_FIELDS[kind],
        file_format=export_requested(request),
        filename=FILE_NAMES[kind],
    )


@actor_required
def activity_export(request):
    """Activities as a file, filtered and sorted exactly as the activity list shows them (its query string:
    ``q``, ``kind``, ``state``, ``owner``, ``team``, ``record``, ``due_from``, ``due_to``, ``sort``; ``status`` is
    the older name of ``state``). Without a state, every activity; without ``export``, CSV."""
    from crm.models import Activity
    from crm.views.activities import activity_rows

    require(request.actor, "view", Activity)
    activities, _filters, _sort = activity_rows(request, default_state="all")
    if export_requested(request) is None:
        request.GET = request.GET.copy()
        request.GET["export"] = exports.CSV
    return export_list(request, activities, "activity")
