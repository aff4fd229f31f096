"""Service tickets: opening (numbering, SLA, round robin), the thread, escalation, resolution with follow-up visit
and CSAT, the SLA sweep, and inbound e-mail."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from crm.models import Activity, ActivityKind, Ticket, TicketMessage, TicketStatus
from crm.services import tickets as services
from crm.tasks import ticket_customer_email
from crm.tests.factories import AccountFactory, ContactFactory, ticket_for
from suite.models import Notification, Role, Team
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def service_team(company, member):
    manager = member(company, Role.MANAGER, username="svc_manager")
    return TeamFactory(company=company, name="客服一组", kind=Team.Kind.SERVICE, manager=manager.user)


@pytest.fixture
def agents(company, member, service_team):
    return [member(company, Role.SERVICE, teams=[service_team], username=f"agent{i}").user for i in range(3)]


@pytest.fixture
def customer(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="杭州明远科技有限公司")
    contact = ContactFactory(company=company, by=sales_user, name="李娜", email="li.na@mingyuan.cn", account=account)
    return account, contact


@pytest.fixture
def sla(company):
    return services.sla_policy_set(
        company=company, by=None, priority="high", first_response_minutes=30, resolution_minutes=240
    )


# ---------------------------------------------------------------- opening


def test_open_numbers_tickets_per_company_and_applies_the_sla(company, other_company, customer, sla, agents):
    account, contact = customer

    first = services.ticket_open(company=company, by=agents[0], subject="打印机卡纸", contact=contact, priority="high")
    second = services.ticket_open(company=company, by=agents[0], subject="  发票  抬头错误 ", account=account)
    elsewhere = ticket_for(other_company)

    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)
    assert first.account == account  # taken from the contact
    assert first.owner == account.owner  # the customer's salesperson
    assert first.status == TicketStatus.NEW
    assert first.sla_policy == sla
    assert abs((first.first_response_due_at - first.created_at) - timedelta(minutes=30)) < timedelta(seconds=1)
    assert abs((first.resolution_due_at - first.created_at) - timedelta(minutes=240)) < timedelta(seconds=1)
    assert second.subject == "发票 抬头错误"
    assert second.sla_policy is None and second.resolution_due_at is None  # no targets for "normal"


def test_round_robin_within_the_team_and_the_category_default_team(company, customer, service_team, agents):
    account, _ = customer
    category = services.ticket_category_create(company=company, by=None, name="安装调试", default_team=service_team)

    tickets = [
        services.ticket_open(company=company, by=None, subject=f"问题{i}", account=account, category=category)
        for i in range(4)
    ]

    assert [t.team for t in tickets] == [service_team] * 4
    ordered = sorted(agents, key=lambda u: u.pk)
    assert [t.assigned_agent for t in tickets] == [ordered[0], ordered[1], ordered[2], ordered[0]]
    assert Notification.objects.filter(recipient=ordered[1], title__contains=f"#{tickets[1].number}").exists()


def test_a_team_without_service_staff_assigns_among_its_members(company, member, customer):
    account, _ = customer
    team = TeamFactory(company=company, name="售后")
    only = member(company, Role.SALES, teams=[team]).user

    ticket = services.ticket_open(company=company, by=None, subject="退货", account=account, team=team)

    assert ticket.assigned_agent == only


def test_open_refuses_bad_input_with_field_errors(company, other_company, customer):
    foreign = AccountFactory(company=other_company)
    contact_elsewhere = ContactFactory(company=company, account=AccountFactory(company=company, name="别家"))

    with pytest.raises(ValidationError) as error:
        services.ticket_open(
            company=company,
            by=None,
            subject="   ",
            account=foreign,
            priority="whenever",
            channel="fax",
            requester_email="not-an-address",
        )
    assert set(error.value.message_dict) == {"subject", "account", "priority", "channel", "requester_email"}

    with pytest.raises(ValidationError) as error:
        services.ticket_open(company=company, by=None, subject="x", account=customer[0], contact=contact_elsewhere)
    assert error.value.message_dict["contact"] == ["This contact belongs to another account."]
    assert not Ticket.objects.filter(company=company).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_get_distinct_numbers_and_distinct_agents(company, customer, service_team, agents):
    account, _ = customer
    results, errors = [], []
    barrier = threading.Barrier(4)

    def open_one(i):
        try:
            barrier.wait(timeout=10)
            results.append(
                services.ticket_open(company=company, by=None, subject=f"并发{i}", account=account, team=service_team)
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(t.number for t in results) == [1, 2, 3, 4]
    counts = {}
    for ticket in Ticket.objects.filter(company=company):
        counts[ticket.assigned_agent_id] = counts.get(ticket.assigned_agent_id, 0) + 1
    assert sorted(counts.values()) == [1, 1, 2]  # round robin held under concurrency


# ---------------------------------------------------------------- the thread


def test_first_reply_stops_the_response_timer_and_waits_for_the_customer(company, customer, agents, sla):
    ticket = services.ticket_open(company=company, by=None, subject="网络断开", contact=customer[1], priority="high")

    reply = services.ticket_reply(ticket=ticket, by=agents[0], body="请重启路由器后再试。")
    ticket.refresh_from_db()
    first_time = ticket.first_responded_at
    services.ticket_reply(ticket=ticket, by=agents[1], body="还有问题吗？")
    ticket.refresh_from_db()

    assert reply.kind == "reply" and reply.author == agents[0]
    assert first_time == reply.created_at
    assert ticket.first_responded_at == first_time  # the second reply does not move it
    assert ticket.status == TicketStatus.PENDING
    assert ticket.assigned_agent == agents[0]  # an unassigned ticket goes to whoever answered it


def test_reply_email_reaches_the_requester_with_the_number_in_the_subject(company, customer, agents):
    ticket = services.ticket_open(company=company, by=None, subject="账单疑问", contact=customer[1])
    reply = services.ticket_reply(ticket=ticket, by=agents[0], body="已为您更正。")
    note = services.ticket_note(ticket=ticket, by=agents[0], body="内部：客户很着急")

    assert ticket_customer_email(ticket.pk, message_id=reply.pk) is True
    assert ticket_customer_email(ticket.pk, message_id=note.pk) is False  # notes never leave the house

    [sent] = mail.outbox
    assert sent.to == ["li.na@mingyuan.cn"]
    assert sent.subject == f"[#{ticket.number}] 账单疑问"
    assert sent.body == "已为您更正。"


def test_a_note_changes_no_timer_or_status_and_empty_text_is_refused(company, customer, agents):
    ticket = ticket_for(company)

    services.ticket_note(ticket=ticket, by=agents[0], body="已联系工厂")
    ticket.refresh_from_db()
    with pytest.raises(ValidationError) as error:
        services.ticket_reply(ticket=ticket, by=agents[0], body="  ")

    assert ticket.status == TicketStatus.NEW and ticket.first_responded_at is None
    assert error.value.message_dict == {"body": ["This field cannot be blank."]}
    assert list(TicketMessage.objects.filter(ticket=ticket).values_list("kind", flat=True)) == ["note"]


def test_a_closed_ticket_takes_no_reply(company, agents):
    ticket = services.ticket_close(ticket=ticket_for(company), by=agents[0])

    with pytest.raises(services.TicketClosedError):
        services.ticket_reply(ticket=ticket, by=agents[0], body="hello")
    assert services.ticket_close(ticket=ticket, by=agents[0]).closed_at == ticket.closed_at


# ---------------------------------------------------------------- assignment and escalation


def test_manual_assignment_opens_a_new_ticket_and_notifies_the_agent(company, agents, member, other_company):
    ticket = ticket_for(company)
    stranger = member(other_company, Role.SERVICE).user

    ticket = services.ticket_assign(ticket=ticket, by=agents[0], agent=agents[2])
    with pytest.raises(ValidationError) as error:
        services.ticket_assign(ticket=ticket, by=agents[0], agent=stranger)

    assert ticket.assigned_agent == agents[2] and ticket.status == TicketStatus.OPEN
    assert Notification.objects.filter(recipient=agents[2], company=company).count() == 1
    assert "agent" in error.value.message_dict


def test_escalation_raises_priority_reapplies_sla_and_tells_the_manager(company, customer, service_team, agents, sla):
    ticket = services.ticket_open(
        company=company, by=None, subject="生产线停机", account=customer[0], team=service_team
    )

    ticket = services.ticket_escalate(ticket=ticket, by=agents[0], reason="客户投诉到总经理", priority="high")

    assert ticket.escalated and ticket.escalation_reason == "客户投诉到总经理"
    assert ticket.priority == "high" and ticket.sla_policy == sla
    assert abs((ticket.resolution_due_at - ticket.created_at) - timedelta(minutes=240)) < timedelta(seconds=1)
    notified = set(
        Notification.objects.filter(title__startswith="Ticket escalated").values_list("recipient", flat=True)
    )
    assert service_team.manager_id in notified and customer[0].owner_id in notified
    with pytest.raises(ValidationError) as error:
        services.ticket_escalate(ticket=ticket, by=agents[0], reason="再次", priority="low")
    assert error.value.message_dict == {"priority": ["An escalation does not lower the priority."]}


# ---------------------------------------------------------------- resolution, follow-up visit, CSAT


def test_resolve_creates_the_follow_up_visit_for_the_customer_owner_and_a_survey(
    company, customer, agents, sales_user, settings
):
    settings.CRM_TICKET_FOLLOW_UP_DAYS = 5
    account, contact = customer
    ticket = services.ticket_open(
        company=company, by=None, subject="安装指导", contact=contact, assigned_agent=agents[0]
    )
    before = timezone.now()

    result = services.ticket_resolve(ticket=ticket, by=agents[0], resolution="远程指导完成")

    follow_up = result.follow_up
    assert result.ticket.status == TicketStatus.RESOLVED and result.ticket.resolved_at >= before
    assert follow_up.kind == ActivityKind.TASK and follow_up.owner == sales_user
    assert follow_up.account == account and follow_up.contact == contact
    assert f"#{ticket.number}" in follow_up.subject and "回访" in follow_up.subject
    assert timedelta(days=5) <= follow_up.due_at - before < timedelta(days=5, minutes=1)
    assert result.ticket.follow_up_activity == follow_up
    assert len(result.survey.token) >= 40 and result.survey.score is None
    assert TicketMessage.objects.get(ticket=ticket, kind="note").body == "远程指导完成"
    assert Notification.objects.filter(recipient=sales_user, title__startswith="Follow-up visit").exists()

    again = services.ticket_resolve(ticket=ticket, by=agents[0])
    assert again.follow_up == follow_up and again.survey.token == result.survey.token
    assert Activity.objects.filter(company=company, kind="task").count() == 1


def test_survey_link_is_emailed_and_answered_once(company, customer, agents, settings):
    settings.TROIKA_PUBLIC_URL = "https://crm.example.cn"
    ticket = services.ticket_open(company=company, by=None, subject="退款", contact=customer[1])
    survey = services.ticket_resolve(ticket=ticket, by=agents[0]).survey

    assert ticket_customer_email(ticket.pk, survey=True) is True
    assert f"https://crm.example.cn/crm/csat/{survey.token}/" in mail.outbox[0].body

    answered = services.csat_submit(token=survey.token, score="4", comment=" 很及时 ")
    assert (answered.score, answered.comment) == (4, "很及时")
    with pytest.raises(services.CsatAlreadyAnsweredError):
        services.csat_submit(token=survey.token, score=1)
    survey.refresh_from_db()
    assert survey.score == 4
    assert ticket_customer_email(ticket.pk, survey=True) is False  # answered: not asked again


@pytest.mark.parametrize("score", [0, 6, "five", None, "3.5"])
def test_csat_score_must_be_1_to_5(company, agents, score):
    survey = services.ticket_resolve(ticket=ticket_for(company), by=agents[0]).survey

    with pytest.raises(ValidationError) as error:
        services.csat_submit(token=survey.token, score=score)
    assert error.value.message_dict == {"score": ["Choose a score from 1 to 5."]}


def test_csat_unknown_and_expired_tokens(company, agents):
    survey = services.ticket_resolve(ticket=ticket_for(company), by=agents[0]).survey
    survey.expires_at = timezone.now() - timedelta(minutes=1)
    survey.save(update_fields=["expires_at"])

    with pytest.raises(ValidationError) as error:
        services.csat_submit(token="nope", score=5)
    assert "token" in error.value.message_dict
    with pytest.raises(services.CsatExpiredError):
        services.csat_submit(token=survey.token, score=5)


def test_a_ticket_without_customer_is_resolved_without_follow_up(company, agents):
    ticket = services.ticket_open(company=company, by=None, subject="匿名咨询", requester_email="x@example.com")

    result = services.ticket_resolve(ticket=ticket, by=agents[0])

    assert result.follow_up is None and result.survey.pk is not None


# ---------------------------------------------------------------- SLA sweep


def test_sla_sweep_marks_breaches_once_and_notifies(company, customer, service_team, agents, sla):
    account, _ = customer
    late = services.ticket_open(
        company=company, by=None, subject="迟到", account=account, priority="high", team=service_team
    )
    answered = services.ticket_open(
        company=company, by=None, subject="已答复", account=account, priority="high", team=service_team
    )
    services.ticket_reply(ticket=answered, by=agents[0], body="收到")
    on_time = services.ticket_open(company=company, by=None, subject="未到期", account=account, priority="high")
    Ticket.objects.filter(pk__in=[late.pk, answered.pk]).update(
        first_response_due_at=timezone.now() - timedelta(minutes=5),
        resolution_due_at=timezone.now() - timedelta(minutes=1),
    )

    first = services.tickets_check_sla()
    second = services.tickets_check_sla()

    assert (first.first_response_breaches, first.resolution_breaches) == (1, 2)
    assert (second.first_response_breaches, second.resolution_breaches) == (0, 0)
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert late.first_response_breached_at and late.resolution_breached_at and late.sla_breached
    assert not on_time.sla_breached
    titles = list(Notification.objects.filter(recipient=service_team.manager).values_list("title", flat=True))
    assert sorted(t.split(":")[0] for t in titles) == [
        "First response overdue",
        "Resolution overdue",
        "Resolution overdue",
    ]
    assert Notification.objects.filter(recipient=account.owner, title__startswith="Resolution overdue").count() == 2


def test_a_late_answer_or_resolution_missed_the_sla_even_when_no_sweep_saw_it_overdue(
    company, customer, service_team, agents, sla
):
    account, _ = customer
    late = services.ticket_open(company=company, by=None, subject="迟到", account=account, priority="high")
    due_response, due_resolution = timezone.now() - timedelta(minutes=5), timezone.now() - timedelta(minutes=1)
    Ticket.objects.filter(pk=late.pk).update(first_response_due_at=due_response, resolution_due_at=due_resolution)
    in_time = services.ticket_open(company=company, by=None, subject="及时", account=account, priority="high")

    for ticket in (late, in_time):  # no sweep ran in between (beat down, or within its minute)
        services.ticket_reply(ticket=ticket, by=agents[0], body="收到")
        services.ticket_resolve(ticket=ticket, by=agents[0])

    late.refresh_from_db()
    in_time.refresh_from_db()
    assert (late.first_response_breached_at, late.resolution_breached_at) == (due_response, due_resolution)
    assert late.sla_breached and not in_time.sla_breached
    assert in_time.first_response_breached_at is None and in_time.resolution_breached_at is None
    assert services.tickets_check_sla().resolution_breaches == 0  # done: nothing left for the sweep
    assert not Notification.objects.filter(title__contains="overdue").exists()  # done already: nobody is alerted


# ---------------------------------------------------------------- inbound e-mail

EMAIL = """From: =?utf-8?b?5p2O5aic?= <Li.Na@MingYuan.cn>
To: service@example.com
Subject: =?utf-8?b?6K6+5aSH5oql6K2m?=
Message-ID: <abc-1@mingyuan.cn>
Content-Type: text/plain; charset=utf-8

