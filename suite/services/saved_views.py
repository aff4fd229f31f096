"""Saved list views: keep a list's filters under a name, share it, choose the one a list opens with.

Which lists take saved views is declared by the apps (``register_list`` with the list's URL name, from their
``apps.py``); a view of any other list is refused. A view stores the list's query string only, cleaned of the
page number and one-off parameters: opening it runs the list's own filters and the policy layer as usual.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from suite import policy
from suite.models import DefaultView, SavedView
from suite.selectors import saved_views_for

MAX_VIEWS_PER_LIST = 50
# Not part of what a view keeps: the page one was on, an export request, the view marker itself.
ONE_OFF_PARAMS = frozenset({"page", "export", "view", "csrfmiddlewaretoken"})

_lists: set[str] = set()


def register_list(url_name: str) -> None:
    """Let ``url_name`` (a list page, e.g. ``crm:account-list``) keep saved views."""
    _lists.add(url_name)


def registered_lists() -> frozenset[str]:
    return frozenset(_lists)


def same_filters(query: str, other: str) -> bool:
    """Whether two query strings filter a list alike (one-off parameters, empty values and order aside)."""
    return sorted(QueryDict(clean_query(query)).lists()) == sorted(QueryDict(clean_query(other)).lists())


def clean_query(query: str) -> str:
    """The filters of a list's query string, without one-off parameters and empty values, in a stable form."""
    params = QueryDict((query or "").lstrip("?"))
    kept = [
        (key, value.strip())
        for key, values in params.lists()
        if key not in ONE_OFF_PARAMS
        for value in values
        if value.strip()
    ]
    return urlencode(kept)


def saved_view_create(
    *, actor: policy.Actor, list_key: str, name: str, query: str, shared: bool = False, make_default: bool = False
) -> SavedView:
    """Save ``query`` (the list's filters, search and sort) as the actor's view ``name`` of ``list_key``.

    Refused with a field error: an unknown list, an empty or taken name (per person and list), filters longer than
    1,000 characters, more than 50 views of one list, sharing by someone who may not share (admins and managers
    may). ``make_default`` also makes it the view the actor's list opens with. No locks. Publishes nothing.
    """
    if list_key not in _lists:
        raise ValidationError({"list_key": _("This list cannot keep saved views.")})
    if not policy.can(actor, "add", SavedView):
        raise PermissionDenied(_("You may not save views."))
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": _("Give the view a name.")})
    if len(name) > SavedView._meta.get_field("name").max_length:
        raise ValidationError({"name": _("At most 80 characters.")})
    query = clean_query(query)
    if len(query) > SavedView._meta.get_field("query").max_length:
        raise ValidationError({"query": _("These filters are too long to keep; use fewer of them.")})
    if shared and not policy.can(actor, "share", SavedView):
        raise ValidationError({"shared": _("Only administrators and managers share views with the company.")})
    mine = SavedView.objects.filter(company_id=actor.company_id, owner=actor.user, list_key=list_key)
    if mine.count() >= MAX_VIEWS_PER_LIST:
        raise ValidationError(
            {"name": _("You keep %(max)d views of this list already; delete one first.") % {"max": MAX_VIEWS_PER_LIST}}
        )
    view = SavedView(
        company_id=actor.company_id, owner=actor.user, list_key=list_key, name=name, query=query, shared=shared
    )
    try:
        with transaction.atomic():
            view.save()
            if make_default:
                default_view_set(actor=actor, list_key=list_key, view=view)
    except IntegrityError:
        raise ValidationError({"name": _("You already have a view of this name.")}) from None
    return view


@transaction.atomic
def saved_view_delete(*, actor: policy.Actor, view: SavedView) -> None:
    """Delete one's own view, or, as a company admin, a view shared with the company. Whoever had it as their
    default opens the list unfiltered again. A view one cannot see does not exist for them (``SavedView.DoesNotExist``);
    a colleague's shared view is refused (``PermissionDenied``). No locks. Publishes nothing."""
    view = saved_views_for(actor, view.list_key).get(pk=view.pk)
    if not may_change(actor, view):
        raise PermissionDenied(_("Only its owner or an administrator deletes a shared view."))
    view.delete()


def may_change(actor: policy.Actor, view: SavedView) -> bool:
    """Whether ``actor`` may change or delete ``view`` (one they can see): their own, or a shared one if the policy
    lets them (``manage_shared``: administrators). No query."""
    return view.owner_id == actor.user.pk or (view.shared and policy.can(actor, "manage_shared", SavedView))


def saved_view_update(*, actor: policy.Actor, view: SavedView, query: str) -> SavedView:
    """Keep ``query`` as ``view``'s filters (after one changed them on the list): the owner's own view, or a shared
    one as an administrator (``may_change``). A view one cannot see does not exist for them
    (``SavedView.DoesNotExist``); someone else's is refused (``PermissionDenied``); filters longer than 1,000
    characters are a field error. No locks (the last save wins, as with any preference). Publishes nothing."""
    view = saved_views_for(actor, view.list_key).get(pk=view.pk)
    if not may_change(actor, view):
        raise PermissionDenied(_("Only its owner or an administrator changes a shared view."))
    query = clean_query(query)
    if len(query) > SavedView._meta.get_field("query").max_length:
        raise ValidationError({"query": _("These filters are too long to keep; use fewer of them.")})
    view.query = query
    view.save(update_fields=["query"])
    return view


@transaction.atomic
def default_view_set(*, actor: policy.Actor, list_key: str, view: SavedView | None) -> DefaultView | None:
    """Make ``view`` (one the actor may open, of ``list_key``) the one the actor's list opens with; ``None``: the
    list opens unfiltered. Upsert on (person, company, list). No locks. Publishes nothing."""
    if list_key not in _lists:
        raise ValidationError({"list_key": _("This list cannot keep saved views.")})
    if view is None:
        DefaultView.objects.filter(company_id=actor.company_id, user=actor.user, list_key=list_key).delete()
        return None
    if not saved_views_for(actor, list_key).filter(pk=view.pk).exists():
        raise ValidationError({"view": _("No such view of this list.")})
    default, _created = DefaultView.objects.update_or_create(
        company_id=actor.company_id, user=actor.user, list_key=list_key, defaults={"view": view}
    )
    return default
