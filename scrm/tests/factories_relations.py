"""Factories of communities, cadences, channel QR codes and handover jobs (tenant-isolation test included)."""

from __future__ import annotations

import itertools

from django.utils import timezone

from scrm.models import Cadence, CadenceEnrollment, Community, CommunityPost, ContactWay, HandoverJob
from scrm.services.cadences import cadence_create, cadence_enroll
from scrm.services.communities import community_create, community_post_create
from scrm.tests.factories import make_channel
from suite.models import Company, Role
from suite.testing import make_member, tenant_factory

_seq = itertools.count(1)


def make_community(company: Company, **fields) -> Community:
    return community_create(company=company, name=fields.pop("name", f"社群 {next(_seq)}"), **fields)


def make_cadence(company: Company, **fields) -> Cadence:
    steps = fields.pop("steps", [{"kind": "task", "delay_minutes": 0, "subject": "回访 {name}"}])
    return cadence_create(company=company, name=fields.pop("name", f"跟进 {next(_seq)}"), steps=steps, **fields)


def make_enrollment(company: Company, **fields) -> CadenceEnrollment:
    cadence = fields.pop("cadence", None) or make_cadence(company)
    enrollment, _created = cadence_enroll(cadence=cadence, lead_id=fields.pop("lead_id", next(_seq)), **fields)
    return enrollment


def make_contact_way(company: Company, **fields) -> ContactWay:
    """A stored code (no WeCom call: the service's API path is tested against the fake server)."""
    channel = fields.pop("channel", None) or make_channel(company, "wecom")
    n = next(_seq)
    return ContactWay.objects.create(
        company=company, channel=channel, name=f"门店码 {n}", state=f"store-{n}", staff_ids=["lisi"], **fields
    )


def make_handover_job(company: Company, **fields) -> HandoverJob:
    channel = fields.pop("channel", None) or make_channel(company, "wecom")
    from_user = make_member(company, Role.SALES).user
    to_user = make_member(company, Role.SALES).user
    return HandoverJob.objects.create(
        company=company,
        channel=channel,
        kind=HandoverJob.Kind.RESIGNED,
        handover_staff_id=f"u{next(_seq)}",
        takeover_staff_id=f"u{next(_seq)}",
        from_user=from_user,
        to_user=to_user,
        **fields,
    )


tenant_factory(Community)(lambda company: make_community(company))
tenant_factory(CommunityPost)(
    lambda company: community_post_create(community=make_community(company), text="打卡", posted_at=timezone.now())
)
tenant_factory(Cadence)(lambda company: make_cadence(company))
tenant_factory(CadenceEnrollment)(lambda company: make_enrollment(company))
tenant_factory(ContactWay)(lambda company: make_contact_way(company))
tenant_factory(HandoverJob)(lambda company: make_handover_job(company))
