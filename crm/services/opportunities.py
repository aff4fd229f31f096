"""Writes of pipelines, stages, lost reasons and opportunities, with the stage history kept on every move.

Creating publishes ``crm.opportunity.created`` (the account's followers hear of it; webhooks), winning
``crm.opportunity.won`` (ERP turns it into a sales order), losing ``crm.opportunity.lost``; the payloads are
documented in docs/events.md. A won opportunity is final: its order lives in ERP.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import FilteredRelation, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.errors import CrmConflict
from crm.events import (
    OPPORTUNITY_CREATED,
    OPPORTUNITY_LOST,
    OPPORTUNITY_WON,
    opportunity_closed_payload,
    opportunity_created_payload,
)
from crm.models import (
    Account,
    Contact,
    CustomFieldSet,
    LifecycleStage,
    LostReason,
    Opportunity,
    OpportunityLine,
    OpportunityStatus,
    Pipeline,
    Stage,
)
from crm.services.custom_fields import custom_values_merge
from crm.services.following import local_name, tell_deal_followers
from crm.services.funnel import funnel_reach_kept, funnel_reach_rebuild, stage_change_record
from crm.text import build_search_text
from suite import events
from suite.models import Company, Membership, Team
from suite.prepared import PreparedRead

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_AMOUNT = Decimal("9999999999999999.99")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")

# The stages a new company starts with (a common Chinese B2B process); admins rename and extend them.
DEFAULT_STAGES = (
    {"name": "初步接洽", "name_en": "Qualification", "probability": 10},
    {"name": "需求确认", "name_en": "Needs analysis", "probability": 30},
    {"name": "方案报价", "name_en": "Proposal / quote", "probability": 50},
    {"name": "商务谈判", "name_en": "Negotiation", "probability": 70},
    {"name": "赢单", "name_en": "Won", "probability": 100, "is_won": True},
    {"name": "输单", "name_en": "Lost", "probability": 0, "is_lost": True},
)
DEFAULT_LOST_REASONS = (
    ("价格过高", "Price too high"),
    ("选择了竞争对手", "Chose a competitor"),
    ("没有预算", "No budget"),
    ("需求取消", "Need went away"),
    ("联系不上", "Could not reach"),
    ("其他", "Other"),
)

# ---------------------------------------------------------------- locks


def lock_opportunity(pk: int) -> Opportunity:
    """The opportunity row, locked for the rest of the transaction (with its stage, not locked)."""
    return Opportunity.objects.select_for_update(of=("self",)).select_related("stage").get(pk=pk)


def lock_pipeline(pk: int) -> Pipeline:
    return Pipeline.objects.select_for_update(of=("self",)).get(pk=pk)


# ---------------------------------------------------------------- pipelines and stages


def _stage_errors(stages: list[dict]) -> list[str]:
    errors = []
    if sum(1 for s in stages if s.get("is_won")) != 1:
        errors.append(_("A pipeline needs exactly one won stage."))
    if sum(1 for s in stages if s.get("is_lost")) != 1:
        errors.append(_("A pipeline needs exactly one lost stage."))
    if not any(not s.get("is_won") and not s.get("is_lost") for s in stages):
        errors.append(_("A pipeline needs at least one open stage."))
    names = [str(s.get("name", "")).strip() for s in stages]
    if any(not n for n in names):
        errors.append(_("Every stage needs a name."))
    if len(set(names)) != len(names):
        errors.append(_("Stage names must be different."))
    for s in stages:
        probability = s.get("probability", 0)
        if not isinstance(probability, int) or not 0 <= probability <= 100:
            errors.append(_("A win probability is a whole percentage from 0 to 100."))
            break
        if (s.get("is_won") and probability != 100) or (s.get("is_lost") and probability != 0):
            errors.append(_("The won stage has probability 100 and the lost stage 0."))
            break
    return errors


@transaction.atomic
def pipeline_create(
    *,
    company: Company,
    name: str,
    stages: list[dict],
    by: User | None,
    name_en: str = "",
    is_default: bool = False,
) -> Pipeline:
    """Create a pipeline with its stages (dicts of name, name_en, probability, is_won, is_lost, in order).

    Exactly one won (100 %) and one lost (0 %) stage, at least one open stage. ``is_default`` moves the
    company's default to this pipeline (the previous default row is locked and cleared first).
    """
    errors = _stage_errors(stages)
    if not name.strip():
        errors.insert(0, _("A pipeline needs a name."))
    if errors:
        raise ValidationError({"stages": errors})
    if is_default:
        previous = Pipeline.objects.select_for_update(of=("self",)).filter(company=company, is_default=True)
        for row in previous:
            row.is_default = False
            row.save(update_fields=["is_default", "updated_at"])
    has_default = Pipeline.objects.filter(company=company, is_default=True).exists()
    pipeline = Pipeline(
        company=company, name=name.strip(), name_en=name_en.strip(), is_default=is_default or not has_default
    )
    try:
        with transaction.atomic():
            pipeline.save()
    except IntegrityError:
        raise ValidationError({"name": [_("A pipeline with this name exists.")]}) from None
    Stage.objects.bulk_create(
        [
            Stage(
                company=company,
                pipeline=pipeline,
                name=str(s["name"]).strip(),
                name_en=str(s.get("name_en", "")).strip(),
                sequence=(index + 1) * 10,
                probability=s.get("probability", 0),
                is_won=bool(s.get("is_won")),
                is_lost=bool(s.get("is_lost")),
            )
            for index, s in enumerate(stages)
        ]
    )
    return pipeline


@transaction.atomic
def pipeline_default_ensure(*, company: Company) -> Pipeline:
    """The company's default pipeline, created with the standard stages and lost reasons if the company has
    none yet. Serialised per company by locking the company row."""
    pipeline = Pipeline.objects.filter(company=company, is_default=True).first()
    if pipeline is not None:
        return pipeline
    Company.objects.select_for_update(of=("self",)).get(pk=company.pk)
    pipeline = Pipeline.objects.filter(company=company, is_default=True).first()
    if pipeline is not None:
        return pipeline
    if not LostReason.objects.filter(company=company).exists():
        LostReason.objects.bulk_create(
            [
                LostReason(company=company, name=name, name_en=name_en, sort_order=index)
                for index, (name, name_en) in enumerate(DEFAULT_LOST_REASONS)
            ]
        )
    return pipeline_create(company=company, name="销售流程", name_en="Sales", stages=list(DEFAULT_STAGES), by=None)


@transaction.atomic
def stage_update(*, stage: Stage, by: User | None, **fields: Any) -> Stage:
    """Rename, reorder or re-weight a stage (``name``, ``name_en``, ``sequence``, ``probability``,
    ``is_active``). Won and lost stages keep 100 % / 0 % (database constraints). Locks the stage row."""
    allowed = {"name", "name_en", "sequence", "probability", "is_active"}
    if set(fields) - allowed:
        raise TypeError(f"unknown stage fields: {', '.join(sorted(set(fields) - allowed))}")
    stage = Stage.objects.select_for_update(of=("self",)).get(pk=stage.pk)
    probability = fields.get("probability", stage.probability)
    if not isinstance(probability, int) or not 0 <= probability <= 100:
        raise ValidationError({"probability": [_("A win probability is a whole percentage from 0 to 100.")]})
    if (stage.is_won and probability != 100) or (stage.is_lost and probability != 0):
        raise ValidationError({"probability": [_("The won stage has probability 100 and the lost stage 0.")]})
    funnel_changed = any(name in fields and fields[name] != getattr(stage, name) for name in ("sequence", "is_active"))
    for name, value in fields.items():
        setattr(stage, name, value.strip() if isinstance(value, str) else value)
    try:
        with transaction.atomic():
            stage.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise ValidationError({"name": [_("Another stage of this pipeline has this name.")]}) from None
    if funnel_changed:  # the funnel's thresholds and the changes that count are the pipeline's stages
        funnel_reach_rebuild(company_id=stage.company_id, pipeline_id=stage.pipeline_id)
    return stage


@transaction.atomic
def lost_reason_create(*, company: Company, name: str, by: User | None, name_en: str = "") -> LostReason:
    """Add a reason to the company's list of why deals are lost."""
    if not name.strip():
        raise ValidationError({"name": [_("This field cannot be blank.")]})
    try:
        with transaction.atomic():
            return LostReason.objects.create(company=company, name=name.strip(), name_en=name_en.strip())
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None