设备一直报警，请尽快处理。
"""


def test_inbound_email_opens_a_ticket_for_the_matching_contact(company, customer):
    account, contact = customer

    result = services.ticket_inbound_email(company=company, raw=EMAIL.encode())
    again = services.ticket_inbound_email(company=company, raw=EMAIL.encode())

    ticket = result.ticket
    assert result.created and not result.duplicate
    assert (ticket.subject, ticket.channel, ticket.contact, ticket.account) == ("设备报警", "email", contact, account)
    assert ticket.description == "设备一直报警，请尽快处理。"
    assert (ticket.requester_name, ticket.requester_email) == ("李娜", "li.na@mingyuan.cn")
    assert again.duplicate and again.ticket == ticket and Ticket.objects.count() == 1


def test_inbound_reply_with_the_number_appends_and_reopens(company, customer, agents):
    ticket = services.ticket_open(company=company, by=None, subject="设备报警", contact=customer[1])
    services.ticket_reply(ticket=ticket, by=agents[0], body="请拍照给我们")
    services.ticket_resolve(ticket=ticket, by=agents[0])
    raw = (
        f"From: li.na@mingyuan.cn\r\nSubject: Re: [#{ticket.number}] 设备报警\r\nMessage-ID: <r2@x>\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n\r\n<p>还是<b>不行</b></p>'
    ).encode()

    result = services.ticket_inbound_email(company=company, raw=raw)

    ticket.refresh_from_db()
    assert not result.created and result.ticket == ticket
    assert result.message.kind == "inbound" and result.message.body == "还是不行"
    assert ticket.status == TicketStatus.OPEN and ticket.resolved_at is None
    assert Ticket.objects.count() == 1


def test_inbound_from_an_unknown_sender_and_to_a_closed_ticket(company, agents):
    closed = services.ticket_close(ticket=ticket_for(company), by=agents[0])
    raw = f"From: Stranger <who@nowhere.example>\nSubject: [#{closed.number}] again\n\nhello".encode()

    result = services.ticket_inbound_email(company=company, raw=raw)

    assert result.created and result.ticket.pk != closed.pk
    assert result.ticket.contact is None and result.ticket.requester_email == "who@nowhere.example"


@pytest.mark.parametrize(
    "raw,field",
    [(b"Subject: no sender\n\nbody", "from"), (b"From: a@b.cn\n\n", "message"), (b"From: nonsense\n\nx", "from")],
)
def test_inbound_email_refuses_what_it_cannot_use(company, raw, field):
    with pytest.raises(ValidationError) as error:
        services.ticket_inbound_email(company=company, raw=raw)
    assert field in error.value.message_dict


def test_inbound_tokens_name_their_company_until_revoked(company):
    issued = services.inbound_token_issue(company=company, by=None, name="网关")

    assert services.inbound_token_company(issued.secret) == company
    assert issued.token.token_hash != issued.secret and issued.secret.startswith(issued.token.prefix)
    services.inbound_token_revoke(token=issued.token, by=None)
    assert services.inbound_token_company(issued.secret) is None
    assert services.inbound_token_company("tin_guess") is None


# ---------------------------------------------------------------- configuration


def test_sla_policy_validation(company):
    with pytest.raises(ValidationError) as error:
        services.sla_policy_set(
            company=company, by=None, priority="high", first_response_minutes=60, resolution_minutes=30
        )
    assert "resolution_minutes" in error.value.message_dict
    with pytest.raises(ValidationError):
        services.sla_policy_set(
            company=company, by=None, priority="meh", first_response_minutes=0, resolution_minutes=1
        )
    first = services.sla_policy_set(
        company=company, by=None, priority="low", first_response_minutes=1, resolution_minutes=2
    )
    second = services.sla_policy_set(
        company=company, by=None, priority="low", first_response_minutes=10, resolution_minutes=20
    )
    assert first.pk == second.pk and second.first_response_minutes == 10


def test_a_used_category_is_retired_not_deleted(company):
    category = services.ticket_category_create(company=company, by=None, name="投诉")
    ticket_for(company, category=category)

    with pytest.raises(services.CrmConflict):
        services.ticket_category_delete(category=category, by=None)
    with pytest.raises(ValidationError):
        services.ticket_category_create(company=company, by=None, name="投诉")
    retired = services.ticket_category_update(category=category, by=None, is_active=False)
    assert retired.is_active is False


@pytest.mark.django_db(transaction=True)
def test_two_answers_sent_at_once_record_one(company, agents):
    survey = services.ticket_resolve(ticket=ticket_for(company), by=agents[0]).survey
    outcomes, barrier = [], threading.Barrier(2)

    def answer(score):
        try:
            barrier.wait(timeout=10)
            services.csat_submit(token=survey.token, score=score)
            outcomes.append("recorded")
        except services.CsatAlreadyAnsweredError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=answer, args=(score,)) for score in (2, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    survey.refresh_from_db()
    assert sorted(outcomes) == ["recorded", "refused"]
    assert survey.score in (2, 5) and survey.submitted_at is not None
