"""The base viewsets every app's API builds on.

A ``TenantModelViewSet`` subclass declares:

* ``queryset`` — the base queryset with its ``select_related``/``prefetch_related`` (never filtered by company
  here: ``get_queryset`` always passes it through ``policy.scope(actor, ...)``, so another company's record is a
  404 and never appears in a list);
* ``output_serializer_class`` (an ``OutputSerializer``: sensitive fields vanish per ``policy.hidden_fields``) and
  ``input_serializer_class`` (an ``InputSerializer``: what a client may set) — optionally
  ``update_input_serializer_class`` when an update accepts less than a create;
* ``create_object`` / ``update_object`` / ``delete_object`` — each calls one service function with the
  validated data; the serializer never saves;
* ``filterset_class``, ``search_fields``, ``ordering_fields``, ``ordering`` — only what is declared is allowed;
* optionally ``export_fields`` (with ``ExportMixin``) for ``GET …/export/?format=csv|xlsx``.

The policy action of a request comes from the viewset action (``list``/``retrieve`` → view, ``create`` → add,
``update`` → change, ``destroy`` → delete) or ``policy_actions`` for custom actions; ``PolicyPermission``
answers 403 when the role may not, before any record is read.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_serializer_context
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, PermissionDenied, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from suite import exports, policy
from suite.api.filters import FilterBackend, OrderingFilter, SearchFilter
from suite.api.permissions import PolicyPermission, request_actor

WRITE_ACTIONS = ("create", "update", "partial_update")


class TenantAutoSchema(AutoSchema):
    """Documents writes with the input serializer as the request body and the output serializer as the
    response."""

    def get_operation_id(self):
        """Extra actions are named after their method (``suite_notifications_mark_read``), so a list-level and
        a detail-level action on the same ``url_path`` never collide."""
        name = getattr(self.view, "action", None)
        handler = getattr(self.view, name, None) if name else None
        if handler is None or not hasattr(handler, "mapping"):
            return super().get_operation_id()
        tokens = [token.replace("-", "_") for token in self._tokenize_path()]
        url_tokens = [t.replace("-", "_") for t in handler.url_path.strip("/").split("/") if t and "{" not in t]
        if url_tokens and tokens[-len(url_tokens) :] == url_tokens:
            tokens = tokens[: -len(url_tokens)]
        parts = [*tokens, name]
        if len(handler.mapping) > 1:
            parts.append(self.method.lower())
        return "_".join(parts)

    def get_response_serializers(self):
        view = self.view
        if getattr(view, "action", None) in WRITE_ACTIONS and getattr(view, "output_serializer_class", None):
            return view.output_serializer_class(context=build_serializer_context(view))
        return super().get_response_serializers()


class TenantViewSetMixin:
    queryset = None
    output_serializer_class = None
    input_serializer_class = None
    update_input_serializer_class = None
    permission_classes = [PolicyPermission]
    filter_backends = [FilterBackend, SearchFilter, OrderingFilter]
    filterset_class = None
    search_fields: tuple[str, ...] = ()
    ordering_fields: tuple[str, ...] | dict[str, str] = ()
    ordering: tuple[str, ...] | None = None
    policy_actions: dict[str, str] = {}
    schema = TenantAutoSchema()

    @property
    def actor(self) -> policy.Actor | None:
        return request_actor(self.request)

    def get_queryset(self):
        base = self.queryset.all()
        if getattr(self, "swagger_fake_view", False):
            return base.none()
        return policy.scope(self.actor, base)

    def get_serializer_class(self):
        if self.action == "create" and self.input_serializer_class:
            return self.input_serializer_class
        if self.action in ("update", "partial_update"):
            return self.update_input_serializer_class or self.input_serializer_class
        return self.output_serializer_class

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["actor"] = self.actor if not getattr(self, "swagger_fake_view", False) else None
        return context

    def output(self, instance) -> dict:
        """The representation of ``instance`` for the actor, re-read through the scoped queryset so it carries
        the same joins (and hidden fields) as a ``retrieve``."""
        # .order_by(): the list's ordering (``-updated_at``) is useless for one primary key, and over the joins
        # of a select_related it cost PostgreSQL ~45 ms of *planning* per request on 200k opportunities
        fresh = self.get_queryset().filter(pk=instance.pk).order_by().first() or instance
        return self.output_serializer_class(fresh, context=self.get_serializer_context()).data

    def check_owner_assignment(self, data: dict) -> None:
        """``owner`` may be set only where the serializer declares it writable and the role may ``assign``."""
        if "owner" in data and not policy.can(self.actor, "assign", self.queryset.model):
            raise ValidationError({"owner": [_("Your role may not assign records to someone else.")]})

    # The write path: one service call each. Subclasses implement those their routes allow; the others answer
    # 405 (TenantModelViewSet also leaves their methods out of http_method_names, hence out of the schema).
    def create_object(self, *, actor: policy.Actor, data: dict):
        raise MethodNotAllowed(self.request.method)

    def update_object(self, *, actor: policy.Actor, instance, data: dict):
        raise MethodNotAllowed(self.request.method)

    def delete_object(self, *, actor: policy.Actor, instance) -> None:
        raise MethodNotAllowed(self.request.method)


class TenantReadOnlyViewSet(
    TenantViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """List and retrieve, scoped by the policy."""


class TenantModelViewSet(
    TenantViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """List, retrieve, create, update, delete — every write through a service function.

    A subclass serves the writes whose hook it implements (``update_object`` or its own ``update``;
    ``delete_object`` or its own ``destroy``): the other methods answer 405 and are left out of the OpenAPI
    schema (the default hooks answer 405 too, for a route served by a subclass that implements none).
    """

    _http_methods_from_hooks = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        unserved = set()
        if not _implements(cls, "update_object", "update", "partial_update"):
            unserved |= {"put", "patch"}
        if not _implements(cls, "delete_object", "destroy"):
            unserved.add("delete")
        declared = next(
            vars(klass)["http_method_names"]
            for klass in cls.__mro__
            if "http_method_names" in vars(klass) and "_http_methods_from_hooks" not in vars(klass)
        )
        cls.http_method_names = [method for method in declared if method not in unserved]
        cls._http_methods_from_hooks = True

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_owner_assignment(serializer.validated_data)
        instance = self.create_object(actor=self.actor, data=serializer.validated_data)
        return Response(self.output(instance), status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        self.check_owner_assignment(serializer.validated_data)
        instance = self.update_object(actor=self.actor, instance=instance, data=serializer.validated_data)
        return Response(self.output(instance))

    def partial_update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        self.delete_object(actor=self.actor, instance=instance)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportMixin:
    """``GET …/export/?format=csv|xlsx``: the filtered list as a file, through ``suite.exports`` (same scope,
    same hidden fields as the list)."""

    export_fields: tuple = ()
    export_filename: str = ""

    def perform_content_negotiation(self, request, force=False):
        if getattr(self, "action", None) == "export":
            # ?format= names the file type here, not a DRF renderer; errors still come out as JSON.
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(exports.FORMATS), description="File type (csv)."),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="CSV file"),
            (200, exports.XLSX_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="XLSX file"),
        },
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request, *args, **kwargs):
        """Download the filtered list (only the rows and columns the caller may see)."""
        file_format = request.query_params.get("format", exports.CSV)
        if file_format not in exports.FORMATS:
            raise ValidationError({"format": [_("Choose csv or xlsx.")]})
        if not self.export_fields:
            raise PermissionDenied
        queryset = self.filter_queryset(self.get_queryset())
        name = self.export_filename or self.queryset.model._meta.model_name
        return exports.export_response(self.actor, queryset, self.export_fields, file_format=file_format, filename=name)


def _implements(cls, hook: str, *methods: str) -> bool:
    """Whether ``cls`` implements the write ``hook`` of TenantViewSetMixin or overrides one of TenantModelViewSet's
    ``methods`` that call it."""
    if getattr(cls, hook) is not getattr(TenantViewSetMixin, hook):
        return True
    return any(getattr(cls, method) is not getattr(TenantModelViewSet, method) for method in methods)
