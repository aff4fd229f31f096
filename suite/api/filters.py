"""Search and ordering restricted to what each view declares.

DRF's ``OrderingFilter`` falls back to every serializer field when a view declares nothing; here a view that
declares no ``ordering_fields`` cannot be ordered at all, and an undeclared ``?ordering=`` is a 400, not silently
ignored — a client learns of its typo instead of getting an unsorted page.

``ordering_fields`` is a list of names, or a dict mapping the public name to the ORM path
(``{"manager": "manager__username"}``). Every ordering ends with the primary key, so pages are stable when the
ordered values repeat.
"""

from functools import lru_cache

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django_filters.filters import QuerySetRequestMixin
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters
from rest_framework.exceptions import ValidationError

from suite import policy
from suite.api.permissions import request_actor

MAX_SEARCH_LENGTH = 200


def hidden_for_view(view, request) -> frozenset[str]:
    """Fields of the view's model the actor may not see: nobody filters, searches or orders by them either
    (``?ordering=salary`` would otherwise reveal who earns most)."""
    model = getattr(view, "policy_model", None) or getattr(getattr(view, "queryset", None), "model", None)
    if model is None:
        return frozenset()
    try:
        return policy.hidden_fields(request_actor(request), model)
    except LookupError:
        return frozenset()


def _touches(path: str, hidden: frozenset[str]) -> bool:
    """Does an ORM path go through a hidden field (``salary``, ``user__email`` when ``email`` is hidden)?"""
    return path in hidden or any(part in hidden for part in path.lstrip("-").split("__"))


def scoped_choices(actor: policy.Actor | None, queryset):
    """The records a filter on a foreign key may name: the actor's visible ones (users: members of the actor's
    company). Otherwise ``?owner=<id>`` would tell "no such user" (400) from "a user of another company" (200)."""
    model = queryset.model
    if model is get_user_model():
        if actor is None:
            return queryset.none()
        return queryset.filter(memberships__company_id=actor.company_id).distinct()
    try:
        return policy.scope(actor, queryset)
    except LookupError:
        return queryset


@lru_cache(maxsize=512)
def _narrowed_filterset_class(filterset_class, names: frozenset[str]):
    """``filterset_class`` with only the filters ``names`` (its other filters are not in the request, so they would
    filter nothing: django-filter skips empty values). Building a filterset deep-copies every declared filter and
    its form every form field: most of django-filter's share of the customer list's profile, for a dozen filters
    (docs/performance.md, "CRM at scale"); the narrowed class copies the one or two a request uses. Cached per
    class and set of names."""
    narrowed = type(filterset_class.__name__, (filterset_class,), {"__module__": filterset_class.__module__})
    narrowed.base_filters = {name: f for name, f in filterset_class.base_filters.items() if name in names}
    return narrowed


def _filters_in_request(filterset_class, params) -> frozenset[str]:
    """The filters a query string names (``name``, or ``name_<suffix>`` of a multi-value widget such as a range)."""
    keys = set(params.keys())
    return frozenset(
        name for name in filterset_class.base_filters if name in keys or any(key.startswith(f"{name}_") for key in keys)
    )


class FilterBackend(DjangoFilterBackend):
    """django-filter, minus the filters on fields hidden from the actor (using one is a 400), with the choices
    of foreign-key filters narrowed to what the actor may see. Only the filters the request names are built."""

    def get_filterset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return None
        kwargs = self.get_filterset_kwargs(request, queryset, view)
        if filterset_class is getattr(view, "filterset_class", None):  # not the class django-filter makes per call
            names = _filters_in_request(filterset_class, kwargs["data"])
            filterset_class = _narrowed_filterset_class(filterset_class, names)
        filterset = filterset_class(**kwargs)
        actor = request_actor(request)
        for declared in filterset.filters.values():
            choices = getattr(declared, "queryset", None)
            if isinstance(declared, QuerySetRequestMixin) and isinstance(choices, QuerySet):
                declared.queryset = scoped_choices(actor, choices)
        hidden = hidden_for_view(view, request)
        if hidden:
            for name, declared in list(filterset.filters.items()):
                if _touches(name, hidden) or _touches(declared.field_name or name, hidden):
                    if name in request.query_params:
                        raise ValidationError({name: [_("Unknown filter.")]})
                    del filterset.filters[name]
        return filterset


def _has_nul(value: str) -> bool:
    return "\x00" in value


class SearchFilter(filters.SearchFilter):
    """``?search=`` over the view's declared ``search_fields``; a term PostgreSQL cannot hold is a 400."""

    def get_search_terms(self, request):
        value = request.query_params.get(self.search_param, "")
        if _has_nul(value) or len(value) > MAX_SEARCH_LENGTH:
            raise ValidationError(
                {
                    self.search_param: [
                        _("Search text must be at most %(max)d characters, without NUL bytes.")
                        % {"max": MAX_SEARCH_LENGTH}
                    ]
                }
            )
        return super().get_search_terms(request)

    def get_search_fields(self, view, request):
        fields = super().get_search_fields(view, request) or ()
        hidden = hidden_for_view(view, request)
        return [field for field in fields if not _touches(field.lstrip("^=@$"), hidden)]


def declared_ordering(view) -> dict[str, str]:
    """The view's ``ordering_fields`` as {public name: ORM path}."""
    declared = getattr(view, "ordering_fields", None) or []
    if isinstance(declared, str):
        raise ImproperlyConfigured(f"{type(view).__name__}.ordering_fields must list names, not {declared!r}")
    if isinstance(declared, dict):
        return dict(declared)
    return {name: name for name in declared}


class OrderingFilter(filters.OrderingFilter):
    def allowed_ordering(self, view, request) -> dict[str, str]:
        hidden = hidden_for_view(view, request) if request is not None else frozenset()
        return {
            name: path
            for name, path in declared_ordering(view).items()
            if not (_touches(name, hidden) or _touches(path, hidden))
        }

    def get_valid_fields(self, queryset, view, context=None):
        request = (context or {}).get("request")
        return [(name, name) for name in self.allowed_ordering(view, request)]

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            requested = [term.strip() for term in params.split(",") if term.strip()]
            allowed = self.allowed_ordering(view, request)
            unknown = [term for term in requested if term.lstrip("-") not in allowed]
            if unknown or not requested:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            _("Cannot order by %(unknown)s; allowed: %(allowed)s.")
                            % {"unknown": ", ".join(unknown) or "''", "allowed": ", ".join(sorted(allowed)) or "-"}
                        ]
                    }
                )
            return requested
        return self.get_default_ordering(view)

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            ordering = list(queryset.query.order_by) or list(queryset.model._meta.ordering or [])
            if not ordering:
                return queryset.order_by("pk")
        mapping = declared_ordering(view)
        paths = []
        for term in ordering:
            if isinstance(term, str):
                descending = term.startswith("-")
                name = term.lstrip("-")
                path = mapping.get(name, name)
                paths.append(f"-{path}" if descending else path)
            else:  # an expression from the view's default ordering
                paths.append(term)
        if not any(isinstance(p, str) and p.lstrip("-") in ("pk", "id") for p in paths):
            paths.append("pk")
        return queryset.order_by(*paths)
