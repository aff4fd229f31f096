"""Search and ordering restricted to what each view declares.

DRF's ``OrderingFilter`` falls back to every serializer field when a view declares nothing; here a view that
declares no ``ordering_fields`` cannot be ordered at all, and an undeclared ``?ordering=`` is a 400, not silently
ignored — a client learns of its typo instead of getting an unsorted page.
"""

from rest_framework import filters
from rest_framework.exceptions import ValidationError


class SearchFilter(filters.SearchFilter):
    pass


class OrderingFilter(filters.OrderingFilter):
    def get_valid_fields(self, queryset, view, context=None):
        declared = getattr(view, "ordering_fields", None) or []
        return [(name, name) for name in declared]

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            requested = [term.strip() for term in params.split(",") if term.strip()]
            allowed = {name for name, _ in self.get_valid_fields(queryset, view)}
            unknown = [term for term in requested if term.lstrip("-") not in allowed]
            if unknown:
                raise ValidationError(
                    {self.ordering_param: [f"Cannot order by {', '.join(unknown)}; allowed: {', '.join(sorted(allowed)) or 'none'}."]}
                )
            return requested
        return self.get_default_ordering(view)
