"""Tenant factories of auto-tag rules, segments, consents and pushes (tests/test_tenant_isolation.py), through
the services."""

from __future__ import annotations

import itertools

from crm.tests.factories import ContactFactory, TagFactory
from scrm.models import Consent, PushCampaign, PushMessage, Resolution, Segment, TagRule
from scrm.services import pushes
from scrm.services.consent import consent_record
from scrm.services.segments import segment_create, tag_rule_create
from scrm.tests.factories import make_channel, make_conversation, make_identity
from suite.testing import tenant_factory

_seq = itertools.count(1)


@tenant_factory(TagRule)
def tag_rule_in(company) -> TagRule:
    tag = TagFactory(company=company)
    return tag_rule_create(
        company=company, name=f"规则{next(_seq)}", trigger="keyword", keywords=["价格"], add_tag_id=tag.pk
    )


@tenant_factory(Segment)
def segment_in(company) -> Segment:
    tag = TagFactory(company=company)
    return segment_create(company=company, name=f"人群{next(_seq)}", query={"tag": tag.pk})


@tenant_factory(Consent)
def consent_in(company) -> Consent:
    contact = ContactFactory(company=company)
    return consent_record(
        company_id=company.pk,
        crm_contact_id=contact.pk,
        channel_kind="simulator",
        lawful_basis="consent",
        source="表单",
    )


@tenant_factory(PushCampaign)
def push_campaign_in(company) -> PushCampaign:
    channel = make_channel(company, "simulator")
    return pushes.push_campaign_create(
        company=company, name=f"推送{next(_seq)}", segment=segment_in(company), contents=[(channel, "{name}你好")]
    )


@tenant_factory(PushMessage)
def push_message_in(company) -> PushMessage:
    campaign = push_campaign_in(company)
    contact = ContactFactory(company=company)
    identity = make_identity(company, kind="simulator", crm_contact_id=contact.pk, resolution=Resolution.AUTO)
    channel = campaign.contents.get().channel
    make_conversation(company, channel=channel, identity=identity)
    return PushMessage.objects.create(
        company=company, campaign=campaign, channel=channel, identity=identity, crm_contact_id=contact.pk
    )
