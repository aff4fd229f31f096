"""Base serializers: explicit input (what a client may set) and output (what the actor may see).

* ``InputSerializer`` / ``InputModelSerializer`` refuse, when the class is first used, any *writable* field for
  what the server decides: ``id``, ``company``, ``owner``, timestamps, ``status``/``state``, posting marks and
  amounts/totals. A client that sends such keys sees them ignored (they are simply not fields); a developer who
  declares one writable gets ``ImproperlyConfigured`` at once, unless they list it in
  ``Meta.writable_protected`` on purpose (e.g. ``owner`` where managers may reassign records — the viewset then
  also requires the policy action ``assign``).
* ``OutputSerializer`` drops the fields ``policy.hidden_fields`` hides from the actor's role.
* ``ScopedRelatedField`` / ``CompanyUserField``: references in input resolve only to records the actor may see
  (users of the actor's company), so nobody links to another company's records by guessing ids.
"""

from __future__ import annotations

import copy
import re

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from suite import policy
from suite.api.permissions import request_actor

ALWAYS_PROTECTED = frozenset(
    {
        "id",
        "pk",
        "company",
        "company_id",
        "owner",
        "owner_id",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "status",
        "state",
        "posted",
        "posted_at",
        "posted_by",
    }
)
AMOUNT_NAME = re.compile(r"(^|_)(amount|total|balance|subtotal)(_|$)")


def is_protected_name(name: str) -> bool:
    return name in ALWAYS_PROTECTED or bool(AMOUNT_NAME.search(name))


def serializer_actor(serializer: serializers.Field) -> policy.Actor | None:
    """The actor a serializer works for: ``context["actor"]``, else the actor of ``context["request"]``."""
    context = serializer.context
    if "actor" in context:
        return context["actor"]
    request = context.get("request")
    return request_actor(request) if request is not None else None


class ProtectedFieldsMixin:
    def get_fields(self):
        meta = getattr(self, "Meta", None)
        if getattr(meta, "fields", None) == serializers.ALL_FIELDS or getattr(meta, "exclude", None):
            raise ImproperlyConfigured(f"{type(self).__name__}: list the writable fields, never '__all__' or exclude")
        fields = super().get_fields()
        allowed = set(getattr(meta, "writable_protected", ()))
        extra = set(getattr(meta, "protected_fields", ()))
        for name, field in fields.items():
            if field.read_only or name in allowed:
                continue
            source = (field.source or name).split(".")[0]
            if is_protected_name(name) or is_protected_name(source) or name in extra:
                raise ImproperlyConfigured(
                    f"{type(self).__name__}.{name} is set by the server, not by a request; "
                    "declare it read-only, or list it in Meta.writable_protected on purpose"
                )
        return fields


class CachedModelFieldsMixin:
    """``ModelSerializer.get_fields`` built once per serializer class, then copied for each instance.

    DRF rebuilds a model serializer's fields from the model's metadata every time a serializer is instantiated
    — once per request for a list, ~2–10 ms for a serializer of 20–30 fields on this machine class
    (docs/performance.md, "CRM at scale"). The fields depend only on the class (``Meta`` and the declared
    fields), so the unbound fields are kept per class and each instance gets a deep copy (what DRF itself does
    with declared fields). Anything that depends on the request — hidden fields, a subclass's own
    ``get_fields`` — is applied above this mixin, on the copy.
    """

    _fields_prototypes: dict[type, dict] = {}

    def get_fields(self):
        cls = type(self)
        prototype = CachedModelFieldsMixin._fields_prototypes.get(cls)
        if prototype is None:
            prototype = super().get_fields()
            CachedModelFieldsMixin._fields_prototypes[cls] = prototype
        return {name: _fresh(field) for name, field in prototype.items()}


def _fresh(field: serializers.Field) -> serializers.Field:
    """A new unbound field like ``field``: built again from its arguments (shared, never mutated by DRF: it
    copies ``validators`` and pops from its own ``**kwargs``), or deep-copied for nested serializers."""
    if isinstance(field, serializers.BaseSerializer) or "child" in field._kwargs or "child_relation" in field._kwargs:
        # nested serializers and fields holding a child field (many=True relations, ListField, DictField): the
        # child was bound when the prototype was built, so it is rebuilt too (DRF's Field.__deepcopy__ does so)
        return copy.deepcopy(field)
    return field.__class__(*field._args, **field._kwargs)


class InputSerializer(ProtectedFieldsMixin, serializers.Serializer):
    """What a client may send for one write; validated data goes to a service function, never ``save()``."""

    def create(self, validated_data):  # pragma: no cover - writes go through services
        raise NotImplementedError("call a service with serializer.validated_data")

    def update(self, instance, validated_data):  # pragma: no cover
        raise NotImplementedError("call a service with serializer.validated_data")


class InputModelSerializer(ProtectedFieldsMixin, CachedModelFieldsMixin, serializers.ModelSerializer):
    """An input serializer whose fields are derived from the model (validators, choices, lengths)."""

    def create(self, validated_data):  # pragma: no cover - writes go through services
        raise NotImplementedError("call a service with serializer.validated_data")

    def update(self, instance, validated_data):  # pragma: no cover
        raise NotImplementedError("call a service with serializer.validated_data")


class HiddenFieldsMixin:
    """Removes the fields the actor's role must not see (``policy.hidden_fields``) before anything is read."""

    def hidden_field_names(self) -> frozenset[str]:
        meta = getattr(self, "Meta", None)
        model = getattr(meta, "policy_model", None) or getattr(meta, "model", None)
        if model is None:
            return frozenset()
        view = self.context.get("view")
        if getattr(view, "swagger_fake_view", False):
            return frozenset()  # the OpenAPI schema documents every field; data is never produced there
        try:
            return policy.hidden_fields(serializer_actor(self), model)
        except LookupError:
            return frozenset()

    def get_fields(self):
        fields = super().get_fields()
        for name in self.hidden_field_names():
            fields.pop(name, None)
        return fields


class OutputSerializer(HiddenFieldsMixin, CachedModelFieldsMixin, serializers.ModelSerializer):
    """How a record is shown; sensitive fields disappear for roles that may not see them."""

    def get_fields(self):
        meta = getattr(self, "Meta", None)
        if getattr(meta, "fields", None) == serializers.ALL_FIELDS or getattr(meta, "exclude", None):
            raise ImproperlyConfigured(f"{type(self).__name__}: list the fields, never '__all__' or exclude")
        return super().get_fields()


class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key of a record the actor may see (``policy.scope``); others do not exist for them."""

    def __init__(self, model=None, **kwargs):
        if model is not None and not kwargs.get("read_only"):
            kwargs.setdefault("queryset", model._default_manager.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        return policy.scope(serializer_actor(self), super().get_queryset())


class CompanyUserField(serializers.PrimaryKeyRelatedField):
    """The id of a user with an active membership in the actor's company."""

    def __init__(self, **kwargs):
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", get_user_model()._default_manager.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        actor = serializer_actor(self)
        queryset = super().get_queryset()
        if actor is None:
            return queryset.none()
        return queryset.filter(memberships__company_id=actor.company_id, memberships__is_active=True).distinct()


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username