# ---------------------------------------------------------------- opportunities


def opportunity_search_text(opportunity: Opportunity) -> str:
    names = [opportunity.name]
    if opportunity.account_id:
        names.append(opportunity.account.name)
    if opportunity.contact_id:
        names.append(opportunity.contact.name)
    return build_search_text(names=names)


def _parse_amount(value: Any, errors: dict) -> Decimal | None:
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except (InvalidOperation, ValueError):
        errors.setdefault("amount", []).append(_("Enter a number."))
        return None
    if not amount.is_finite():
        errors.setdefault("amount", []).append(_("Enter a number."))
    elif amount < 0:
        errors.setdefault("amount", []).append(_("The amount cannot be negative."))
    elif amount > MAX_AMOUNT:
        errors.setdefault("amount", []).append(_("The amount is too large."))
    elif amount.as_tuple().exponent < -2:
        errors.setdefault("amount", []).append(_("At most two decimal places."))
    else:
        return amount.quantize(Decimal("0.01"))
    return None


def _check_links(company_id: int, values: dict[str, Any], errors: dict, *, owner_is_member: bool | None = None) -> None:
    account: Account | None = values.get("account")
    contact: Contact | None = values.get("contact")
    if account is not None and (account.company_id != company_id or account.merged_into_id):
        errors.setdefault("account", []).append(_("Unknown account."))
    if contact is not None and (contact.company_id != company_id or contact.merged_into_id):
        errors.setdefault("contact", []).append(_("Unknown contact."))
    if account is not None and contact is not None and contact.account_id and contact.account_id != account.pk:
        errors.setdefault("contact", []).append(_("This contact belongs to another account."))
    owner = values.get("owner")
    if owner is not None and owner_is_member is None:
        owner_is_member = Membership.objects.filter(company_id=company_id, user=owner, is_active=True).exists()
    if owner is not None and not owner_is_member:
        errors.setdefault("owner", []).append(_("The owner must be an active member of the company."))
    team: Team | None = values.get("team")
    if team is not None and team.company_id != company_id:
        errors.setdefault("team", []).append(_("Unknown team."))


