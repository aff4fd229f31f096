"""CRM writes of the closed loop's cash flow (flow 4): the customer finance facts kept from ERP, and the follow-up
task an overdue invoice gives the account owner. Called by the handlers in ``crm.events_finance``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import Account, Activity, ActivityKind, CustomerFinance
from crm.services.activities import activity_create
from erp.selectors.receivables import customer_finance_summary
from suite.models import Membership
from suite.services.notifications import notification_send

# The first key of the advisory lock that serialises the refreshes of one account (the second is its id).
FINANCE_LOCK_KEY = 74_210_004


class CustomerFinanceBusy(Exception):
    """Another transaction is refreshing this account's figures; the relay retries the event later."""


def _lock_account_finance(account_id: int) -> None:
    # One refresh per account at a time, so a refresh that read older ERP figures can never commit after one that
    # read newer figures. A busy account fails fast (the relay backs off and retries) instead of holding a relay.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [FINANCE_LOCK_KEY, account_id])
        if not cursor.fetchone()[0]:
            raise CustomerFinanceBusy(f"the finance facts of account {account_id} are being refreshed")


def _live_account(company_id: int, account_id: int) -> Account | None:
    return Account.objects.filter(pk=account_id, company_id=company_id).only("pk").first()


@transaction.atomic
def customer_finance_refresh(
    *, company_id: int, account_id: int, source_event_id: int | None = None
) -> CustomerFinance | None:
    """Rebuild the account's ``CustomerFinance`` row from ERP's current figures
    (``erp.selectors.receivables.customer_finance_summary``): absolute figures, so a redelivered, late or
    out-of-order event leaves the same, current result. Takes a per-account advisory lock (``CustomerFinanceBusy``
    when another transaction holds it). Unknown accounts (or another company's) are ignored. Publishes nothing."""
    account = _live_account(company_id, account_id)
    if account is None:
        return None
    _lock_account_finance(account.pk)
    summary = customer_finance_summary(company_id=company_id, crm_account_id=account.pk)
    facts, _created = CustomerFinance.objects.update_or_create(
        account_id=account.pk,
        defaults={
            "company_id": company_id,
            "currency": summary["currency"],
            "outstanding": summary["outstanding"],
            "overdue": max(summary["overdue"], Decimal("0.00")),
            "lifetime_revenue": summary["lifetime_revenue"],
            "credit_limit": summary["credit_limit"],
            "last_payment_date": summary["last_payment_date"],
            "last_payment_amount": summary["last_payment_amount"],
            "erp_partner_id": summary["partner_id"],
            "source_event_id": source_event_id,
            "refreshed_at": timezone.now(),
        },
    )
    return facts


@transaction.atomic
def overdue_invoice_follow_up_create(
    *,
    company_id: int,
    account_id: int,
    invoice_id: int,
    number: str,
    amount_due: Decimal,
    currency: str,
    due_date: str,
    days_overdue: int,
) -> Activity | None:
    """A follow-up task for the account owner about an overdue invoice, due tomorrow, and a notification, both
    in the owner's language (``Membership.language``; else the language active now). One per invoice (keyed
    ``[erp-invoice-overdue:<id>]`` at the end of the task's details; a redelivery finds it). Accounts without an
    owner, unknown or of another company get none; an owner who is no longer an active member gets the task but
    no notification. Publishes nothing."""
    account = Account.objects.select_related("company", "owner").filter(pk=account_id, company_id=company_id).first()
    if account is None or account.owner_id is None:
        return None
    marker = f"[erp-invoice-overdue:{invoice_id}]"
    existing = Activity.objects.filter(company_id=company_id, account=account, body__endswith=marker).first()
    if existing is not None:
        return existing

    def subject() -> str:
        return _("Collect overdue invoice %(number)s: %(amount)s %(currency)s, %(days)s days late") % {
            "number": number,
            "amount": amount_due,
            "currency": currency,
            "days": days_overdue,
        }

    def body() -> str:
        return _("Invoice %(number)s of %(account)s was due on %(due)s.") % {
            "number": number,
            "account": account.name,
            "due": due_date,
        }

    # None: not an active member (no notification); "": a member who never used the site
    language = (
        Membership.objects.filter(company_id=company_id, user_id=account.owner_id, is_active=True)
        .values_list("language", flat=True)
        .first()
    )
    with translation.override(language or translation.get_language()):
        owners_subject, owners_body = subject(), body()
    task = activity_create(
        company=account.company,
        by=None,
        owner=account.owner,
        account=account,
        kind=ActivityKind.TASK,
        subject=owners_subject[:200],
        body=f"{owners_body}\n{marker}",
        due_at=timezone.now() + timedelta(days=1),
    )
    if language is not None:
        notification_send(
            recipients=[account.owner_id],
            company=account.company,
            title=subject,
            body=body,
            link=reverse("crm:account-detail", args=[account.pk]),
            level="warning",
        )
    return task
