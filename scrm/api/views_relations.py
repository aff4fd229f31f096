"""API of communities, cadences, WeCom channel QR codes and staff handover jobs: thin viewsets over the
services in ``scrm.services.communities``, ``.cadences`` and ``.wecom_relations``."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from scrm import selectors_communities as selectors
from scrm.api import serializers_relations as s
from scrm.models import Cadence, CadenceEnrollment, Community, CommunityPost, ContactWay, HandoverJob
from scrm.services import cadences as cadence_services
from scrm.services import communities as community_services
from scrm.services import wecom_relations
from suite.api.pagination import Pagination
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet


class CommunityFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Community.Status.choices)
    channel = django_filters.NumberFilter(field_name="channel_id")

    class Meta:
        model = Community
        fields = ["status", "channel"]


class CommunityViewSet(TenantModelViewSet):
    """Communities (社群): WeCom customer groups (kept in step by WeCom's ``change_external_chat`` callbacks) and
    groups recorded by hand, with their current member count; ``figures`` and ``members`` per community."""

    queryset = Community.objects.select_related("channel", "owner")
    output_serializer_class = s.CommunitySerializer
    input_serializer_class = s.CommunityInput
    update_input_serializer_class = s.CommunityUpdateInput
    filterset_class = CommunityFilter
    search_fields = ("name",)
    ordering_fields = ("name", "created_at")
    ordering = ("name",)
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    policy_actions = {"figures": "view", "members": "view"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Community.objects.none()
        return selectors.communities_visible_to(self.actor)

    def create_object(self, *, actor, data):
        return community_services.community_create(company=actor.company, **data)

    def update_object(self, *, actor, instance, data):
        return community_services.community_update(community=instance, **data)

    @extend_schema(responses=s.CommunityFiguresSerializer)
    @action(detail=True, methods=["get"])
    def figures(self, request, pk=None):
        """Members now, active members (posted) in 7 / 30 days, posts in 30 days, answer rate of questions,
        joins and leaves per week (8 weeks)."""
        figures = selectors.community_figures(self.get_object())
        return Response(s.CommunityFiguresSerializer(figures).data)

    @extend_schema(responses=s.CommunityMemberSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        """Current members (``?all=1``: also those who left), newest first, paginated."""
        members = selectors.community_members_of(self.get_object(), current=request.query_params.get("all") != "1")
        page = self.paginate_queryset(members)
        return self.get_paginated_response(s.CommunityMemberSerializer(page, many=True).data)


class CommunityPostFilter(django_filters.FilterSet):
    community = django_filters.NumberFilter(field_name="community_id")
    kind = django_filters.ChoiceFilter(choices=CommunityPost.Kind.choices)
    answered = django_filters.BooleanFilter()

    class Meta:
        model = CommunityPost
        fields = ["community", "kind", "answered"]


class CommunityPostViewSet(TenantModelViewSet):
    """Posts, questions and answers in communities. Posting an answer (``parent``) marks the question
    answered."""

    queryset = CommunityPost.objects.select_related("member", "author")
    output_serializer_class = s.CommunityPostSerializer
    input_serializer_class = s.CommunityPostInput
    filterset_class = CommunityPostFilter
    ordering_fields = ("posted_at",)
    ordering = ("-posted_at",)
    http_method_names = ["get", "post", "head", "options"]

    def create_object(self, *, actor, data):
        return community_services.community_post_create(author=actor.user, **data)


class CadenceViewSet(TenantModelViewSet):
    """Follow-up sequences for 留资 leads: steps (task for the owner / push message / wait) with delays; leads
    of ``trigger_source`` are enrolled as they arrive. ``steps`` on update replace the list by position."""

    queryset = Cadence.objects.select_related("channel").prefetch_related("steps")
    output_serializer_class = s.CadenceSerializer
    input_serializer_class = s.CadenceInput
    update_input_serializer_class = s.CadenceUpdateInput
    search_fields = ("name",)
    ordering_fields = ("name", "created_at")
    ordering = ("name",)
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Cadence.objects.none()
        return selectors.cadences_visible_to(self.actor)

    def create_object(self, *, actor, data):
        return cadence_services.cadence_create(company=actor.company, **data)

    def update_object(self, *, actor, instance, data):
        return cadence_services.cadence_update(cadence=instance, **data)


class CadenceEnrollmentFilter(django_filters.FilterSet):
    cadence = django_filters.NumberFilter(field_name="cadence_id")
    status = django_filters.ChoiceFilter(choices=CadenceEnrollment.Status.choices)
    lead = django_filters.NumberFilter(field_name="lead_id")

    class Meta:
        model = CadenceEnrollment
        fields = ["cadence", "status", "lead"]


class CadenceEnrollmentViewSet(TenantReadOnlyViewSet):
    """Leads going through cadences and where they stand; ``stop`` ends one by hand."""

    queryset = CadenceEnrollment.objects.select_related("cadence", "owner", "identity")
    output_serializer_class = s.CadenceEnrollmentSerializer
    filterset_class = CadenceEnrollmentFilter
    ordering_fields = ("created_at", "next_run_at")
    ordering = ("-created_at",)
    policy_actions = {"stop": "stop"}

    @extend_schema(request=None, responses=s.CadenceEnrollmentSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop the enrolment (no more steps run)."""
        enrollment = cadence_services.cadence_enrollment_stop(
            enrollment=self.get_object(), status=CadenceEnrollment.Status.STOPPED, reason=f"stopped by {request.user}"
        )
        return Response(self.output(enrollment))


class ContactWayViewSet(TenantModelViewSet):
    """WeCom channel QR codes (``externalcontact/add_contact_way``). Each new contact added through a code is
    attributed to its channel, campaign and staff member; ``added_count`` counts them."""

    queryset = ContactWay.objects.select_related("channel", "owner")
    output_serializer_class = s.ContactWaySerializer
    input_serializer_class = s.ContactWayInput
    search_fields = ("name", "state")
    ordering_fields = ("created_at", "added_count")
    ordering = ("-created_at",)
    http_method_names = ["get", "post", "head", "options"]

    def create_object(self, *, actor, data):
        return wecom_relations.contact_way_create(**data)


class HandoverItemPagination(Pagination):
    page_size = 100


class HandoverJobViewSet(TenantModelViewSet):
    """Staff handover: a leaving or moving staff member's WeCom customers (``transfer_customer`` /
    ``resigned/transfer_customer``, 100 per call) and groups handed to a successor, results polled with
    ``transfer_result``, and their CRM records reassigned when it completes. Progress counts per job."""

    queryset = HandoverJob.objects.select_related("channel", "from_user", "to_user")
    output_serializer_class = s.HandoverJobSerializer
    input_serializer_class = s.HandoverJobInput
    ordering_fields = ("created_at",)
    ordering = ("-created_at",)
    http_method_names = ["get", "post", "head", "options"]
    policy_actions = {"items": "view", "advance": "advance"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return HandoverJob.objects.none()
        return selectors.handover_jobs_visible_to(self.actor)

    def create_object(self, *, actor, data):
        return wecom_relations.handover_job_create(by=actor.user, **data)

    @extend_schema(responses=s.HandoverItemSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=HandoverItemPagination)
    def items(self, request, pk=None):
        """The job's customers and groups and where each stands (``?status=failed`` …)."""
        items = selectors.handover_items_of(self.get_object(), status=request.query_params.get("status", ""))
        page = self.paginate_queryset(items)
        return self.get_paginated_response(s.HandoverItemSerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: s.HandoverJobSerializer})
    @action(detail=True, methods=["post"])
    def advance(self, request, pk=None):
        """Queue the job to move on now (e.g. to poll the transfer results) instead of at the next beat."""
        from scrm import tasks

        job = self.get_object()
        tasks.handover_job_advance.delay(job.pk)
        return Response(self.output(job), status=status.HTTP_202_ACCEPTED)