def _record_stage_change(opportunity: Opportunity, *, from_stage: Stage | None, entered_at, by, now) -> None:
    # one statement inserts the change and keeps the sales funnel's pre-aggregate (crm.services.funnel)
    stage_change_record(
        opportunity=opportunity,
        from_stage=from_stage,
        to_stage=opportunity.stage,
        changed_at=now,
        by_id=by.pk if by is not None else None,
        amount=opportunity.amount,
        probability=opportunity.stage.probability,
        seconds=int((now - entered_at).total_seconds()) if from_stage is not None else None,
    )


_COMPANY, _OWNER = -918_273_645, -918_273_646  # stand-ins for the ids in the SQL compiled once per process


@functools.cache
def _create_reads_sql() -> tuple[str, list]:
    """One statement for what ``opportunity_create`` reads before writing, in the usual case (the default
    pipeline, an owner): the default pipeline's first open stage with its pipeline (``_first_open_stage``), whether
    the owner is an active member (``_check_links``), the custom-field schema (``custom_schema_of``) and the owner's
    teams (at most 2). Each part is Django's own SQL of the query it replaces, compiled once with stand-in ids."""

    def compiled(queryset):
        return queryset.query.get_compiler(connection.alias).as_sql()

    stage_sql, stage_params = compiled(
        Stage.objects.filter(
            company_id=_COMPANY, pipeline__is_default=True, is_won=False, is_lost=False, is_active=True
        )
        .select_related("pipeline")
        .order_by("sequence", "id")[:1]
    )
    member_sql, member_params = compiled(
        Membership.objects.filter(company_id=_COMPANY, is_active=True, user_id=_OWNER).order_by().values("pk")[:1]
    )
    schema_sql, schema_params = compiled(
        CustomFieldSet.objects.filter(company_id=_COMPANY, target="opportunity").values("schema")[:1]
    )
    team_sql, team_params = compiled(
        Team.objects.filter(company_id=_COMPANY, memberships__user_id=_OWNER).values("id", "name", "company_id")[:2]
    )
    sql = (
        f"SELECT stage.*, EXISTS ({member_sql}), ({schema_sql}), "
        f"(SELECT json_agg(json_build_array(team.id, team.name, team.company_id)) FROM ({team_sql}) team) "
        f"FROM (SELECT 1) one LEFT JOIN LATERAL ({stage_sql}) stage ON true"
    )
    return sql, [*member_params, *schema_params, *team_params, *stage_params]


