"""The ledger's rules hold in PostgreSQL itself (acceptance 1): raw SQL cannot post an unbalanced entry, change
or delete a posted entry or line, post into a closed period or leave a gap in the numbering; and concurrent
posting from several connections numbers 1..N without a gap or a duplicate.

These tests commit for real (``transaction=True``): the balance check is a deferred constraint trigger that
fires at COMMIT, and the concurrency tests need transactions that other connections can see.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, connections, transaction

from erp.models import AccountPeriodBalance, EntryState, JournalEntry, JournalLine, PeriodState
from erp.services import finance as svc
from erp.tests.finance_support import balances_equal_lines, make_ledger

pytestmark = pytest.mark.django_db(transaction=True)

JAN = date(2025, 1, 20)
FAKE_HASH = "ab" * 32


def raw(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def raw_post(entry: JournalEntry, *, number: int = 1, position: int = 1, previous_hash: str = "") -> None:
    """Post ``entry`` behind the services' back: what a script with database access could try."""
    raw(
        "UPDATE erp_journalentry SET state = 'posted', number = %s, chain_position = %s, previous_hash = %s, "
        "entry_hash = %s, posted_at = now() WHERE id = %s",
        [number, position, previous_hash, FAKE_HASH, entry.pk],
    )


@pytest.fixture
def ledger():
    return make_ledger()


# ---------------------------------------------------------------- balance


def test_raw_sql_cannot_post_an_unbalanced_entry(ledger):
    draft = ledger.draft(JAN, ("1002", "100.00", 0), ("6001", 0, "99.99"))

    # The UPDATE itself is accepted (the check is deferred); COMMIT, at the end of the atomic block, fails.
    with pytest.raises(IntegrityError, match=r"not balanced: debit 100\.00 <> credit 99\.99"), transaction.atomic():
        raw_post(draft)

    draft.refresh_from_db()
    assert draft.state == EntryState.DRAFT and draft.number is None
    assert not AccountPeriodBalance.objects.filter(company=ledger.company).exists()


def test_raw_sql_cannot_post_an_entry_with_one_line_or_none(ledger):
    draft = ledger.draft(JAN, ("1002", "100.00", 0))
    with pytest.raises(IntegrityError, match="needs at least two"), transaction.atomic():
        raw_post(draft)
    empty = JournalEntry.objects.create(
        company=ledger.company, journal=ledger.journal, fiscal_year=ledger.year, period=ledger.period(1), date=JAN
    )
    with pytest.raises(IntegrityError, match="needs at least two"), transaction.atomic():
        raw_post(empty)


