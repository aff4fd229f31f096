"""Factories for CRM records. They go through the services (``force=True`` skips the duplicate check), so
records built in tests are normalised and searchable exactly like real ones."""

from __future__ import annotations

import factory

from crm.models import (
    Account,
    Activity,
    AssignmentRule,
    Contact,
    CustomFieldSet,
    Lead,
    LeadScoringRule,
    LostReason,
    Opportunity,
    Pipeline,
    SlaPolicy,
    Stage,
    Tag,
    TagGroup,
    Ticket,
    TicketCategory,
    TicketInboundToken,
)
from crm.services import customers as customer_services
from crm.services import tags as tag_services
from crm.services.activities import activity_create
from crm.services.custom_fields import custom_field_set_define
from crm.services.leads import assignment_rule_create, lead_create, lead_scoring_rule_create
from crm.services.opportunities import lost_reason_create, opportunity_create, pipeline_default_ensure
from suite.models import Role
from suite.testing import CompanyFactory, make_member, tenant_factory


class ServiceFactory(factory.Factory):
    """A factory whose ``create`` calls a service function (``service``) with the declared fields."""

    class Meta:
        abstract = True

    @classmethod
    def _build(cls, model_class, *args, **kwargs):  # pragma: no cover - records are only built through services
        raise NotImplementedError("CRM factories create through services; use create()")


class AccountFactory(ServiceFactory):
    class Meta:
        model = Account

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"测试客户{n}有限公司")
    name_en = factory.Sequence(lambda n: f"Test Customer {n} Ltd")
    city = "上海"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.setdefault("force", True)
        return customer_services.account_create(**kwargs)


class ContactFactory(ServiceFactory):
    class Meta:
        model = Contact

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"联系人{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        kwargs.setdefault("force", True)
        return customer_services.contact_create(**kwargs)


class TagGroupFactory(ServiceFactory):
    class Meta:
        model = TagGroup

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"标签组{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return tag_services.tag_group_create(**kwargs)