def _create_reads(company_id: int, owner_id: int) -> tuple[Stage | None, bool, Any, list[Team]]:
    """(first open stage of the default pipeline, owner is an active member, custom schema, owner's teams ≤ 2)."""
    sql, params = _create_reads_sql()
    bound = [company_id if p == _COMPANY else owner_id if p == _OWNER else p for p in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, bound)
        row = cursor.fetchone()
    stage_fields = [f.attname for f in Stage._meta.concrete_fields]
    pipeline_fields = [f.attname for f in Pipeline._meta.concrete_fields]
    split = len(stage_fields)
    stage = None
    if row[0] is not None:
        stage = Stage.from_db(connection.alias, stage_fields, row[:split])
        pipeline = Pipeline.from_db(connection.alias, pipeline_fields, row[split : split + len(pipeline_fields)])
        Stage.pipeline.field.set_cached_value(stage, pipeline)
    member, schema, teams = row[-3:]
    if schema is not None:
        schema = CustomFieldSet._meta.get_field("schema").from_db_value(schema, None, connection)
    if isinstance(teams, str):
        teams = json.loads(teams)
    return (
        stage,
        bool(member),
        schema,
        [Team.from_db(connection.alias, ["id", "name", "company_id"], team) for team in teams or []],
    )


def _first_open_stage(stages) -> Stage | None:
    return (
        stages.filter(is_won=False, is_lost=False, is_active=True)
        .select_related("pipeline")
        .order_by("sequence", "id")
        .first()
    )


