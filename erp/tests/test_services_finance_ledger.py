"""Journal entries through the services: drafts, posting (numbers, hashes, balances, events), reversal, periods."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from erp.models import AccountPeriodBalance, EntryState, JournalEntry, PeriodState
from erp.services import finance as svc
from erp.tests.finance_support import balances_equal_lines
from suite.models import OutboxEvent

pytestmark = pytest.mark.django_db

JAN = date(2025, 1, 15)


def test_post_numbers_hashes_and_counts_in_balances(ledger, finance_user):
    draft = ledger.draft(JAN, ("1002", "1000.00", 0), ("4001", 0, "1000.00"), memo="股东投入", by=finance_user)
    assert draft.state == EntryState.DRAFT and draft.number is None and draft.entry_hash == ""

    posted = svc.journal_entry_post(entry=draft, by=finance_user)

    posted.refresh_from_db()
    assert posted.state == EntryState.POSTED and posted.number == 1 and posted.chain_position == 1
    assert posted.previous_hash == "" and len(posted.entry_hash) == 64
    assert posted.posted_by == finance_user and posted.posted_at is not None
    assert posted.display_number == "GEN-2025-000001"
    balance = AccountPeriodBalance.objects.get(account=ledger.account("1002"), period=ledger.period(1))
    assert (balance.debit, balance.credit) == (Decimal("1000.00"), Decimal("0.00"))
    assert balances_equal_lines(ledger.company) == []
    event = OutboxEvent.objects.get(name="erp.journal_entry.posted")
    assert event.payload["entry_id"] == posted.pk and event.payload["total"] == "1000.00"
    assert event.payload["number"] == 1 and event.company_id == ledger.company.pk


def test_second_entry_chains_to_the_first(ledger):
    first = ledger.post(JAN, ("1002", "10.00", 0), ("4001", 0, "10.00"))
    second = ledger.post(JAN, ("1002", "20.00", 0), ("4001", 0, "20.00"))
    assert second.number == 2 and second.chain_position == 2
    assert second.previous_hash == first.entry_hash != second.entry_hash


def test_posting_twice_changes_nothing(ledger):
    entry = ledger.post(JAN, ("1002", "10.00", 0), ("4001", 0, "10.00"))
    again = svc.journal_entry_post(entry=entry)
    assert again.number == entry.number and again.entry_hash == entry.entry_hash
    assert JournalEntry.objects.filter(company=ledger.company, state="posted").count() == 1


def test_unbalanced_draft_is_kept_but_not_posted(ledger):
    draft = ledger.draft(JAN, ("1002", "100.00", 0), ("4001", 0, "90.00"))
    with pytest.raises(ValidationError) as error:
        svc.journal_entry_post(entry=draft)
    assert "lines" in error.value.message_dict
    assert "100.00" in error.value.message_dict["lines"][0] and "90.00" in error.value.message_dict["lines"][0]
    draft.refresh_from_db()
    assert draft.state == EntryState.DRAFT and draft.number is None


def test_bad_lines_are_clear_errors_and_write_nothing(ledger):
    before = JournalEntry.objects.count()
    cases = [
        ((("1002", "-5.00", 0), ("4001", 0, "-5.00")), "lines.0.debit"),
        ((("1002", "5.00", "5.00"), ("4001", 0, "5.00")), "lines.0.debit"),
        ((("1002", 0, 0), ("4001", 0, "5.00")), "lines.0.debit"),
        ((("1002", "5.001", 0), ("4001", 0, "5.00")), "lines.0.debit"),
        ((("1002", "1" * 30, 0), ("4001", 0, "5.00")), "lines.0.debit"),
        ((("1002", "NaN", 0), ("4001", 0, "5.00")), "lines.0.debit"),
        ((("1002", "abc", 0), ("4001", 0, "5.00")), "lines.0.debit"),
        ((("1002", "5.00", 0), ("4001", 0, "Infinity")), "lines.1.credit"),
    ]
    for pairs, key in cases:
        with pytest.raises(ValidationError) as error:
            ledger.post(JAN, *pairs)
        assert key in error.value.message_dict, (pairs, error.value.message_dict)
    with pytest.raises(ValidationError) as error:
        ledger.post(JAN, ("1002", "5.00", 0))
    assert "lines" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        ledger.post(date(2026, 1, 1), ("1002", "5.00", 0), ("4001", 0, "5.00"))
    assert "date" in error.value.message_dict
    assert JournalEntry.objects.count() == before


def test_accounts_of_another_company_are_unknown(ledger):
    from erp.tests.finance_support import make_ledger

    other = make_ledger()
    with pytest.raises(ValidationError) as error:
        svc.journal_entry_create(
            company=ledger.company,
            journal=ledger.journal,
            date=JAN,
            lines=[
                svc.LineSpec(account=other.account("1002"), debit="1"),
                svc.LineSpec(account=ledger.account("4001"), credit="1"),
            ],
        )
    assert list(error.value.message_dict) == ["lines.0.account"]
    with pytest.raises(ValidationError) as error:
        svc.journal_entry_create(
            company=ledger.company, journal=other.journal, date=JAN, lines=ledger.lines(("1002", 1, 0))
        )
    assert "journal" in error.value.message_dict


def test_foreign_currency_line_is_converted_and_rounded(ledger):
    entry = svc.journal_entry_create(
        company=ledger.company,
        journal=ledger.journal,
        date=JAN,
        lines=[
            svc.LineSpec(account=ledger.account("1002"), debit="100.00", currency="USD", exchange_rate="7.123456"),
            svc.LineSpec(account=ledger.account("6001"), credit="712.35"),
        ],
        post=True,
    )
    usd = entry.lines.get(line_no=1)
    assert usd.currency == "USD" and usd.amount_currency == Decimal("100.00")
    assert usd.exchange_rate == Decimal("7.123456") and usd.debit == Decimal("712.35")
    with pytest.raises(ValidationError) as error:
        svc.journal_entry_create(
            company=ledger.company,
            journal=ledger.journal,
            date=JAN,
            lines=[svc.LineSpec(account=ledger.account("1002"), debit="1", exchange_rate="2")],
        )
    assert "lines.0.exchange_rate" in error.value.message_dict


def test_reverse_posts_the_mirror_and_only_once(ledger, finance_user):
    sale = ledger.sale(JAN)
    reversal = svc.journal_entry_reverse(entry=sale, by=finance_user)

    assert reversal.state == EntryState.POSTED and reversal.reversal_of == sale and reversal.number == 2
    mirrored = {(x.account.code, x.debit, x.credit) for x in reversal.lines.select_related("account")}
    original = {(x.account.code, x.credit, x.debit) for x in sale.lines.select_related("account")}
    assert mirrored == original
    for balance in AccountPeriodBalance.objects.filter(company=ledger.company):
        assert balance.debit == balance.credit
    with pytest.raises(svc.LedgerConflict) as error:
        svc.journal_entry_reverse(entry=sale)
    assert error.value.code == "entry_reversed"
    assert balances_equal_lines(ledger.company) == []


def test_reverse_a_draft_is_refused(ledger):
    draft = ledger.draft(JAN, ("1002", "1.00", 0), ("4001", 0, "1.00"))
    with pytest.raises(svc.LedgerConflict):
        svc.journal_entry_reverse(entry=draft)


def test_drafts_can_change_posted_entries_cannot(ledger):
    draft = ledger.draft(JAN, ("1002", "1.00", 0), ("4001", 0, "2.00"))
    updated = svc.journal_entry_update(
        entry=draft, lines=ledger.lines(("1002", "2.00", 0), ("4001", 0, "2.00")), memo="改"
    )
    assert updated.memo == "改" and updated.lines.count() == 2
    svc.journal_entry_post(entry=updated)
    with pytest.raises(svc.LedgerConflict):
        svc.journal_entry_update(entry=updated, memo="再改")
    with pytest.raises(svc.LedgerConflict):
        svc.journal_entry_delete(entry=updated)
    other = ledger.draft(JAN, ("1002", "1.00", 0), ("4001", 0, "1.00"))
    svc.journal_entry_delete(entry=other)
    assert not JournalEntry.objects.filter(pk=other.pk).exists()


def test_closed_period_refuses_posting_and_reopen_is_admin_only(ledger, finance_user, finance_admin):
    january = ledger.period(1)
    draft = ledger.draft(JAN, ("1002", "1.00", 0), ("4001", 0, "1.00"))
    closed = svc.period_close(period=january, by=finance_user)
    assert closed.state == PeriodState.CLOSED and closed.closed_by == finance_user

    with pytest.raises(ValidationError) as error:
        svc.journal_entry_post(entry=draft)
    assert list(error.value.message_dict) == ["date"]
    with pytest.raises(ValidationError):
        ledger.post(JAN, ("1002", "1.00", 0), ("4001", 0, "1.00"))
    with pytest.raises(PermissionDenied):
        svc.period_reopen(period=january, by=finance_user, reason="补记")
    with pytest.raises(ValidationError):
        svc.period_reopen(period=january, by=finance_admin, reason=" ")

    reopened = svc.period_reopen(period=january, by=finance_admin, reason="补记一月份运费")
    assert reopened.state == PeriodState.OPEN and reopened.reopened_by == finance_admin
    assert reopened.reopen_reason == "补记一月份运费"
    assert svc.journal_entry_post(entry=draft).number == 1
    names = list(OutboxEvent.objects.order_by("id").values_list("name", flat=True))
    assert names == ["erp.period.closed", "erp.period.reopened", "erp.journal_entry.posted"]


def test_source_key_makes_generated_postings_idempotent(ledger):
    first = ledger.post(JAN, ("1405", "50.00", 0), ("2202", 0, "50.00"), source_key="inventory.receipt:7")
    second = ledger.post(JAN, ("1405", "50.00", 0), ("2202", 0, "50.00"), source_key="inventory.receipt:7")
    assert first.pk == second.pk
    assert JournalEntry.objects.filter(company=ledger.company).count() == 1


def test_numbering_is_per_journal_and_fiscal_year(ledger):
    from erp.models import Journal

    sales = Journal.objects.get(company=ledger.company, code="SAL")
    next_year = svc.fiscal_year_create(company=ledger.company, start_date=date(2026, 1, 1))
    a = ledger.post(JAN, ("1002", 1, 0), ("6001", 0, 1))
    b = ledger.post(JAN, ("1002", 1, 0), ("6001", 0, 1), journal=sales)
    c = ledger.post(date(2026, 2, 1), ("1002", 1, 0), ("6001", 0, 1))
    d = ledger.post(JAN, ("1002", 1, 0), ("6001", 0, 1))
    assert (a.number, b.number, c.number, d.number) == (1, 1, 1, 2)
    assert c.fiscal_year == next_year
    # one chain per journal, across fiscal years
    assert (a.chain_position, c.chain_position, d.chain_position) == (1, 2, 3)
    assert d.previous_hash == c.entry_hash


def test_post_many_numbers_in_order_and_keeps_balances(ledger, finance_user):
    specs = [
        svc.EntrySpec(
            journal=ledger.journal,
            date=date(2025, 1 + i % 3, 10),
            lines=ledger.lines(("1002", i + 1, 0), ("6001", 0, i + 1)),
        )
        for i in range(30)
    ]
    posted = svc.journal_entries_post_many(company=ledger.company, entries=specs, by=finance_user)
    assert [e.number for e in posted] == list(range(1, 31))
    assert balances_equal_lines(ledger.company) == []
    [event] = OutboxEvent.objects.filter(name__startswith="erp.journal_entr")
    assert event.name == "erp.journal_entries.posted" and event.payload["count"] == 30
    assert event.payload["entry_ids"] == [e.pk for e in posted]
    assert event.payload["total"] == f"{sum(range(1, 31))}.00"
    result = svc.ledger_verify(company=ledger.company)
    assert result.ok and result.checked_entries == 30


def test_post_many_refuses_the_whole_batch_on_one_bad_entry(ledger):
    specs = [
        svc.EntrySpec(journal=ledger.journal, date=JAN, lines=ledger.lines(("1002", 1, 0), ("6001", 0, 1))),
        svc.EntrySpec(journal=ledger.journal, date=JAN, lines=ledger.lines(("1002", 2, 0), ("6001", 0, 1))),
    ]
    with pytest.raises(ValidationError) as error:
        svc.journal_entries_post_many(company=ledger.company, entries=specs)
    assert list(error.value.message_dict) == ["entries.1.lines"]
    assert not JournalEntry.objects.filter(company=ledger.company).exists()


def test_verify_ledger_is_ok_on_an_untouched_ledger(ledger):
    for day in (1, 2, 3):
        ledger.sale(date(2025, 1, day))
    svc.journal_entry_reverse(entry=JournalEntry.objects.filter(company=ledger.company).first())
    result = svc.ledger_verify(company=ledger.company)
    assert result.ok and result.checked_entries == 4 and result.first_broken is None
