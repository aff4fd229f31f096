"""Quote approval (报价审批): a quote that gives more discount than a salesperson may, or totals more than the
company's limit, goes to the customer only after a manager says yes (``QuoteApprovalRule``).

``quote_create`` marks such a quote ``required`` with the figures it goes beyond the rule by
(``approval_facts_for``); ``quote_send`` (and so the quote e-mail) refuses it until it is ``approved`` — the
database refuses a sent quote that is not. The
salesperson asks (``quote_approval_request`` → ``pending``, the approvers are notified); a manager of the deal's
team (or of a team above it; else the company's admins) approves or declines with a note — never their own quote
(four eyes); a discount beyond the rule's second level needs that yes and then an admin's (二级审批, the trail kept
as ``QuoteApprovalDecision``). A declined quote stays a draft:
the salesperson makes a new version with other prices.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import QuoteApprovalError
from crm.models import Quote, QuoteApproval, QuoteApprovalDecision, QuoteApprovalLevel, QuoteApprovalRule, QuoteState
from suite.models import Company, Membership, Role, Team
from suite.selectors import is_company_admin
from suite.services.notifications import notification_send
from suite.templatetags.troika import person_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

RULE_FIELDS = frozenset({"is_active", "max_discount_percent", "admin_discount_percent", "max_total"})


def approval_rule_of(company_id: int) -> QuoteApprovalRule:
    """The company's rule, or an unsaved inactive one with the defaults."""
    return QuoteApprovalRule.objects.filter(company_id=company_id).first() or QuoteApprovalRule(company_id=company_id)


@transaction.atomic
def approval_rule_set(*, company: Company, by: User | None, **fields) -> QuoteApprovalRule:
    """Create or change the company's quote approval rule (only the fields given); field errors as
    ``ValidationError``, nothing saved then."""
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise TypeError(f"unknown quote approval rule fields: {', '.join(sorted(unknown))}")
    rule = QuoteApprovalRule.objects.select_for_update().filter(company=company).first()
    rule = rule or QuoteApprovalRule(company=company)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.full_clean(exclude=["company"], validate_unique=False)
    rule.save()
    return rule


def approval_facts_for(*, company_id: int, lines, total: Decimal, currency: str) -> tuple[dict, bool]:
    """What about a quote of these lines and total goes beyond the company's rule — ``{}`` when nothing does —
    and whether an admin must approve it too (a discount beyond the rule's second level). The facts are figures
    (``crm.models.quotes.approval_reason_text`` says them in the reader's language)."""
    rule = approval_rule_of(company_id)
    if not rule.is_active:
        return {}, False
    facts = {}
    deepest = max(lines, key=lambda line: line.discount_percent, default=None)
    by_admin = bool(
        deepest is not None
        and rule.admin_discount_percent is not None
        and deepest.discount_percent > rule.admin_discount_percent
    )
    if deepest is not None and deepest.discount_percent > rule.max_discount_percent:
        facts["discount"] = {
            "product": deepest.product_name,
            "percent": str(deepest.discount_percent),
            "limit": str(rule.max_discount_percent),
        }
    if rule.max_total is not None and total > rule.max_total:
        facts["total"] = {"amount": str(total), "currency": currency, "limit": str(rule.max_total)}
    return facts, by_admin


def _team_managers(quote: Quote, active) -> list[int]:
    """The active managers (or admins) heading the deal's team and the teams above it, nearest first."""
    managers, team = (
        [],
        Team.objects.filter(pk=quote.opportunity.team_id).first() if quote.opportunity.team_id else None,
    )
    for _level in range(10):  # teams nest; a loop in the data ends here
        if team is None:
            break
        if team.manager_id:
            managers.append(team.manager_id)
        team = team.parent
    chosen = set(
        active.filter(user_id__in=managers, role__in=(Role.MANAGER, Role.ADMIN)).values_list("user_id", flat=True)
    )
    return [user_id for user_id in dict.fromkeys(managers) if user_id in chosen]


def approval_levels_of(quote: Quote) -> list[str]:
    """The levels a quote's approval passes, in turn (二级审批): the team's manager when the deal's team (or a team
    above it) has one, then an admin for a discount beyond the rule's second level — or an admin alone when there
    is no manager."""
    active = Membership.objects.filter(company_id=quote.company_id, is_active=True).exclude(user_id=quote.created_by_id)
    levels = [QuoteApprovalLevel.MANAGER] if _team_managers(quote, active) else []
    if quote.approval_by_admin or not levels:
        levels.append(QuoteApprovalLevel.ADMIN)
    return levels


def approvers_of(quote: Quote, level: str | None = None) -> list[int]:
    """Who is asked for a yes at ``level`` (by default the one the quote waits for, or its first): the managers
    of the deal's team and of the teams above it, or the company's admins — active members, never its maker.
    Any admin may decide at either level (``_may_decide``)."""
    active = Membership.objects.filter(company_id=quote.company_id, is_active=True).exclude(user_id=quote.created_by_id)
    level = level or quote.approval_level or approval_levels_of(quote)[0]
    if level == QuoteApprovalLevel.MANAGER:
        return _team_managers(quote, active)
    return list(active.filter(role=Role.ADMIN).values_list("user_id", flat=True))


def _may_decide(quote: Quote, user) -> bool:
    """Any admin of the company, at either level (notified only at theirs, they may always decide); at the
    manager level, the deal team's managers — never the maker (checked before)."""
    return is_company_admin(quote.company_id, user) or (
        quote.approval_level == QuoteApprovalLevel.MANAGER and user.pk in approvers_of(quote)
    )