@transaction.atomic
def opportunity_create(
    *,
    company: Company,
    by: User | None,
    name: str,
    account: Account | None = None,
    contact: Contact | None = None,
    stage: Stage | None = None,
    pipeline: Pipeline | None = None,
    amount: Decimal | str | int = Decimal("0"),
    currency: str | None = None,
    expected_close_date: date | None = None,
    owner: User | None = None,
    team: Team | None = None,
    lead=None,
    description: str = "",
    custom: dict | None = None,
) -> Opportunity:
    """Create an open opportunity for an account and/or contact.

    Without ``stage`` it starts in the first open stage of ``pipeline`` (default: the company's default
    pipeline, created with standard stages if the company has none). The amount is a non-negative Decimal with
    at most two decimals, the currency the company's unless given. Writes the first stage-history row.
    Publishes ``crm.opportunity.created`` (one INSERT: the account's followers are told by its handler,
    ``crm.events.tell_followers_of_new_deal``, not in this request).
    """
    errors: dict[str, list] = {}
    if not (name or "").strip():
        errors.setdefault("name", []).append(_("This field cannot be blank."))
    parsed_amount = _parse_amount(amount, errors)
    owner = owner if owner is not None else by
    reads = None
    if stage is None and pipeline is None and owner is not None and owner.pk is not None:
        # the usual case: every read before the INSERT in one statement
        reads = _create_reads(company.pk, owner.pk)
    _check_links(
        company.pk,
        {"account": account, "contact": contact, "owner": owner, "team": team},
        errors,
        owner_is_member=None if reads is None else reads[1],
    )
    if account is None and contact is None:
        errors.setdefault("account", []).append(_("An opportunity needs an account or a contact."))
    if stage is not None:
        if stage.company_id != company.pk or (pipeline is not None and stage.pipeline_id != pipeline.pk):
            errors.setdefault("stage", []).append(_("Unknown stage."))
        elif stage.is_won or stage.is_lost or not stage.is_active:
            errors.setdefault("stage", []).append(_("A new opportunity starts in an open stage."))
    elif pipeline is not None and pipeline.company_id != company.pk:
        errors.setdefault("pipeline", []).append(_("Unknown pipeline."))
    currency = (currency or company.currency or "CNY").upper()
    if not CURRENCY_CODE.fullmatch(currency):
        errors.setdefault("currency", []).append(_("Use a three-letter ISO currency code such as CNY."))
    custom_values = {}
    try:
        custom_values = custom_values_merge(
            company_id=company.pk,
            target="opportunity",
            current={},
            changes=custom,
            **({} if reads is None else {"schema": reads[2]}),
        )
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    if stage is None and pipeline is None:
        # the usual case: the default pipeline's first open stage, in one query (the default pipeline is made
        # only when the company has none)
        stage = (
            reads[0]
            if reads is not None
            else _first_open_stage(Stage.objects.filter(company=company, pipeline__is_default=True))
        )
    if stage is None:
        pipeline = pipeline or pipeline_default_ensure(company=company)
        stage = _first_open_stage(pipeline.stages.all())
        if stage is None:
            raise ValidationError({"pipeline": [_("This pipeline has no open stage.")]})
    if team is None and owner is not None:
        teams = (
            reads[3] if reads is not None else list(Team.objects.filter(company=company, memberships__user=owner)[:2])
        )
        team = teams[0] if len(teams) == 1 else None
    now = timezone.now()
    opportunity = Opportunity(
        company=company,
        name=" ".join(name.split()),
        stage=stage,
        status=OpportunityStatus.OPEN,
        account=account,
        contact=contact,
        lead=lead,
        amount=parsed_amount,
        currency=currency,
        expected_close_date=expected_close_date,
        owner=owner,
        team=team,
        description=description or "",
        custom=custom_values,
        stage_entered_at=now,
    )
    opportunity.search_text = opportunity_search_text(opportunity)
    opportunity.save()
    _record_stage_change(opportunity, from_stage=None, entered_at=now, by=by, now=now)
    events.publish(
        OPPORTUNITY_CREATED, opportunity_created_payload(opportunity=opportunity), company_id=company.pk, by=by
    )
    return opportunity


OPPORTUNITY_FIELDS = frozenset(
    {"name", "account", "contact", "amount", "currency", "expected_close_date", "owner", "team", "description"}
)


@transaction.atomic
def opportunity_update(
    *, opportunity: Opportunity, by: User | None, custom: dict | None = None, **fields: Any
) -> Opportunity:
    """Change an opportunity's details (not its stage: ``opportunity_move`` / ``_win`` / ``_lose``). A won
    opportunity's amount and customer are final (its order is in ERP). Locks the row."""
    unknown = set(fields) - OPPORTUNITY_FIELDS
    if unknown:
        raise TypeError(f"unknown opportunity fields: {', '.join(sorted(unknown))}")
    opportunity = lock_opportunity(opportunity.pk)
    errors: dict[str, list] = {}
    if opportunity.status == OpportunityStatus.WON and {"amount", "currency", "account", "contact"} & set(fields):
        raise CrmConflict(_("A won opportunity's amount and customer are final; change the order in ERP."))
    if "amount" in fields:
        fields["amount"] = _parse_amount(fields["amount"], errors)
        if fields["amount"] != opportunity.amount and opportunity.lines.exists():
            errors.setdefault("amount", []).append(_("The amount follows the products on the opportunity."))
    if "name" in fields and not (fields["name"] or "").strip():
        errors.setdefault("name", []).append(_("This field cannot be blank."))
    if "currency" in fields:
        fields["currency"] = (fields["currency"] or "").upper()
        if not CURRENCY_CODE.fullmatch(fields["currency"]):
            errors.setdefault("currency", []).append(_("Use a three-letter ISO currency code such as CNY."))
    links = {
        "account": fields.get("account", opportunity.account),
        "contact": fields.get("contact", opportunity.contact),
    }
    for key in ("owner", "team"):
        if key in fields:
            links[key] = fields[key]
    _check_links(opportunity.company_id, links, errors)
    if links["account"] is None and links["contact"] is None:
        errors.setdefault("account", []).append(_("An opportunity needs an account or a contact."))
    if custom is not None:
        try:
            merged = custom_values_merge(
                company_id=opportunity.company_id, target="opportunity", current=opportunity.custom, changes=custom
            )
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    changed = []
    for name, value in fields.items():
        if name == "name":
            value = " ".join(value.split())
        if getattr(opportunity, name) != value:
            setattr(opportunity, name, value)
            changed.append(name)
    if custom is not None and merged != opportunity.custom:
        opportunity.custom = merged
        changed.append("custom")
    search_text = opportunity_search_text(opportunity)
    if search_text != opportunity.search_text:
        opportunity.search_text = search_text
        changed.append("search_text")
    if changed:
        if {"owner", "team"} & set(changed):  # the funnel's pre-aggregate is kept per team and owner
            with funnel_reach_kept(company_id=opportunity.company_id, opportunity_ids=[opportunity.pk]):
                opportunity.save(update_fields=[*changed, "updated_at"])
        else:
            opportunity.save(update_fields=[*changed, "updated_at"])
    return opportunity