def raw_insert_posted(ledger, *, number: int = 1, position: int = 1, previous_hash: str = "") -> int:
    """Insert an entry already posted, as a script with database access could."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO erp_journalentry (company_id, journal_id, fiscal_year_id, period_id, date, number, state, "
            "memo, reference, source_key, chain_position, previous_hash, entry_hash, posted_at, created_at, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'posted', '', '', '', %s, %s, %s, now(), now(), now()) "
            "RETURNING id",
            [
                ledger.company.pk,
                ledger.journal.pk,
                ledger.year.pk,
                ledger.period(1).pk,
                JAN,
                number,
                position,
                previous_hash,
                FAKE_HASH,
            ],
        )
        return cursor.fetchone()[0]


def raw_insert_lines(ledger, entry_id: int, *lines) -> None:
    """``(line_no, account code, debit, credit)`` rows inserted by one INSERT statement."""
    values = ", ".join(["(%s, %s, %s, %s, '', %s, %s, 'CNY', 1, %s, now(), now())"] * len(lines))
    params = []
    for line_no, code, debit, credit in lines:
        params += [ledger.company.pk, entry_id, line_no, ledger.account(code).pk, debit, credit, debit or credit]
    raw(
        "INSERT INTO erp_journalline (company_id, entry_id, line_no, account_id, description, debit, credit, "
        f"currency, exchange_rate, amount_currency, created_at, updated_at) VALUES {values}",
        params,
    )


def test_raw_sql_cannot_insert_a_posted_entry_without_balanced_lines(ledger):
    with pytest.raises(IntegrityError, match="needs at least two"), transaction.atomic():
        raw_insert_posted(ledger)
    with pytest.raises(IntegrityError, match="not balanced"), transaction.atomic():
        entry_id = raw_insert_posted(ledger)
        raw_insert_lines(ledger, entry_id, (1, "1002", 10, 0), (2, "6001", 0, 9))
    assert not JournalEntry.objects.filter(company=ledger.company).exists()
    assert not AccountPeriodBalance.objects.filter(company=ledger.company).exists()


def test_a_posted_entry_gets_its_lines_once_in_its_own_transaction(ledger):
    """The lines of an entry inserted as posted come in one statement of the same transaction: a second batch
    of lines, even balanced and even in that transaction, is refused."""
    with pytest.raises(IntegrityError, match="no line can be added"), transaction.atomic():
        entry_id = raw_insert_posted(ledger)
        raw_insert_lines(ledger, entry_id, (1, "1002", 10, 0), (2, "6001", 0, 10))
        raw_insert_lines(ledger, entry_id, (3, "1001", 5, 0), (4, "6001", 0, 5))
    entry = ledger.sale(JAN)
    with pytest.raises(IntegrityError, match="no line can be added"), transaction.atomic():
        raw_insert_lines(ledger, entry.pk, (9, "1001", 5, 0), (10, "6001", 0, 5))
    assert entry.lines.count() == 3


def test_a_line_cannot_be_unbalanced_by_a_check_constraint(ledger):
    draft = ledger.draft(JAN, ("1002", "100.00", 0), ("6001", 0, "100.00"))
    line = draft.lines.get(line_no=1)
    for sql in (
        "UPDATE erp_journalline SET credit = 5 WHERE id = %s",  # both sides
        "UPDATE erp_journalline SET debit = 0 WHERE id = %s",  # neither side
        "UPDATE erp_journalline SET debit = -100 WHERE id = %s",  # negative
    ):
        with pytest.raises(IntegrityError, match="erp_journalline_one_side"), transaction.atomic():
            raw(sql, [line.pk])


# ---------------------------------------------------------------- immutability


def test_raw_sql_cannot_change_or_delete_a_posted_entry_or_its_lines(ledger):
    entry = ledger.sale(JAN)
    line = entry.lines.get(line_no=1)
    attempts = [
        ("UPDATE erp_journalline SET debit = debit + 1 WHERE id = %s", [line.pk]),
        ("UPDATE erp_journalline SET description = 'x' WHERE id = %s", [line.pk]),
        ("DELETE FROM erp_journalline WHERE id = %s", [line.pk]),
        ("DELETE FROM erp_journalline WHERE entry_id = %s", [entry.pk]),
        ("UPDATE erp_journalentry SET memo = 'tampered' WHERE id = %s", [entry.pk]),
        ("UPDATE erp_journalentry SET state = 'draft', number = NULL WHERE id = %s", [entry.pk]),
        ("DELETE FROM erp_journalentry WHERE id = %s", [entry.pk]),
    ]
    for sql, params in attempts:
        with pytest.raises(IntegrityError, match=r"erp_ledger: .*posted"), transaction.atomic():
            raw(sql, params)

    entry.refresh_from_db()
    assert entry.state == EntryState.POSTED and entry.lines.count() == 3
    assert JournalLine.objects.get(pk=line.pk).debit == Decimal("1130.00")
    assert svc.ledger_verify(company=ledger.company).ok


def test_raw_sql_cannot_write_period_balances(ledger):
    ledger.sale(JAN)
    balance = AccountPeriodBalance.objects.filter(company=ledger.company).first()
    for sql, params in (
        ("UPDATE erp_accountperiodbalance SET debit = 0 WHERE id = %s", [balance.pk]),
        ("DELETE FROM erp_accountperiodbalance WHERE id = %s", [balance.pk]),
    ):
        with pytest.raises(IntegrityError, match="maintained by posting"), transaction.atomic():
            raw(sql, params)
    assert balances_equal_lines(ledger.company) == []


# ---------------------------------------------------------------- periods


def test_raw_sql_cannot_post_into_a_closed_period(ledger):
    draft = ledger.draft(JAN, ("1002", "10.00", 0), ("6001", 0, "10.00"))
    svc.period_close(period=ledger.period(1))

    with pytest.raises(IntegrityError, match="period 2025-01 is closed"), transaction.atomic():
        raw_post(draft)
    draft.refresh_from_db()
    assert draft.state == EntryState.DRAFT


def test_raw_sql_cannot_post_outside_the_entry_period(ledger):
    draft = ledger.draft(JAN, ("1002", "10.00", 0), ("6001", 0, "10.00"))
    raw("UPDATE erp_journalentry SET period_id = %s WHERE id = %s", [ledger.period(2).pk, draft.pk])
    with pytest.raises(IntegrityError, match="does not belong to its period"), transaction.atomic():
        raw_post(draft)


def test_closing_waits_for_a_posting_in_progress(ledger):
    """A posting holds its period FOR SHARE until commit; a close (FOR UPDATE) waits for it, so no entry lands
    in a period that was closed while it was being posted."""
    period = ledger.period(1)
    posted_inside = threading.Event()
    closed_at: list[float] = []
    committing_at: list[float] = []
    errors: list[BaseException] = []

    def post_slowly():
        try:
            with transaction.atomic():
                ledger.post(JAN, ("1002", "5.00", 0), ("6001", 0, "5.00"))
                posted_inside.set()
                time.sleep(0.5)
                # the last moment before COMMIT: a close that did not wait would have ended during the sleep
                # (the time after the block is no use: the close may be scheduled before this thread is again)
                committing_at.append(time.monotonic())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def close():
        try:
            posted_inside.wait(5)
            svc.period_close(period=period)
            closed_at.append(time.monotonic())
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post_slowly), threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    assert closed_at[0] >= committing_at[0]
    period.refresh_from_db()
    assert period.state == PeriodState.CLOSED
    assert JournalEntry.objects.filter(period=period, state="posted").count() == 1


# ---------------------------------------------------------------- numbering


def test_raw_sql_cannot_leave_a_gap_or_reuse_a_number(ledger):
    first = ledger.post(JAN, ("1002", "1.00", 0), ("6001", 0, "1.00"))
    draft = ledger.draft(JAN, ("1002", "1.00", 0), ("6001", 0, "1.00"))

    with pytest.raises(IntegrityError, match="without a gap"), transaction.atomic():
        raw_post(draft, number=3, position=2, previous_hash=first.entry_hash)
    with pytest.raises(IntegrityError, match="erp_journalentry_number_unique"), transaction.atomic():
        raw_post(draft, number=1, position=2, previous_hash=first.entry_hash)
    with pytest.raises(IntegrityError, match="do not continue its chain"), transaction.atomic():
        raw_post(draft, number=2, position=5, previous_hash=first.entry_hash)
    with pytest.raises(IntegrityError, match="does not link to the hash"), transaction.atomic():
        raw_post(draft, number=2, position=2, previous_hash="")
    assert svc.journal_entry_post(entry=draft).number == 2


def test_concurrent_posting_numbers_without_gaps_or_duplicates(ledger):
    """Several threads, each with its own connection, post at the same time (some transactions roll back after
    taking a number): the posted numbers are exactly 1..N."""
    threads_count, per_thread = 6, 8
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []
    rolled_back = []

    class Rollback(Exception):
        pass

    def worker(worker_no: int):
        try:
            start.wait(10)
            for i in range(per_thread):
                amount = Decimal(worker_no * 100 + i + 1)
                try:
                    with transaction.atomic():
                        ledger.post(JAN, ("1002", amount, 0), ("6001", 0, amount), memo=f"t{worker_no}-{i}")
                        if i % 4 == 3:  # gives its number back
                            raise Rollback
                except Rollback:
                    rolled_back.append((worker_no, i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors

    numbers = sorted(
        JournalEntry.objects.filter(journal=ledger.journal, state="posted").values_list("number", flat=True)
    )
    expected = threads_count * per_thread - len(rolled_back)
    assert len(rolled_back) == threads_count * 2
    assert numbers == list(range(1, expected + 1))
    assert svc.ledger_verify(company=ledger.company).ok
    assert balances_equal_lines(ledger.company) == []


def test_concurrent_batches_and_single_posts_share_one_sequence(ledger):
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def batch():
        try:
            start.wait(10)
            for _ in range(3):
                specs = [
                    svc.EntrySpec(journal=ledger.journal, date=JAN, lines=ledger.lines(("1002", 1, 0), ("6001", 0, 1)))
                    for _ in range(20)
                ]
                svc.journal_entries_post_many(company=ledger.company, entries=specs)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connections.close_all()

    def singles():
        try:
            start.wait(10)
            for _ in range(15):
                ledger.post(JAN, ("1002", 2, 0), ("6001", 0, 2))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=batch), threading.Thread(target=batch), threading.Thread(target=singles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    numbers = sorted(JournalEntry.objects.filter(journal=ledger.journal).values_list("number", flat=True))
    assert numbers == list(range(1, 2 * 60 + 15 + 1))
    assert svc.ledger_verify(company=ledger.company).ok


# ---------------------------------------------------------------- inalterability


def _behind_the_triggers(sql: str, params) -> None:
    """What only a database superuser could do: write with the triggers switched off."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def test_verify_ledger_names_the_first_tampered_entry(ledger):
    entries = [ledger.sale(date(2025, 1, day), amount=f"{day}13.00") for day in range(1, 6)]
    assert svc.ledger_verify(company=ledger.company).ok

    line = entries[2].lines.get(line_no=1)
    _behind_the_triggers("UPDATE erp_journalline SET debit = debit + 100 WHERE id = %s", [line.pk])
    _behind_the_triggers("UPDATE erp_journalentry SET memo = 'x' WHERE id = %s", [entries[3].pk])

    result = svc.ledger_verify(company=ledger.company)
    assert not result.ok
    assert result.first_broken.entry_id == entries[2].pk and result.first_broken.number == 3
    assert result.first_broken.code == "content_changed"


def test_verify_ledger_notices_a_removed_entry(ledger):
    entries = [ledger.sale(date(2025, 1, day)) for day in range(1, 5)]
    _behind_the_triggers("DELETE FROM erp_journalline WHERE entry_id = %s", [entries[1].pk])
    _behind_the_triggers("DELETE FROM erp_journalentry WHERE id = %s", [entries[1].pk])

    broken = svc.ledger_verify(company=ledger.company).first_broken
    assert broken.entry_id == entries[2].pk and broken.code == "entry_missing"


def test_verify_ledger_notices_a_rewritten_chain(ledger):
    """Changing an entry and recomputing its hash is not enough: the next entry still links to the old hash."""
    entries = [ledger.sale(date(2025, 1, day)) for day in range(1, 4)]
    _behind_the_triggers("UPDATE erp_journalentry SET entry_hash = %s WHERE id = %s", [FAKE_HASH, entries[0].pk])
    broken = svc.ledger_verify(company=ledger.company).first_broken
    assert broken.entry_id == entries[0].pk