def _lock(quote: Quote) -> Quote:
    return Quote.objects.select_for_update(of=("self",)).select_related("opportunity").get(pk=quote.pk)


def _note(note: str) -> str:
    return " ".join((note or "").split())[:300]


def _ask(quote: Quote, level: str, *, after=None) -> None:
    """Tell the approvers at ``level`` that the quote waits for them, each in their language (``after``: a function
    saying the yes it already has)."""

    def body() -> str:  # the reason in each approver's language (the quote keeps it as figures)
        said = f"{quote.customer_name} · {quote.total} {quote.currency} · {quote.approval_reason}"
        return f"{said} · {after()}" if after else said

    notification_send(
        recipients=approvers_of(quote, level),
        company=quote.company,
        title=lambda: _("Quote %(number)s waits for your approval") % {"number": quote.display_number},
        body=body,
        link=reverse("crm:opportunity-detail", args=[quote.opportunity_id]),
    )


@transaction.atomic
def quote_approval_request(*, quote: Quote, by: User | None, note: str = "") -> Quote:
    """Ask for approval of a draft quote that needs it; the approvers of its first level are notified. Asking
    again while it is pending changes nothing. Refused (``QuoteApprovalError``): a quote that needs none, is
    approved or declined (make a new version), is no longer a draft, or that nobody can approve."""
    quote = _lock(quote)
    if quote.approval == QuoteApproval.PENDING:
        return quote
    if quote.state != QuoteState.DRAFT or quote.approval != QuoteApproval.REQUIRED:
        raise QuoteApprovalError(_("Only a draft quote that needs approval can be put forward."))
    level = approval_levels_of(quote)[0]
    if not approvers_of(quote, level):
        raise QuoteApprovalError(
            _("Nobody can approve this quote: the deal's team has no manager and there is no admin.")
        )
    quote.approval = QuoteApproval.PENDING
    quote.approval_level = level
    quote.approval_requested_at = timezone.now()
    quote.approval_note = _note(note)
    quote.save(update_fields=["approval", "approval_level", "approval_requested_at", "approval_note", "updated_at"])
    _ask(quote, level)
    return quote


def _decide(quote: Quote, *, by, note: str, outcome: str) -> Quote:
    """Record ``by``'s yes or no at the level the quote waits for. A manager's yes on a quote beyond the second
    level passes it on to the admins (still pending); any other yes, and every no, decides."""
    quote = _lock(quote)
    if quote.approval != QuoteApproval.PENDING:
        raise QuoteApprovalError(_("This quote is not waiting for approval."))
    if by is not None and by.pk == quote.created_by_id:
        raise QuoteApprovalError(_("A quote is approved by someone other than the one who made it."))
    admin = by is None or is_company_admin(quote.company_id, by)
    if not admin and not _may_decide(quote, by):
        raise QuoteApprovalError(
            _("An admin decides on this quote now.")
            if quote.approval_level == QuoteApprovalLevel.ADMIN
            else _("Only a manager of the deal's team (or an admin) decides on this quote.")
        )
    note = _note(note)
    if outcome == QuoteApproval.DECLINED and not note:
        raise ValidationError({"note": _("Say why, so the salesperson knows what to change.")})
    now = timezone.now()
    level = QuoteApprovalLevel.ADMIN if admin and by is not None else quote.approval_level
    QuoteApprovalDecision.objects.create(
        company_id=quote.company_id, quote=quote, level=level, outcome=outcome, decided_by=by, decided_at=now, note=note
    )
    if outcome == QuoteApproval.APPROVED and level == QuoteApprovalLevel.MANAGER and quote.approval_by_admin:
        quote.approval_level = QuoteApprovalLevel.ADMIN
        quote.save(update_fields=["approval_level", "updated_at"])

        def after() -> str:
            said = _("approved by %(name)s") % {"name": person_name(by)}
            return f"{said}: {note}" if note else said

        _ask(quote, QuoteApprovalLevel.ADMIN, after=after)
        return quote
    quote.approval = outcome
    quote.approval_level = QuoteApprovalLevel.NONE
    quote.approval_decided_at = now
    quote.approval_decided_by = by
    quote.approval_note = note
    quote.save(
        update_fields=[
            "approval",
            "approval_level",
            "approval_decided_at",
            "approval_decided_by",
            "approval_note",
            "updated_at",
        ]
    )
    if (
        quote.created_by_id
        and Membership.objects.filter(company_id=quote.company_id, user_id=quote.created_by_id, is_active=True).exists()
    ):

        def title() -> str:  # in the maker's language
            said = (
                _("Quote %(number)s is approved: you may send it")
                if outcome == QuoteApproval.APPROVED
                else _("Quote %(number)s was declined")
            )
            return said % {"number": quote.display_number}

        notification_send(
            recipients=[quote.created_by_id],
            company=quote.company,
            title=title,
            body=note,
            link=reverse("crm:opportunity-detail", args=[quote.opportunity_id]),
        )
    return quote


@transaction.atomic
def quote_approve(*, quote: Quote, by: User | None, note: str = "") -> Quote:
    """Approve a pending quote: its maker may send it then — or, a manager's yes on a quote beyond the rule's
    second level, it goes on to the admins. Refused (``QuoteApprovalError``): not pending, one's own quote, or
    someone who may not decide at the level it waits for."""
    return _decide(quote, by=by, note=note, outcome=QuoteApproval.APPROVED)


@transaction.atomic
def quote_decline(*, quote: Quote, by: User | None, note: str) -> Quote:
    """Decline a pending quote, saying why (``note`` required). It stays a draft that cannot be sent."""
    return _decide(quote, by=by, note=note, outcome=QuoteApproval.DECLINED)