def _close_stage(opportunity: Opportunity, *, won: bool) -> Stage:
    stage = Stage.objects.filter(
        pipeline_id=opportunity.stage.pipeline_id, **{"is_won" if won else "is_lost": True}
    ).first()
    if stage is None:  # pragma: no cover - pipelines are created with both (pipeline_create)
        raise ValidationError({"stage": [_("This pipeline has no won or lost stage.")]})
    return stage


def _move(opportunity: Opportunity, stage: Stage, *, by, now) -> None:
    from_stage, entered_at = opportunity.stage, opportunity.stage_entered_at
    opportunity.stage = stage
    opportunity.stage_entered_at = now
    _record_stage_change(opportunity, from_stage=from_stage, entered_at=entered_at, by=by, now=now)


def _mark_customers_won(opportunity: Opportunity, *, by) -> None:
    """A won deal makes its account and contact customers (whatever stage they were in)."""
    from crm.services.customers import account_update, contact_update

    if opportunity.account_id and opportunity.account.lifecycle_stage != LifecycleStage.CUSTOMER:
        account_update(account=opportunity.account, by=by, lifecycle_stage=LifecycleStage.CUSTOMER)
    if opportunity.contact_id and opportunity.contact.lifecycle_stage != LifecycleStage.CUSTOMER:
        contact_update(contact=opportunity.contact, by=by, lifecycle_stage=LifecycleStage.CUSTOMER)


@transaction.atomic
def opportunity_move(
    *,
    opportunity: Opportunity,
    stage: Stage,
    by: User | None,
    lost_reason: LostReason | None = None,
    lost_note: str = "",
) -> Opportunity:
    """Move an opportunity to another stage of its pipeline (a kanban drag) and record the move.

    Moving to the won stage wins it (``opportunity_win``: publishes ``crm.opportunity.won``); to the lost stage
    loses it and needs ``lost_reason``; from the lost stage back to an open one reopens it. A won opportunity is
    final (``CrmConflict``). Moving to the stage it is in changes nothing. Locks the opportunity row.
    """
    opportunity = lock_opportunity(opportunity.pk)
    if stage.pk == opportunity.stage_id:
        return opportunity
    if stage.pipeline_id != opportunity.stage.pipeline_id or stage.company_id != opportunity.company_id:
        raise ValidationError({"stage": [_("Unknown stage.")]})
    if not stage.is_active:
        raise ValidationError({"stage": [_("This stage is no longer in use.")]})
    if stage.is_won:
        return opportunity_win(opportunity=opportunity, by=by)
    if stage.is_lost:
        if lost_reason is None:
            raise ValidationError({"lost_reason": [_("Say why the opportunity was lost.")]})
        return opportunity_lose(opportunity=opportunity, reason=lost_reason, note=lost_note, by=by)
    if opportunity.status == OpportunityStatus.WON:
        raise CrmConflict(_("A won opportunity is final; its order is handled in ERP."))
    now = timezone.now()
    _move(opportunity, stage, by=by, now=now)
    opportunity.status = OpportunityStatus.OPEN
    opportunity.closed_at = None
    opportunity.lost_reason = None
    opportunity.lost_note = ""
    opportunity.save(
        update_fields=["stage", "stage_entered_at", "status", "closed_at", "lost_reason", "lost_note", "updated_at"]
    )
    tell_deal_followers(
        opportunity,
        by=by,
        title=lambda: _("%(deal)s moved to %(stage)s") % {"deal": opportunity, "stage": local_name(stage)},
    )
    return opportunity


