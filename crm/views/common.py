"""What every CRM page needs: the policy check, pagination, whitelisted sorting, service errors on forms."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from crm.errors import CrmConflict
from suite import policy
from suite.api.counting import CachedCountPaginator

PAGE_SIZE = 25


def require(actor, action: str, target) -> None:
    """403 unless the actor may take ``action`` on the model (or record)."""
    if not policy.can(actor, action, target):
        raise PermissionDenied


def paginate(request, queryset, *, size: int = PAGE_SIZE, count: int | None = None, count_models=()) -> Page:
    """The requested page of ``queryset``; ``count``, when the caller already knows how many rows it has (the
    activity list's state counts), spares the paginator its own ``COUNT(*)``. With ``count_models`` (every model
    whose rows the list's filters read) the count is remembered until one of their tables changes
    (``suite.api.counting``, as the API lists do): 140 ms for 300k contacts, for every page and every reload."""
    paginator = (
        Paginator(queryset, size)
        if not count_models
        else CachedCountPaginator(queryset, size, count_models=count_models)
    )
    if count is not None:
        paginator.__dict__["count"] = count  # Paginator.count is a cached_property
    return paginator.get_page(request.GET.get("page"))


def sorted_by(request, queryset: QuerySet, allowed: dict[str, str], default: str) -> tuple[QuerySet, str]:
    """``queryset`` ordered by ``?sort=`` when it names one of ``allowed`` (``{"name": "name"}``, ``-`` for
    descending), else by ``default``; unknown keys are ignored, never passed to the database."""
    key = request.GET.get("sort", "")
    field = allowed.get(key.lstrip("-"))
    if field is None:
        return queryset.order_by(default, "-pk"), ""
    return queryset.order_by(f"-{field}" if key.startswith("-") else field, "-pk"), key


def conflict_message(request, error: CrmConflict) -> None:
    messages.error(request, str(error.message))


def is_htmx(request) -> bool:
    return bool(getattr(request, "htmx", False))


def refusal_message(error) -> str:
    """What a service's refusal says, for a message on the page: a ``CrmConflict``'s message or a
    ``ValidationError``'s messages."""
    return str(error.message) if isinstance(error, CrmConflict) else " ".join(error.messages)
