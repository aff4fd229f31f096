"""The import part of the CRM API: ``/api/v1/crm/imports/``.

``POST`` (multipart) a CSV/XLSX ``file`` with the ``target`` (account / contact / lead), optionally the column
``mapping`` (a JSON list, one field or "" per column; guessed from the headers when left out) and the
``duplicate_policy`` (skip / update / create); the job is queued at once unless ``start`` is false (then
``POST …/{id}/start/`` with the mapping, after ``POST …/{id}/preview/``). ``GET …/{id}/`` reports status,
counts and progress, ``GET …/{id}/errors/`` the per-row report, ``POST …/{id}/resume/`` continues a failed job.
"""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from crm import selectors
from crm.api.views import CrmViewSetMixin
from crm.models import DuplicatePolicy, ImportJob, ImportRowIssue, ImportTarget
from crm.services import imports as import_services
from suite import policy
from suite.api.serializers import InputSerializer, OutputSerializer, UserSummarySerializer
from suite.api.viewsets import TenantModelViewSet


class MappingField(serializers.ListField):
    """A JSON list of field names; in multipart forms it may come as one JSON string."""

    child = serializers.CharField(allow_blank=True, max_length=100)

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) == 1 and isinstance(data[0], str) and data[0].startswith("["):
            data = data[0]
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("not_a_list", input_type="text")
        return super().to_internal_value(data)

    def get_value(self, dictionary):
        if hasattr(dictionary, "getlist") and self.field_name in dictionary:
            values = dictionary.getlist(self.field_name)
            return values[0] if len(values) == 1 else values
        return super().get_value(dictionary)


class ImportJobSerializer(OutputSerializer):
    owner = UserSummarySerializer(read_only=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "target",
            "original_name",
            "file_format",
            "encoding",
            "headers",
            "mapping",
            "duplicate_policy",
            "status",
            "rows_total",
            "rows_done",
            "percent",
            "created_count",
            "updated_count",
            "skipped_count",
            "error_count",
            "failure",
            "owner",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportJobInput(InputSerializer):
    file = serializers.FileField()
    target = serializers.ChoiceField(choices=ImportTarget.choices)
    mapping = MappingField(required=False)
    duplicate_policy = serializers.ChoiceField(choices=DuplicatePolicy.choices, default=DuplicatePolicy.SKIP)
    start = serializers.BooleanField(default=True)


class ImportStartInput(InputSerializer):
    mapping = MappingField(required=False)
    duplicate_policy = serializers.ChoiceField(choices=DuplicatePolicy.choices, default=DuplicatePolicy.SKIP)


class ImportPreviewInput(InputSerializer):
    mapping = MappingField(required=False)


class PreviewCellSerializer(serializers.Serializer):
    value = serializers.CharField()
    field = serializers.CharField()
    error = serializers.CharField()


class PreviewRowSerializer(serializers.Serializer):
    row_number = serializers.IntegerField()
    cells = PreviewCellSerializer(many=True)
    errors = serializers.ListField(child=serializers.CharField())
    duplicate = serializers.CharField()


class ImportRowIssueSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportRowIssue
        fields = ["row_number", "column", "kind", "message"]
        read_only_fields = fields


class ImportJobViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Imports of accounts, contacts or leads from CSV (UTF-8, UTF-8 with BOM, GB18030) or XLSX files, run in
    the background. Needs the "import" permission on the target (admins, managers, marketing)."""

    queryset = ImportJob.objects.all()
    output_serializer_class = ImportJobSerializer
    input_serializer_class = ImportJobInput
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    ordering = ("-created_at",)
    ordering_fields = ("created_at",)
    http_method_names = ["get", "post", "head", "options"]
    policy_actions = {"start": "change", "resume": "change", "preview": "view", "errors": "view"}

    def select(self, actor):
        return selectors.import_jobs_visible_to(actor)

    def create(self, request, *args, **kwargs):
        serializer = ImportJobInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not policy.can(self.actor, "import", import_services.TARGET_MODELS[data["target"]]):
            raise PermissionDenied
        with transaction.atomic():  # a mapping refused at the start leaves no draft behind
            job = import_services.import_job_create(
                company=self.actor.company, by=self.actor.user, target=data["target"], upload=data["file"]
            )
            if data["start"]:
                try:
                    job = import_services.import_job_start(
                        job=job,
                        by=self.actor.user,
                        mapping=data.get("mapping", job.mapping),
                        duplicate_policy=data["duplicate_policy"],
                    )
                except Exception:
                    job.file.delete(save=False)
                    raise
        return Response(self.output(job), status=status.HTTP_201_CREATED)

    @extend_schema(request=ImportStartInput, responses=ImportJobSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start a draft import with the mapping and the duplicate policy."""
        job = self.get_object()
        serializer = ImportStartInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = import_services.import_job_start(
            job=job,
            by=request.user,
            mapping=data.get("mapping", job.mapping),
            duplicate_policy=data["duplicate_policy"],
        )
        return Response(self.output(job))

    @extend_schema(request=ImportPreviewInput, responses=PreviewRowSerializer(many=True))
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def preview(self, request, pk=None):
        """The first rows as they would be imported with ``mapping``: each cell with its error, and duplicates."""
        job = self.get_object()
        serializer = ImportPreviewInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        rows = import_services.import_preview(job, mapping=serializer.validated_data.get("mapping"))
        return Response(PreviewRowSerializer(rows, many=True).data)

    @extend_schema(request=None, responses=ImportJobSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Continue a failed (or stalled) import after its last committed chunk."""
        job = import_services.import_job_resume(job=self.get_object(), by=request.user)
        return Response(self.output(job))

    @extend_schema(responses=ImportRowIssueSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def errors(self, request, pk=None):
        """The per-row report: row number (the header is row 1), column, kind (error / skipped), message."""
        job = self.get_object()
        page = self.paginate_queryset(selectors.import_issues_of(job))
        return self.get_paginated_response(ImportRowIssueSerializer(page, many=True).data)