_WIN_LOCK = PreparedRead()
_PK_MARK = -940_000_002  # the placeholder of the primary key in the SQL compiled once


def _win_lock_query():
    return (
        Opportunity.objects.select_for_update(of=("self",))
        .annotate(
            won_stage=FilteredRelation("stage__pipeline__stages", condition=Q(stage__pipeline__stages__is_won=True))
        )
        .select_related("stage", "account", "contact", "won_stage")
        .filter(pk=_PK_MARK)
    )


_WIN_LINES = PreparedRead()


def _win_lines_query():  # what opportunity.lines.all() reads, in its order
    return OpportunityLine.objects.filter(opportunity_id=_PK_MARK)


@transaction.atomic
def opportunity_win(*, opportunity: Opportunity, by: User | None) -> Opportunity:
    """Mark the opportunity won: its pipeline's won stage, ``closed_at`` now, its account and contact become
    customers. Publishes ``crm.opportunity.won`` (ERP creates the sales order; payload in docs/events.md).

    Locks the opportunity row; safe to call twice (the second call changes and publishes nothing). A lost
    opportunity can be won (the customer came back). Its followers hear of it from the event
    (``crm.events.tell_followers_of_win``), which keeps the win's own queries as few as the loop needs.
    """
    # the lock with the account and contact (not locked) the win makes customers and the pipeline's won stage
    # (one per pipeline: crm_stage_one_won): one query, not four (issue #7 figure: the win is the loop's hot write)
    # (compiled once per process and planned once per connection: suite.prepared)
    found = _WIN_LOCK.fetch("opportunity_win", _win_lock_query, {_PK_MARK: opportunity.pk})
    if not found:
        raise Opportunity.DoesNotExist("Opportunity matching query does not exist.")
    opportunity = found[0]
    if opportunity.status == OpportunityStatus.WON:
        return opportunity
    if opportunity.won_stage is None:  # pragma: no cover - pipelines are created with both (pipeline_create)
        raise ValidationError({"stage": [_("This pipeline has no won or lost stage.")]})
    now = timezone.now()
    _move(opportunity, opportunity.won_stage, by=by, now=now)
    opportunity.status = OpportunityStatus.WON
    opportunity.closed_at = now
    opportunity.lost_reason = None
    opportunity.lost_note = ""
    opportunity.save(
        update_fields=["stage", "stage_entered_at", "status", "closed_at", "lost_reason", "lost_note", "updated_at"]
    )
    _mark_customers_won(opportunity, by=by)
    lines = _WIN_LINES.fetch("opportunity_win_lines", _win_lines_query, {_PK_MARK: opportunity.pk})
    events.publish(
        OPPORTUNITY_WON,
        opportunity_closed_payload(opportunity=opportunity, lines=lines),
        company_id=opportunity.company_id,
        by=by,
    )
    return opportunity


@transaction.atomic
def opportunity_lose(*, opportunity: Opportunity, reason: LostReason, by: User | None, note: str = "") -> Opportunity:
    """Mark the opportunity lost for ``reason`` (one of the company's lost reasons) with an optional note.

    Refuses a won opportunity (``CrmConflict``). Calling it again on a lost opportunity updates the reason and
    note without a new stage move or event. Locks the row; publishes ``crm.opportunity.lost``.
    """
    opportunity = lock_opportunity(opportunity.pk)
    if reason is None or reason.company_id != opportunity.company_id:
        raise ValidationError({"lost_reason": [_("Unknown lost reason.")]})
    if opportunity.status == OpportunityStatus.WON:
        raise CrmConflict(_("A won opportunity is final; its order is handled in ERP."))
    note = (note or "").strip()
    if opportunity.status == OpportunityStatus.LOST:
        if (opportunity.lost_reason_id, opportunity.lost_note) != (reason.pk, note):
            opportunity.lost_reason = reason
            opportunity.lost_note = note
            opportunity.save(update_fields=["lost_reason", "lost_note", "updated_at"])
        return opportunity
    now = timezone.now()
    _move(opportunity, _close_stage(opportunity, won=False), by=by, now=now)
    opportunity.status = OpportunityStatus.LOST
    opportunity.closed_at = now
    opportunity.lost_reason = reason
    opportunity.lost_note = note
    opportunity.save(
        update_fields=["stage", "stage_entered_at", "status", "closed_at", "lost_reason", "lost_note", "updated_at"]
    )
    events.publish(
        OPPORTUNITY_LOST, opportunity_closed_payload(opportunity=opportunity), company_id=opportunity.company_id, by=by
    )
    return opportunity


