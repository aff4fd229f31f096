"""Property-based test of the ledger (acceptance 2, the ledger part): random sequences of postings (single and in
batches), refused postings, reversals and period closes/reopens keep the trial balance at zero, the period
balances equal to the sum of posted lines, the numbering gap-free and the hash chain intact."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from erp.models import AccountPeriodBalance, JournalEntry, PeriodState
from erp.selectors import finance as reports
from erp.services import finance as svc
from erp.tests.finance_support import balances_equal_lines, make_ledger, posted_totals
from suite.models import Role
from suite.testing import make_member

CODES = ("1001", "1002", "1122", "1405", "2202", "22210102", "4001", "6001", "6401", "6602")
MONTHS = st.integers(min_value=1, max_value=4)
CENTS = st.integers(min_value=1, max_value=10_000_000)  # 0.01 … 100,000.00


@st.composite
def balanced_lines(draw):
    """2–5 lines whose debits equal their credits, on random accounts."""
    debits = draw(st.lists(CENTS, min_size=1, max_size=3))
    total = sum(debits)
    credit_count = draw(st.integers(min_value=1, max_value=min(3, total)))
    cuts = (
        sorted(
            draw(st.lists(st.integers(1, total - 1), min_size=credit_count - 1, max_size=credit_count - 1, unique=True))
        )
        if credit_count > 1
        else []
    )
    bounds = [0, *cuts, total]
    credits = [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]
    accounts = st.sampled_from(CODES)
    lines = [(draw(accounts), Decimal(c) / 100, 0) for c in debits]
    lines += [(draw(accounts), 0, Decimal(c) / 100) for c in credits]
    return draw(st.permutations(lines))


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.ledger = make_ledger()
        self.admin = make_member(self.ledger.company, Role.ADMIN).user
        self.posted: list[int] = []
        self.reversed: set[int] = set()
        self.closed: set[int] = set()

    def _is_open(self, month: int) -> bool:
        return month not in self.closed

    @rule(month=MONTHS, day=st.integers(1, 28), lines=balanced_lines())
    def post_one(self, month, day, lines):
        try:
            entry = self.ledger.post(date(2025, month, day), *lines)
        except ValidationError as error:
            assert not self._is_open(month) and "date" in error.message_dict
            return
        assert self._is_open(month)
        self.posted.append(entry.pk)

    @rule(batch=st.lists(st.tuples(MONTHS, balanced_lines()), min_size=1, max_size=6))
    def post_batch(self, batch):
        specs = [
            svc.EntrySpec(journal=self.ledger.journal, date=date(2025, month, 15), lines=self.ledger.lines(*lines))
            for month, lines in batch
        ]
        try:
            entries = svc.journal_entries_post_many(company=self.ledger.company, entries=specs)
        except ValidationError:
            assert any(not self._is_open(month) for month, _ in batch)
            return
        assert all(self._is_open(month) for month, _ in batch)
        self.posted.extend(entry.pk for entry in entries)

    @rule(month=MONTHS, lines=balanced_lines(), skew=st.integers(1, 999))
    def unbalanced_is_refused(self, month, lines, skew):
        code, debit, credit = lines[0]
        lines = [
            (code, debit + Decimal(skew) / 100 if debit else 0, credit + Decimal(skew) / 100 if credit else 0),
            *lines[1:],
        ]
        count = JournalEntry.objects.filter(company=self.ledger.company).count()
        with pytest.raises(ValidationError):
            self.ledger.post(date(2025, month, 3), *lines)
        assert JournalEntry.objects.filter(company=self.ledger.company).count() == count

    @precondition(lambda self: len(self.posted) > len(self.reversed))
    @rule(data=st.data())
    def reverse(self, data):
        candidates = [pk for pk in self.posted if pk not in self.reversed]
        original = JournalEntry.objects.select_related("period").get(pk=data.draw(st.sampled_from(candidates)))
        month = original.period.number
        try:
            reversal = svc.journal_entry_reverse(entry=original)
        except ValidationError:
            assert not self._is_open(month)
            return
        assert self._is_open(month)
        self.reversed.add(original.pk)
        self.posted.append(reversal.pk)

    @rule(month=MONTHS)
    def close(self, month):
        svc.period_close(period=self.ledger.period(month))
        self.closed.add(month)

    @precondition(lambda self: self.closed)
    @rule(data=st.data())
    def reopen(self, data):
        month = data.draw(st.sampled_from(sorted(self.closed)))
        svc.period_reopen(period=self.ledger.period(month), by=self.admin, reason="property test")
        self.closed.discard(month)

    @invariant()
    def trial_balance_is_zero_and_balances_equal_lines(self):
        company = self.ledger.company
        debit, credit = posted_totals(company)
        assert debit == credit
        assert balances_equal_lines(company) == []
        sums = AccountPeriodBalance.objects.filter(company=company).aggregate(d=Sum("debit"), c=Sum("credit"))
        assert (sums["d"] or 0) == (sums["c"] or 0) == debit
        report = reports.trial_balance(period_from=self.ledger.period(1), period_to=self.ledger.period(12))
        assert report.is_balanced and report.totals.period_debit == debit

    @invariant()
    def numbering_is_gap_free(self):
        numbers = list(
            JournalEntry.objects.filter(company=self.ledger.company, state="posted")
            .order_by("number")
            .values_list("number", flat=True)
        )
        assert numbers == list(range(1, len(self.posted) + 1))

    @invariant()
    def periods_match_the_model(self):
        closed = set(self.ledger.year.periods.filter(state=PeriodState.CLOSED).values_list("number", flat=True))
        assert closed == self.closed

    def teardown(self):
        result = svc.ledger_verify(company=self.ledger.company)
        assert result.ok and result.checked_entries == len(self.posted)


@pytest.mark.slow
@pytest.mark.django_db
def test_random_ledger_histories_keep_the_books_straight():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
