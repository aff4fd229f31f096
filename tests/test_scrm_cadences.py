"""Cadences for 留资 leads: enrolment from the lead's source (``crm.lead.created``), due steps run exactly once
(also by two sweeps in parallel), CRM tasks through ``scrm.cadence.task_due``, pushes through the channel, and
the stop on conversion (``crm.lead.converted``) or an opt-out reply (退订 / TD)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from crm.models import Activity
from crm.services.leads import lead_convert, lead_create
from crm.tests.factories import ContactFactory
from scrm.models import CadenceEnrollment, CadenceStepRun, Message
from scrm.services.cadences import cadence_create, cadence_enroll, cadence_steps_run_due, cadence_update
from scrm.services.consent import consent_record, consent_withdraw
from scrm.services.inbox import inbound_event_apply
from scrm.tests.factories import make_channel, make_identity
from suite.events.relay import relay_batch
from suite.models import OutboxEvent, Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db

STEPS = [
    {"kind": "task", "delay_minutes": 0, "subject": "给 {name} 打电话介绍课程"},
    {"kind": "wait", "delay_minutes": 60},
    {"kind": "push", "delay_minutes": 24 * 60, "message": "{name}，试听课本周六开课，回复 TD 退订"},
    {"kind": "task", "delay_minutes": 48 * 60, "subject": "二次回访 {name}"},
]


@pytest.fixture
def owner(company):
    return make_member(company, Role.SALES).user


@pytest.fixture
def douyin_cadence(company):
    channel = make_channel(company, "simulator")
    return cadence_create(company=company, name="抖音留资跟进", trigger_source="douyin", channel=channel, steps=STEPS)


def run_at(now):
    total = 0
    while True:
        result = cadence_steps_run_due(now=now)
        total += result.ran
        if not result.ran and not result.completed:
            return total


def consenting_identity(company, owner, external_id: str, **fields):
    contact = ContactFactory(company=company, by=owner)
    consent_record(
        company_id=company.pk,
        crm_contact_id=contact.pk,
        channel_kind="simulator",
        lawful_basis="consent",
        source="抖音留资表单",
    )
    return make_identity(company, kind="simulator", external_id=external_id, crm_contact_id=contact.pk, **fields)


def test_douyin_lead_is_enrolled_and_followed_up_until_the_sequence_ends(company, owner, douyin_cadence):
    identity = consenting_identity(company, owner, "dy-fan-1", phone="13800138000")
    lead = lead_create(company=company, by=owner, owner=owner, name="王芳", phone="13800138000", source="douyin")
    lead_create(company=company, by=owner, name="官网客户", source="website")  # not this cadence's source
    relay_batch()
    relay_batch()  # a redelivery enrols nobody twice
    enrollment = CadenceEnrollment.objects.get(cadence=douyin_cadence)
    assert (enrollment.lead_id, enrollment.owner_id, enrollment.identity, enrollment.status) == (
        lead.pk,
        owner.pk,
        identity,
        "active",
    )

    start = timezone.now() + timedelta(seconds=1)
    assert run_at(start) == 1  # the call task (delay 0); the wait is due in an hour
    relay_batch()
    task = Activity.objects.get(lead_id=lead.pk)
    assert (task.owner, task.kind, task.subject, task.done_at) == (owner, "task", "给 王芳 打电话介绍课程", None)
    assert run_at(start) == 0  # nothing runs twice

    assert run_at(start + timedelta(hours=1)) == 1  # wait
    assert run_at(start + timedelta(hours=25, minutes=1)) == 1  # push through the channel's connector
    push = CadenceStepRun.objects.get(enrollment=enrollment, step__position=3)
    assert push.outcome == "sent" and push.detail.startswith("sim-out-")
    assert run_at(start + timedelta(days=4)) == 1
    relay_batch()
    assert Activity.objects.filter(lead_id=lead.pk).count() == 2
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.next_run_at) == ("completed", None)
    assert CadenceStepRun.objects.filter(enrollment=enrollment).count() == 4


def test_conversion_stops_the_cadence(company, owner, douyin_cadence):
    lead = lead_create(company=company, by=owner, owner=owner, name="赵强", phone="13900139000", source="douyin")
    relay_batch()
    lead_convert(lead=lead, by=owner, create_opportunity=False)
    relay_batch()
    enrollment = CadenceEnrollment.objects.get(cadence=douyin_cadence, lead_id=lead.pk)
    assert (enrollment.status, enrollment.stop_reason) == ("converted", "lead converted")
    assert run_at(timezone.now() + timedelta(days=10)) == 0
    assert not CadenceStepRun.objects.filter(enrollment=enrollment).exists()


@pytest.mark.parametrize("reply", ["TD", "退订", " td。"])
def test_opt_out_reply_stops_the_cadence_and_nothing_more_is_pushed(company, owner, douyin_cadence, reply):
    identity = make_identity(company, kind="simulator", external_id="dy-fan-9")
    enrollment, _created = cadence_enroll(cadence=douyin_cadence, lead_id=999001, lead_name="孙丽", identity=identity)
    inbound_event_apply(
        channel=douyin_cadence.channel,
        event={"external_id": f"m-{reply}", "sender_id": "dy-fan-9", "kind": "message", "text": reply},
    )
    enrollment.refresh_from_db()
    assert enrollment.status == "opted_out"
    assert run_at(timezone.now() + timedelta(days=10)) == 0
    assert Message.objects.filter(conversation__identity=identity, direction="out").count() == 0


def test_a_longer_message_with_the_keyword_inside_does_not_opt_out(company, douyin_cadence):
    identity = make_identity(company, kind="simulator", external_id="dy-fan-10")
    enrollment, _ = cadence_enroll(cadence=douyin_cadence, lead_id=999002, identity=identity)
    inbound_event_apply(
        channel=douyin_cadence.channel,
        event={
            "external_id": "m-long",
            "sender_id": "dy-fan-10",
            "kind": "message",
            "text": "请问 TD 课程什么时候开始",
        },
    )
    enrollment.refresh_from_db()
    assert enrollment.status == "active"


def test_no_push_without_identity_or_consent_or_after_withdrawal(company, owner, douyin_cadence):
    past = timezone.now() - timedelta(days=5)
    no_identity, _ = cadence_enroll(cadence=douyin_cadence, lead_id=999003, now=past)
    unmatched = make_identity(company, kind="simulator", external_id="dy-unmatched")
    no_consent, _ = cadence_enroll(cadence=douyin_cadence, lead_id=999004, identity=unmatched, now=past)
    withdrawn_identity = consenting_identity(company, owner, "dy-withdrawn")
    consent_withdraw(
        company_id=company.pk, crm_contact_id=withdrawn_identity.crm_contact_id, channel_kind=None, via="test"
    )
    withdrawn, _ = cadence_enroll(cadence=douyin_cadence, lead_id=999005, identity=withdrawn_identity, now=past)
    for days in (5, 6, 8, 11):
        run_at(timezone.now() + timedelta(days=days))
    for enrollment, detail in (
        (no_identity, "no social identity"),
        (no_consent, "no consent"),
        (withdrawn, "no consent"),
    ):
        outcomes = dict(CadenceStepRun.objects.filter(enrollment=enrollment).values_list("step__position", "outcome"))
        assert outcomes == {1: "task", 2: "waited", 3: "skipped", 4: "task"}
        assert CadenceStepRun.objects.get(enrollment=enrollment, step__position=3).detail.startswith(detail)
    assert not Message.objects.filter(direction="out").exists()


def test_validation_writes_nothing(company):
    with pytest.raises(ValidationError) as error:
        cadence_create(company=company, name="坏的", steps=[{"kind": "push", "delay_minutes": 0, "message": "hi"}])
    assert "steps[1]" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        cadence_create(
            company=company,
            name="坏的",
            steps=[{"kind": "task", "delay_minutes": -5, "subject": "x"}, {"kind": "nap"}],
        )
    assert set(error.value.message_dict) == {"steps[1]", "steps[2]"}
    with pytest.raises(ValidationError):
        cadence_create(company=company, name="空", steps=[])
    cadence = cadence_create(company=company, name="好的", steps=[{"kind": "wait", "delay_minutes": 5}])
    with pytest.raises(ValidationError):
        cadence_create(company=company, name="好的", steps=[{"kind": "wait", "delay_minutes": 5}])
    cadence_update(cadence=cadence, steps=[{"kind": "task", "delay_minutes": 0, "subject": "a"}, {"kind": "wait"}])
    assert list(cadence.steps.values_list("position", "kind")) == [(1, "task"), (2, "wait")]


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_in_parallel_run_each_step_exactly_once(company):
    cadence = cadence_create(
        company=company,
        name="并发",
        steps=[{"kind": "task", "delay_minutes": 0, "subject": "call"}, {"kind": "wait", "delay_minutes": 0}],
    )
    past = timezone.now() - timedelta(minutes=1)
    for lead_id in range(1, 61):
        cadence_enroll(cadence=cadence, lead_id=lead_id, now=past)
    barrier = threading.Barrier(2)
    errors = []

    def sweep():
        try:
            barrier.wait()
            for _ in range(100):
                result = cadence_steps_run_due(limit=7)
                if not result.ran and not result.completed:
                    break
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert CadenceStepRun.objects.filter(enrollment__cadence=cadence).count() == 120
    assert OutboxEvent.objects.filter(name="scrm.cadence.task_due").count() == 60
    assert set(CadenceEnrollment.objects.filter(cadence=cadence).values_list("status", flat=True)) == {"completed"}