@transaction.atomic
def opportunity_delete(*, opportunity: Opportunity, by: User | None) -> None:
    """Delete an opportunity entered by mistake, with its stage history and activities. A won opportunity is
    kept (its order is in ERP): ``CrmConflict``. Locks the row; the audit trail keeps the values."""
    opportunity = lock_opportunity(opportunity.pk)
    if opportunity.status == OpportunityStatus.WON:
        raise CrmConflict(_("A won opportunity is kept; its order is handled in ERP."))
    with funnel_reach_kept(company_id=opportunity.company_id, opportunity_ids=[opportunity.pk]):
        opportunity.delete()


@transaction.atomic
def pipeline_update(*, pipeline: Pipeline, by: User | None, **fields: Any) -> Pipeline:
    """Rename a pipeline, make it the default (the previous default is cleared) or retire it (``is_active``;
    the default cannot be retired), or set ``stale_after_days`` (nudge owners of opportunities idle that
    long; ``None``: never). Locks the pipeline rows it changes."""
    allowed = {"name", "name_en", "is_default", "is_active", "sort_order", "stale_after_days"}
    if set(fields) - allowed:
        raise TypeError(f"unknown pipeline fields: {', '.join(sorted(set(fields) - allowed))}")
    stale = fields.get("stale_after_days")
    if stale is not None and (isinstance(stale, bool) or not isinstance(stale, int) or not 1 <= stale <= 365):
        raise ValidationError({"stale_after_days": [_("Give a number of days from 1 to 365, or leave it empty.")]})
    pipeline = lock_pipeline(pipeline.pk)
    if fields.get("is_default") is False and pipeline.is_default:
        raise ValidationError({"is_default": [_("Make another pipeline the default instead.")]})
    if fields.get("is_active") is False and (pipeline.is_default or fields.get("is_default")):
        raise ValidationError({"is_active": [_("The default pipeline stays active.")]})
    if fields.get("is_default") and not pipeline.is_default:
        for row in Pipeline.objects.select_for_update(of=("self",)).filter(
            company_id=pipeline.company_id, is_default=True
        ):
            row.is_default = False
            row.save(update_fields=["is_default", "updated_at"])
    for name, value in fields.items():
        setattr(pipeline, name, value.strip() if isinstance(value, str) else value)
    if not pipeline.name:
        raise ValidationError({"name": [_("This field cannot be blank.")]})
    try:
        with transaction.atomic():
            pipeline.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise ValidationError({"name": [_("A pipeline with this name exists.")]}) from None
    return pipeline


@transaction.atomic
def lost_reason_update(*, reason: LostReason, by: User | None, **fields: Any) -> LostReason:
    """Rename, reorder or retire a lost reason (retired reasons stay on the deals lost for them)."""
    allowed = {"name", "name_en", "is_active", "sort_order"}
    if set(fields) - allowed:
        raise TypeError(f"unknown lost reason fields: {', '.join(sorted(set(fields) - allowed))}")
    reason = LostReason.objects.select_for_update(of=("self",)).get(pk=reason.pk)
    for name, value in fields.items():
        setattr(reason, name, value.strip() if isinstance(value, str) else value)
    if not reason.name:
        raise ValidationError({"name": [_("This field cannot be blank.")]})
    try:
        with transaction.atomic():
            reason.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None
    return reason