class TagFactory(ServiceFactory):
    class Meta:
        model = Tag

    company = factory.SubFactory(CompanyFactory)
    by = None
    name = factory.Sequence(lambda n: f"标签{n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return tag_services.tag_create(**kwargs)


# ---------------------------------------------------------------- tenant factories (tests/test_tenant_isolation.py)
# One record of each model the CRM API serves, made in a given company through the services.


def _sales_in(company):
    return make_member(company, Role.SALES).user


@tenant_factory(Account)
def account_in(company) -> Account:
    return AccountFactory(company=company, by=_sales_in(company))


@tenant_factory(Contact)
def contact_in(company) -> Contact:
    return ContactFactory(company=company, by=_sales_in(company))


@tenant_factory(TagGroup)
def tag_group_in(company) -> TagGroup:
    return TagGroupFactory(company=company)


@tenant_factory(Tag)
def tag_in(company) -> Tag:
    return TagFactory(company=company)


@tenant_factory(CustomFieldSet)
def custom_field_set_in(company) -> CustomFieldSet:
    return custom_field_set_define(
        company=company, target="account", schema={"type": "object", "properties": {"level": {"type": "string"}}}
    )


@tenant_factory(Lead)
def lead_in(company) -> Lead:
    return lead_create(company=company, by=_sales_in(company), name="隔离线索", company_name="隔离公司")


@tenant_factory(AssignmentRule)
def assignment_rule_in(company) -> AssignmentRule:
    return assignment_rule_create(
        company=company,
        by=None,
        name=f"轮询{AssignmentRule.objects.count()}",
        kind="round_robin",
        assignees=[_sales_in(company)],
    )


@tenant_factory(LeadScoringRule)
def scoring_rule_in(company) -> LeadScoringRule:
    return lead_scoring_rule_create(
        company=company,
        by=None,
        name=f"有电话{LeadScoringRule.objects.count()}",
        field="phone",
        operator="is_set",
        points=10,
    )


@tenant_factory(Pipeline)
def pipeline_in(company) -> Pipeline:
    return pipeline_default_ensure(company=company)


@tenant_factory(Stage)
def stage_in(company) -> Stage:
    return pipeline_default_ensure(company=company).stages.order_by("sequence").first()


@tenant_factory(LostReason)
def lost_reason_in(company) -> LostReason:
    return lost_reason_create(company=company, by=None, name=f"原因{LostReason.objects.count()}")


@tenant_factory(Opportunity)
def opportunity_in(company) -> Opportunity:
    owner = _sales_in(company)
    account = AccountFactory(company=company, by=owner)
    return opportunity_create(company=company, by=owner, name="隔离商机", account=account, amount="1000.00")


def committee_member_in(company, *, opportunity=None, role="decision_maker", **fields):
    """A contact of the deal's account in ``opportunity``'s buying committee (a new deal when none is given)."""
    from crm.services.opportunity_roles import contact_role_set

    opportunity = opportunity or opportunity_in(company)
    contact = ContactFactory(company=company, account=opportunity.account, by=opportunity.owner)
    return contact_role_set(opportunity=opportunity, contact=contact, role=role, by=opportunity.owner, **fields)


def _register_committee_factory():
    from crm.models import OpportunityContactRole

    tenant_factory(OpportunityContactRole)(committee_member_in)


_register_committee_factory()


@tenant_factory(Activity)
def activity_in(company) -> Activity:
    owner = _sales_in(company)
    account = AccountFactory(company=company, by=owner)
    return activity_create(company=company, by=owner, kind="task", subject="隔离任务", account=account)


# ---------------------------------------------------------------- service tickets


def ticket_for(company, *, by=None, **fields) -> Ticket:
    """A ticket of ``company`` on a new account, opened through the service."""
    from crm.services.tickets import ticket_open

    owner = fields.pop("customer_owner", None) or _sales_in(company)
    if "account" not in fields and "contact" not in fields:
        fields["account"] = AccountFactory(company=company, by=owner)
    fields.setdefault("subject", "设备无法启动")
    return ticket_open(company=company, by=by, **fields)


@tenant_factory(Ticket)
def ticket_in(company) -> Ticket:
    return ticket_for(company)


@tenant_factory(TicketCategory)
def ticket_category_in(company) -> TicketCategory:
    from crm.services.tickets import ticket_category_create

    return ticket_category_create(company=company, by=None, name=f"分类{TicketCategory.objects.count()}")


@tenant_factory(SlaPolicy)
def sla_policy_in(company) -> SlaPolicy:
    from crm.services.tickets import sla_policy_set

    used = set(SlaPolicy.objects.filter(company=company).values_list("priority", flat=True))
    priority = next(p for p in ("normal", "high", "urgent", "low") if p not in used)
    return sla_policy_set(
        company=company, by=None, priority=priority, first_response_minutes=60, resolution_minutes=480
    )


@tenant_factory(TicketInboundToken)
def inbound_token_in(company) -> TicketInboundToken:
    from crm.services.tickets import inbound_token_issue

    return inbound_token_issue(company=company, by=None, name="邮件网关").token


# ---------------------------------------------------------------- opportunity lines and quotes (ERP catalogue)


def line_in(company, *, opportunity=None, quantity="2", **fields):
    """An opportunity line of a new catalogue product (list price 100) on ``opportunity`` (a new one)."""
    from crm.services.quotes import opportunity_line_add
    from erp.tests.catalogue import catalogue_product

    opportunity = opportunity or opportunity_in(company)
    product = catalogue_product(company, list_price="100")
    return opportunity_line_add(
        opportunity=opportunity, by=opportunity.owner, product_id=product.pk, quantity=quantity, **fields
    )


def _opportunity_line_in(company):
    return line_in(company)


def _quote_in(company):
    from crm.services.quotes import quote_create

    line = line_in(company)
    return quote_create(opportunity=line.opportunity, by=line.opportunity.owner)


def _register_quote_factories():
    from crm.models import OpportunityLine, Quote

    tenant_factory(OpportunityLine)(_opportunity_line_in)
    tenant_factory(Quote)(_quote_in)


_register_quote_factories()


from crm.tests import factories_campaigns  # noqa: E402,F401  campaigns, web forms, reminders, nudges


def _import_job_in(company):
    """A finished import job of the company. Made directly (no file on disk): the isolation test only reads,
    changes and deletes it through the API; ``crm.tests.test_services_imports`` covers the service path."""
    from crm.models import ImportJob, ImportStatus

    owner = make_member(company, Role.ADMIN).user
    return ImportJob.objects.create(
        company=company,
        owner=owner,
        target="account",
        original_name="isolation.csv",
        file="imports/isolation.csv",
        file_format="csv",
        status=ImportStatus.DONE,
        headers=["name"],
        mapping=["name"],
    )


def _register_import_factories():
    from crm.models import ImportJob

    tenant_factory(ImportJob)(_import_job_in)


_register_import_factories()


def _owner_handover_in(company):
    """A finished handover of a leaving salesperson's records (through the service, as the handler does)."""
    from crm.services.handovers import owner_handover_start

    leaver, successor = make_member(company, Role.SALES).user, make_member(company, Role.SALES).user
    return owner_handover_start(
        company_id=company.pk, from_user_id=leaver.pk, to_user_id=successor.pk, source_key=f"test:{leaver.pk}"
    )


def _register_handover_factories():
    from crm.models import OwnerHandover

    tenant_factory(OwnerHandover)(_owner_handover_in)


_register_handover_factories()


def _sales_target_in(company):
    """A team's monthly sales target (dashboards, issue #7), through the service."""
    from datetime import date

    from crm.services.targets import sales_target_set
    from suite.testing import TeamFactory

    return sales_target_set(
        company_id=company.pk, team=TeamFactory(company=company), month=date(2026, 1, 1), amount="1000"
    )


def _register_target_factories():
    from crm.models import SalesTarget

    tenant_factory(SalesTarget)(_sales_target_in)


_register_target_factories()


def _pool_account_in(company):
    """An account its owner released to the customer pool, through the service."""
    from crm.models import PoolAccount
    from crm.services.pool import account_release

    owner = _sales_in(company)
    account = account_release(account=AccountFactory(company=company, by=owner), by=owner)
    return PoolAccount.objects.get(pk=account.pk)


def _register_pool_factories():
    from crm.models import PoolAccount

    tenant_factory(PoolAccount)(_pool_account_in)


_register_pool_factories()


def _reply_template_in(company):
    """A company's shared reply template, through the service (as its manager)."""
    from crm.models import ReplyTemplate
    from crm.services.replies import reply_template_create
    from suite.policy import Actor

    manager = Actor(make_member(company, Role.MANAGER))
    title = f"退款{ReplyTemplate.objects.filter(company=company).count() + 1}"  # titles are unique per company
    return reply_template_create(company=company, actor=manager, shared=True, title=title, body="{customer}您好")


def _register_reply_factories():
    from crm.models import ReplyTemplate

    tenant_factory(ReplyTemplate)(_reply_template_in)


_register_reply_factories()
