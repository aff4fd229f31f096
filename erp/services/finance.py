"""Writes of the general ledger: chart of accounts, dimensions, journals, fiscal years and periods, journal entries.

Posting (``journal_entry_post`` of a draft, ``journal_entry_create(post=True)``, ``journal_entries_post_many``,
``journal_entry_reverse``) is the one path that makes an entry count. In one transaction it:

1. locks the entry (posting a draft: ``FOR UPDATE``) and the journals ``FOR NO KEY UPDATE`` in id order — the
   lock that orders the journal's hash chain;
2. takes numbers from ``JournalSequence`` rows locked ``FOR UPDATE`` (one per journal and fiscal year per call),
   so numbers are gap-free: a rollback gives them back;
3. computes each entry's SHA-256 over its content chained to the journal's previous entry
   (``entry_content_hash``);
4. writes the entries posted: a draft by one UPDATE; new entries inserted already posted (``INSERT`` for a
   few, ``COPY`` for a batch), their lines in one statement after them;
5. lets PostgreSQL check and maintain the rest in those statements (migrations 0003/0004): open period (locked
   ``FOR SHARE``), gap-free numbers and chain, balances per (account, period), and the balance of debits and
   credits (the deferred constraint trigger, made to fire before the service returns);
6. publishes ``erp.journal_entry.posted`` per entry — or one ``erp.journal_entries.posted`` per batch of
   ``journal_entries_post_many`` (outbox, same transaction).

Other domains (inventory valuation, invoices) post through ``journal_entry_create(..., post=True,
source_key=...)``: a ``source_key`` makes the call idempotent (a second call returns the first entry).
"""

from __future__ import annotations

import bisect
import calendar
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import pghistory
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp import events as erp_events
from erp.models import (
    Account,
    AccountType,
    Dimension,
    DimensionKind,
    EntryState,
    FiscalPeriod,
    FiscalYear,
    Journal,
    JournalEntry,
    JournalKind,
    JournalLine,
    JournalSequence,
    PeriodState,
)
from erp.services.finance_charts import DEFAULT_JOURNALS, TEMPLATES
from suite import events
from suite.lookups import present_in
from suite.models import Company
from suite.selectors import is_company_admin

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
RATE_STEP = Decimal("0.000001")
MAX_MONEY = Decimal("9999999999999999.99")
MAX_RATE = Decimal("999999999999.999999")
MAX_LINES = 1000
HASH_VERSION = "troika-ledger-v1"
BALANCE_CONSTRAINT = "erp_journal_entry_balanced"


class LedgerConflict(Exception):
    """A request that contradicts the ledger's state (reversing twice, editing a posted entry): answered 409."""

    def __init__(self, code: str, message) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


# ---------------------------------------------------------------- input shapes


@dataclass(frozen=True)
class LineSpec:
    """One line to write. ``debit``/``credit`` are in ``currency`` (the company's when empty); the company-currency
    amounts are ``round(amount × exchange_rate, 2)``."""

    account: Account | int
    debit: Decimal | int | str = ZERO
    credit: Decimal | int | str = ZERO
    currency: str = ""
    exchange_rate: Decimal | int | str = Decimal(1)
    description: str = ""
    cost_centre: Dimension | int | None = None
    department: Dimension | int | None = None
    project: Dimension | int | None = None


@dataclass(frozen=True)
class EntrySpec:
    """One entry for ``journal_entries_post_many``."""

    journal: Journal | int
    date: Date
    lines: Sequence[LineSpec]
    memo: str = ""
    reference: str = ""
    source_key: str = ""


@dataclass(slots=True)
class _CleanLine:
    account_id: int
    debit: Decimal
    credit: Decimal
    currency: str
    exchange_rate: Decimal
    amount_currency: Decimal
    description: str
    cost_centre_id: int | None
    department_id: int | None
    project_id: int | None


@dataclass
class _LedgerContext:
    """What validation needs of one company, loaded once per call (a batch validates thousands of lines)."""

    company: Company
    accounts: dict[int, Account] = field(default_factory=dict)
    dimensions: dict[int, Dimension] = field(default_factory=dict)
    journals: dict[int, Journal] = field(default_factory=dict)
    periods: list[FiscalPeriod] = field(default_factory=list)
    period_starts: list[Date] = field(default_factory=list)

    @classmethod
    def load(cls, company: Company, *, account_ids=(), dimension_ids=(), journal_ids=()) -> _LedgerContext:
        context = cls(company=company)
        if account_ids:
            context.accounts = {a.pk: a for a in Account.objects.filter(company=company, pk__in=set(account_ids))}
        if dimension_ids:
            context.dimensions = {d.pk: d for d in Dimension.objects.filter(company=company, pk__in=set(dimension_ids))}
        if journal_ids:
            context.journals = {j.pk: j for j in Journal.objects.filter(company=company, pk__in=set(journal_ids))}
        context.periods = list(FiscalPeriod.objects.filter(company=company).order_by("start_date"))
        context.period_starts = [p.start_date for p in context.periods]
        return context

    def period_for(self, day: Date) -> FiscalPeriod | None:
        index = bisect.bisect_right(self.period_starts, day) - 1
        if index >= 0 and self.periods[index].end_date >= day:
            return self.periods[index]
        return None


def _pk(value) -> int | None:
    if value is None or value == "":
        return None
    return value.pk if hasattr(value, "pk") else int(value)


def _decimal(value, *, places: Decimal, errors: dict, key: str, limit: Decimal = MAX_MONEY) -> Decimal | None:
    """``value`` as a Decimal with at most the decimals of ``places`` and at most ``limit`` in size; else an
    error under ``key`` and None."""
    if type(value) is not Decimal:
        try:
            value = Decimal(value if isinstance(value, int | str) else str(value)) if value not in (None, "") else ZERO
        except (InvalidOperation, ValueError, TypeError):
            errors[key] = [_("Enter a number.")]
            return None
    if not value.is_finite():
        errors[key] = [_("Enter a number.")]
        return None
    if abs(value) > limit:
        errors[key] = [_("The amount is too large.")]
        return None
    if value.as_tuple().exponent < places.as_tuple().exponent and value != value.quantize(places):
        errors[key] = [_("Use at most %(places)d decimal places.") % {"places": -places.as_tuple().exponent}]
        return None
    return value


_DIMENSION_FIELDS = (
    ("cost_centre", DimensionKind.COST_CENTRE.value),
    ("department", DimensionKind.DEPARTMENT.value),
    ("project", DimensionKind.PROJECT.value),
)


def _clean_lines(
    lines: Sequence[LineSpec | dict], *, context: _LedgerContext, prefix: str, errors: dict
) -> list[_CleanLine]:
    """Validate lines against the company's accounts and dimensions; company-currency amounts computed.

    On the path of every posting (thousands of lines a second in batches): plain loops, few calls."""
    company_currency = context.company.currency
    accounts = context.accounts
    dimensions = context.dimensions
    clean: list[_CleanLine] = []
    if len(lines) > MAX_LINES:
        errors[f"{prefix}lines"] = [_("An entry has at most %(max)d lines.") % {"max": MAX_LINES}]
        return clean
    for index, raw in enumerate(lines):
        spec = raw if type(raw) is LineSpec else LineSpec(**raw)
        key = f"{prefix}lines.{index}."
        line_errors: dict[str, list] = {}
        account = accounts.get(_safe_pk(spec.account) or 0)
        if account is None:
            line_errors[key + "account"] = [_("Unknown ledger account.")]
        elif not account.is_active:
            line_errors[key + "account"] = [_("Account %(code)s is inactive.") % {"code": account.code}]
        currency = spec.currency.upper() if spec.currency else company_currency
        if currency is not company_currency and (
            len(currency) != 3 or not currency.isascii() or not currency.isalpha()
        ):
            line_errors[key + "currency"] = [_("Use a three-letter ISO 4217 code such as CNY.")]
        debit = _decimal(spec.debit, places=CENT, errors=line_errors, key=key + "debit")
        credit = _decimal(spec.credit, places=CENT, errors=line_errors, key=key + "credit")
        rate = spec.exchange_rate
        if type(rate) is not Decimal or rate != 1:
            rate = _decimal(rate, places=RATE_STEP, errors=line_errors, key=key + "exchange_rate", limit=MAX_RATE)
            if rate is not None:
                if rate <= 0:
                    line_errors[key + "exchange_rate"] = [_("The exchange rate must be positive.")]
                elif currency == company_currency and rate != 1:
                    line_errors[key + "exchange_rate"] = [
                        _("A line in the company's currency (%(currency)s) has the rate 1.") % {"currency": currency}
                    ]
        if debit is not None and credit is not None:
            if debit < 0 or credit < 0:
                line_errors[key + ("debit" if debit < 0 else "credit")] = [_("Amounts cannot be negative.")]
            elif (debit == 0) == (credit == 0):
                line_errors[key + "debit"] = [_("Enter either a debit or a credit, not both and not neither.")]
        dimension_ids = []
        for name, kind in _DIMENSION_FIELDS:
            value = getattr(spec, name)
            dimension_id = _safe_pk(value) if value is not None else None
            dimension_ids.append(dimension_id)
            if dimension_id is None:
                continue
            dimension = dimensions.get(dimension_id)
            if dimension is None or dimension.kind != kind:
                line_errors[key + name] = [_("Unknown %(kind)s.") % {"kind": DimensionKind(kind).label.lower()}]
            elif not dimension.is_active:
                line_errors[key + name] = [_("%(code)s is inactive.") % {"code": dimension.code}]
        if len(spec.description) > 255:
            line_errors[key + "description"] = [_("At most 255 characters.")]
        if line_errors:
            errors.update(line_errors)
            continue
        amount_currency = debit or credit
        company_amount = amount_currency if rate == 1 else (amount_currency * rate).quantize(CENT, ROUND_HALF_UP)
        if company_amount <= 0 or company_amount > MAX_MONEY:
            errors[key + ("debit" if debit else "credit")] = [
                _("The amount in %(currency)s rounds to %(amount)s.")
                % {"currency": company_currency, "amount": company_amount}
            ]
            continue
        clean.append(
            _CleanLine(
                account.pk,
                company_amount if debit else ZERO,
                company_amount if credit else ZERO,
                currency,
                rate,
                amount_currency,
                spec.description,
                *dimension_ids,
            )
        )
    return clean


def _check_postable(clean: list[_CleanLine], *, prefix: str, errors: dict) -> None:
    if len(clean) < 2:
        errors.setdefault(f"{prefix}lines", []).append(_("A posted entry needs at least two lines."))
        return
    debit = sum((line.debit for line in clean), ZERO)
    credit = sum((line.credit for line in clean), ZERO)
    if debit != credit:
        errors.setdefault(f"{prefix}lines", []).append(
            _("Debits (%(debit)s) and credits (%(credit)s) must be equal.") % {"debit": debit, "credit": credit}
        )


def _check_header(
    *, context: _LedgerContext, journal_id: int | None, day: Date, prefix: str, errors: dict
) -> tuple[Journal | None, FiscalPeriod | None]:
    journal = context.journals.get(journal_id or 0)
    if journal is None:
        errors[f"{prefix}journal"] = [_("Unknown journal.")]
    elif not journal.is_active:
        errors[f"{prefix}journal"] = [_("Journal %(code)s is inactive.") % {"code": journal.code}]
    period = context.period_for(day) if isinstance(day, Date) else None
    if not isinstance(day, Date):
        errors[f"{prefix}date"] = [_("Enter a valid date.")]
    elif period is None:
        errors[f"{prefix}date"] = [_("No fiscal period covers %(date)s; create the fiscal year first.") % {"date": day}]
    elif not period.is_open:
        errors[f"{prefix}date"] = [_("Period %(period)s is closed.") % {"period": period.name}]
    return journal, period


def _line_references(lines: Iterable[LineSpec | dict]) -> tuple[set[int], set[int]]:
    account_ids, dimension_ids = set(), set()
    for raw in lines:
        spec = raw if isinstance(raw, LineSpec) else LineSpec(**raw)
        if (account_id := _safe_pk(spec.account)) is not None:
            account_ids.add(account_id)
        for value in (spec.cost_centre, spec.department, spec.project):
            if (dimension_id := _safe_pk(value)) is not None:
                dimension_ids.add(dimension_id)
    return account_ids, dimension_ids


def _safe_pk(value) -> int | None:
    try:
        return _pk(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- hashing


def entry_content_hash(
    *,
    previous_hash: str,
    company_id: int,
    journal_id: int,
    fiscal_year_id: int,
    period_id: int,
    number: int,
    chain_position: int,
    date: Date,
    memo: str,
    reference: str,
    reversal_of_id: int | None,
    lines: Iterable[Sequence[Any]],
) -> str:
    """SHA-256 (hex) of an entry's content and the hash of the entry before it in the journal's chain.

    ``lines``: ``(line_no, account_id, debit, credit, currency, exchange_rate, amount_currency, description,
    cost_centre_id, department_id, project_id)`` in line order. Amounts are written with their fixed scale, so
    the value read back from PostgreSQL hashes exactly like the value posted.
    """
    content = [
        HASH_VERSION,
        previous_hash,
        [company_id, journal_id, fiscal_year_id, period_id, number, chain_position, date.isoformat()],
        [memo, reference, reversal_of_id],
        [
            [no, account, f"{debit:.2f}", f"{credit:.2f}", currency, f"{rate:.6f}", f"{amount:.2f}", text, cc, dep, prj]
            for no, account, debit, credit, currency, rate, amount, text, cc, dep, prj in lines
        ],
    ]
    encoded = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _hash_line(line_no: int, line: _CleanLine) -> tuple:
    return (
        line_no,
        line.account_id,
        line.debit,
        line.credit,
        line.currency,
        line.exchange_rate,
        line.amount_currency,
        line.description,
        line.cost_centre_id,
        line.department_id,
        line.project_id,
    )


HASH_LINE_FIELDS = (
    "line_no",
    "account_id",
    "debit",
    "credit",
    "currency",
    "exchange_rate",
    "amount_currency",
    "description",
    "cost_centre_id",
    "department_id",
    "project_id",
)


# ---------------------------------------------------------------- locks


def lock_entry(pk: int) -> JournalEntry:
    """The entry row, locked ``FOR UPDATE`` for the rest of the transaction."""
    return JournalEntry.objects.select_for_update(of=("self",)).select_related("journal", "period").get(pk=pk)


def lock_period(pk: int) -> FiscalPeriod:
    return FiscalPeriod.objects.select_for_update(of=("self",)).get(pk=pk)


def _lock_journals(journal_ids: Iterable[int]) -> None:
    """``FOR NO KEY UPDATE`` on the journals, in id order: serialises posting per journal (its hash chain) while
    drafts referencing the journal can still be inserted (their foreign-key check takes ``FOR KEY SHARE``)."""
    list(
        Journal.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(journal_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _take_numbers(needed: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
    """First number of each (journal, fiscal year) block: the counter rows are locked ``FOR UPDATE`` in key
    order (created first when missing) and moved on by the count taken, in this transaction — a rollback gives
    the numbers back."""
    keys = sorted(needed)

    def lock() -> list[JournalSequence]:
        exact = Q()
        for journal_id, fiscal_year_id in keys:
            exact |= Q(journal_id=journal_id, fiscal_year_id=fiscal_year_id)
        return list(JournalSequence.objects.select_for_update().filter(exact).order_by("journal_id", "fiscal_year_id"))

    rows = lock()
    if not set(keys) <= {(r.journal_id, r.fiscal_year_id) for r in rows}:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO erp_journalsequence (journal_id, fiscal_year_id, next_number) "
                "SELECT j, f, 1 FROM unnest(%s::bigint[], %s::bigint[]) AS k(j, f) "
                "ON CONFLICT (journal_id, fiscal_year_id) DO NOTHING",
                [[k[0] for k in keys], [k[1] for k in keys]],
            )
        rows = lock()
    first: dict[tuple[int, int], int] = {}
    for sequence in rows:
        key = (sequence.journal_id, sequence.fiscal_year_id)
        if key in needed:
            first[key] = sequence.next_number
            JournalSequence.objects.filter(pk=sequence.pk).update(next_number=F("next_number") + needed[key])
    return first


def _chain_head(journal_id: int) -> tuple[int, str]:
    """(position, hash) of the journal's last posted entry; (0, "") for a new journal. Read after the journal
    lock, so it sees every posting committed before ours."""
    head = (
        JournalEntry.objects.filter(journal_id=journal_id, chain_position__isnull=False)
        .order_by("-chain_position")
        .values_list("chain_position", "entry_hash")
        .first()
    )
    return head or (0, "")


# ---------------------------------------------------------------- the posting core


@dataclass
class _Posting:
    """An entry on its way to being posted: its header, its lines as hash tuples (line order), and — once
    numbered — its number, chain position and hashes. ``id`` is set for a draft being posted."""

    company_id: int
    journal_id: int
    fiscal_year_id: int
    period_id: int
    date: Date
    lines: list[tuple]
    memo: str = ""
    reference: str = ""
    source_key: str = ""
    reversal_of_id: int | None = None
    created_by_id: int | None = None
    id: int | None = None
    number: int | None = None
    chain_position: int | None = None
    previous_hash: str = ""
    entry_hash: str = ""


def _number_and_hash(postings: list[_Posting]) -> None:
    """Lock the journals and the sequence rows, then give each posting (in order) its number, its place in the
    journal's chain and its hash."""
    _lock_journals(p.journal_id for p in postings)
    needed: dict[tuple[int, int], int] = defaultdict(int)
    for posting in postings:
        needed[(posting.journal_id, posting.fiscal_year_id)] += 1
    next_number = _take_numbers(needed)
    heads = {journal_id: _chain_head(journal_id) for journal_id in sorted({p.journal_id for p in postings})}
    for posting in postings:
        key = (posting.journal_id, posting.fiscal_year_id)
        posting.number = next_number[key]
        next_number[key] += 1
        position, previous_hash = heads[posting.journal_id]
        posting.chain_position = position + 1
        posting.previous_hash = previous_hash
        posting.entry_hash = entry_content_hash(
            previous_hash=previous_hash,
            company_id=posting.company_id,
            journal_id=posting.journal_id,
            fiscal_year_id=posting.fiscal_year_id,
            period_id=posting.period_id,
            number=posting.number,
            chain_position=posting.chain_position,
            date=posting.date,
            memo=posting.memo,
            reference=posting.reference,
            reversal_of_id=posting.reversal_of_id,
            lines=posting.lines,
        )
        heads[posting.journal_id] = (posting.chain_position, posting.entry_hash)


def _check_balances_now(cursor) -> None:
    """The balance check is a constraint trigger deferred to COMMIT; fire it now, so a violation surfaces
    inside the service (and in tests that never commit), then defer it again for the rest of the transaction."""
    cursor.execute(f"SET CONSTRAINTS {BALANCE_CONSTRAINT} IMMEDIATE; SET CONSTRAINTS {BALANCE_CONSTRAINT} DEFERRED")


_ENTRY_FIELDS = [field.attname for field in JournalEntry._meta.concrete_fields]


def _entry_of(posting: _Posting, *, state: str, posted_at, posted_by_id: int | None, created_at) -> JournalEntry:
    """The entry as a model instance, without a query (``from_db`` with every concrete field: Django's fast
    positional path — a batch builds thousands of these)."""
    values = {
        "id": posting.id,
        "company_id": posting.company_id,
        "created_at": created_at,
        "updated_at": posted_at,
        "journal_id": posting.journal_id,
        "fiscal_year_id": posting.fiscal_year_id,
        "period_id": posting.period_id,
        "date": posting.date,
        "number": posting.number,
        "state": state,
        "memo": posting.memo,
        "reference": posting.reference,
        "source_key": posting.source_key,
        "reversal_of_id": posting.reversal_of_id,
        "chain_position": posting.chain_position,
        "previous_hash": posting.previous_hash,
        "entry_hash": posting.entry_hash,
        "posted_at": posted_at,
        "posted_by_id": posted_by_id,
        "created_by_id": posting.created_by_id,
    }
    return JournalEntry.from_db("default", _ENTRY_FIELDS, [values[name] for name in _ENTRY_FIELDS])


def _publish_posted(
    postings: list[_Posting], entries: list[JournalEntry], *, by: User | None, batch: bool = False
) -> None:
    """One ``erp.journal_entry.posted`` per entry — or, for a batch, one ``erp.journal_entries.posted`` with the
    ids (an import of 100,000 vouchers is not 100,000 events and webhook deliveries)."""
    if batch:
        events.publish(
            erp_events.JOURNAL_ENTRIES_POSTED,
            erp_events.journal_entries_posted_payload(entries, [p.lines for p in postings]),
            company_id=postings[0].company_id,
            by=by,
        )
        return
    events.publish_many(
        [
            (erp_events.JOURNAL_ENTRY_POSTED, erp_events.journal_entry_posted_payload(entry, posting.lines))
            for posting, entry in zip(postings, entries, strict=True)
        ],
        company_id=postings[0].company_id,
        by=by,
    )


ENTRY_COLUMNS = (
    "id, company_id, created_at, updated_at, journal_id, fiscal_year_id, period_id, date, number, state, memo, "
    "reference, source_key, reversal_of_id, chain_position, previous_hash, entry_hash, posted_at, posted_by_id, "
    "created_by_id"
)
LINE_COLUMNS = (
    "company_id, created_at, updated_at, entry_id, line_no, account_id, debit, credit, currency, exchange_rate, "
    "amount_currency, description, cost_centre_id, department_id, project_id"
)


SMALL_POSTING = 20  # up to this many entries: INSERT … RETURNING (fewer round trips); more: COPY


def _entry_row(p: _Posting, now, by_id) -> tuple:
    return (
        p.company_id,
        now,
        now,
        p.journal_id,
        p.fiscal_year_id,
        p.period_id,
        p.date,
        p.number,
        EntryState.POSTED.value,
        p.memo,
        p.reference,
        p.source_key,
        p.reversal_of_id,
        p.chain_position,
        p.previous_hash,
        p.entry_hash,
        now,
        by_id,
        p.created_by_id,
    )


def _line_rows_of(p: _Posting, now):
    for no, account, debit, credit, currency, rate, amount, text, cc, dep, prj in p.lines:
        yield (p.company_id, now, now, p.id, no, account, debit, credit, currency, rate, amount, text, cc, dep, prj)


def _insert_posted(postings: list[_Posting], *, by: User | None, batch_event: bool = False) -> list[JournalEntry]:
    """Write ``postings`` (validated, of one company) as posted entries, in their order: numbered and hashed
    here, then inserted already posted — entries, then all their lines in one statement. A few entries go in
    with ``INSERT … RETURNING``; many with ``COPY`` (ids taken from the sequence first). PostgreSQL checks
    period, numbering, chain and — before this function returns — balance, and counts the lines in the period
    balances (migrations 0003/0004)."""
    if not postings:
        return []
    _number_and_hash(postings)
    now = timezone.now()
    by_id = getattr(by, "pk", None)
    with connection.cursor() as cursor:
        if len(postings) <= SMALL_POSTING:
            values = ", ".join(["(" + ", ".join(["%s"] * 19) + ")"] * len(postings))
            cursor.execute(
                f"INSERT INTO erp_journalentry ({ENTRY_COLUMNS.removeprefix('id, ')}) VALUES {values} "
                "RETURNING id, journal_id, chain_position",
                [value for p in postings for value in _entry_row(p, now, by_id)],
            )
            ids = {(journal_id, position): entry_id for entry_id, journal_id, position in cursor.fetchall()}
            for p in postings:
                p.id = ids[(p.journal_id, p.chain_position)]
            rows = [row for p in postings for row in _line_rows_of(p, now)]
            values = ", ".join(["(" + ", ".join(["%s"] * 15) + ")"] * len(rows))
            cursor.execute(
                f"INSERT INTO erp_journalline ({LINE_COLUMNS}) VALUES {values}",
                [value for row in rows for value in row],
            )
        else:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('erp_journalentry', 'id')) FROM generate_series(1, %s)",
                [len(postings)],
            )
            for posting, (entry_id,) in zip(postings, cursor.fetchall(), strict=True):
                posting.id = entry_id
            raw = cursor.cursor
            with raw.copy(f"COPY erp_journalentry ({ENTRY_COLUMNS}) FROM STDIN") as copy:
                for p in postings:
                    copy.write_row((p.id, *_entry_row(p, now, by_id)))
            with raw.copy(f"COPY erp_journalline ({LINE_COLUMNS}) FROM STDIN") as copy:
                for p in postings:
                    for row in _line_rows_of(p, now):
                        copy.write_row(row)
        _check_balances_now(cursor)
    entries = [
        _entry_of(p, state=EntryState.POSTED, posted_at=now, posted_by_id=by_id, created_at=now) for p in postings
    ]
    _publish_posted(postings, entries, by=by, batch=batch_event)
    return entries


def _post_drafts(postings: list[_Posting], *, by: User | None) -> None:
    """Post existing drafts (``posting.id``) with one UPDATE statement; PostgreSQL checks and counts them."""
    _number_and_hash(postings)
    now = timezone.now()
    by_id = getattr(by, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE erp_journalentry AS e SET state = 'posted', number = v.number, chain_position = v.position, "
            "previous_hash = v.previous_hash, entry_hash = v.entry_hash, posted_at = %s, posted_by_id = %s, "
            "updated_at = %s "
            "FROM unnest(%s::bigint[], %s::integer[], %s::bigint[], %s::varchar[], %s::varchar[]) "
            "AS v(id, number, position, previous_hash, entry_hash) "
            "WHERE e.id = v.id AND e.state = 'draft'",
            [
                now,
                by_id,
                now,
                [p.id for p in postings],
                [p.number for p in postings],
                [p.chain_position for p in postings],
                [p.previous_hash for p in postings],
                [p.entry_hash for p in postings],
            ],
        )
        if cursor.rowcount != len(postings):
            raise LedgerConflict("already_posted", _("An entry was posted by someone else meanwhile; try again."))
        _check_balances_now(cursor)
    entries = [
        _entry_of(p, state=EntryState.POSTED, posted_at=now, posted_by_id=by_id, created_at=None) for p in postings
    ]
    _publish_posted(postings, entries, by=by)


# ---------------------------------------------------------------- chart of accounts


@transaction.atomic
def chart_of_accounts_install(*, company: Company, template: str = "cas", by: User | None = None) -> int:
    """Install the accounts of ``template`` (``"cas"`` 企业会计准则 or ``"ifrs"``) that the company lacks, with
    their hierarchy; existing codes are left as they are. Returns the number of accounts created. Locks the
    company row so two installs do not interleave."""
    rows = TEMPLATES.get(template)
    if rows is None:
        raise ValidationError({"template": [_("Choose cas or ifrs.")]})
    Company.objects.select_for_update().filter(pk=company.pk).exists()
    existing = set(Account.objects.filter(company=company).values_list("code", flat=True))
    new = [
        Account(
            company=company,
            code=code,
            name=name,
            name_en=name_en,
            account_type=account_type,
            is_cash=is_cash,
        )
        for code, name, name_en, account_type, is_cash, _parent in rows
        if code not in existing
    ]
    Account.objects.bulk_create(new)
    ids = dict(Account.objects.filter(company=company).values_list("code", "pk"))
    created = {account.code for account in new}
    for code, *_rest, parent_code in rows:
        if code in created and parent_code:
            Account.objects.filter(pk=ids[code]).update(parent_id=ids[parent_code])
    return len(new)


def _account_parent_errors(*, company: Company, parent: Account | None, account_type: str, account=None) -> dict:
    if parent is None:
        return {}
    if parent.company_id != company.pk:
        return {"parent": [_("Unknown ledger account.")]}
    if parent.account_type != account_type:
        return {"parent": [_("A sub-account has the type of its parent (%(type)s).") % {"type": parent.account_type}]}
    if account is not None:
        node = parent
        while node is not None:
            if node.pk == account.pk:
                return {"parent": [_("An account cannot be placed under itself or its own sub-account.")]}
            node = node.parent
    return {}


@transaction.atomic
def account_create(
    *,
    company: Company,
    code: str,
    name: str,
    account_type: str,
    name_en: str = "",
    parent: Account | None = None,
    is_cash: bool = False,
    is_active: bool = True,
    by: User | None = None,
) -> Account:
    """Add an account to the company's chart (code unique per company; a sub-account has its parent's type)."""
    account = Account(
        company=company,
        code=code.strip(),
        name=name.strip(),
        name_en=name_en.strip(),
        account_type=account_type,
        parent=parent,
        is_cash=is_cash,
        is_active=is_active,
    )
    errors = _account_parent_errors(company=company, parent=parent, account_type=account_type)
    if Account.objects.filter(company=company, code=account.code).exists():
        errors["code"] = [_("Account %(code)s already exists.") % {"code": account.code}]
    if errors:
        raise ValidationError(errors)
    account.full_clean(exclude=["company", "parent"], validate_unique=False, validate_constraints=False)
    account.save()
    return account


ACCOUNT_FIELDS = ("code", "name", "name_en", "account_type", "parent", "is_cash", "is_active")


@transaction.atomic
def account_update(*, account: Account, by: User | None = None, **changes) -> Account:
    """Change an account. Its type and code are fixed once it has lines (posted amounts would move between
    statements, and printed vouchers would name a code that no longer exists)."""
    unknown = set(changes) - set(ACCOUNT_FIELDS)
    if unknown:
        raise TypeError(f"account_update: unknown fields {sorted(unknown)}")
    account = Account.objects.select_for_update().get(pk=account.pk)
    used = JournalLine.objects.filter(account=account).exists()
    errors: dict[str, list] = {}
    for name in ("account_type", "code"):
        if name in changes and changes[name] != getattr(account, name) and used:
            errors[name] = [_("The account has journal lines; its %(field)s cannot change.") % {"field": name}]
    for name, value in changes.items():
        setattr(account, name, value.strip() if isinstance(value, str) else value)
    errors.update(
        _account_parent_errors(
            company=account.company, parent=account.parent, account_type=account.account_type, account=account
        )
    )
    if Account.objects.filter(company_id=account.company_id, code=account.code).exclude(pk=account.pk).exists():
        errors["code"] = [_("Account %(code)s already exists.") % {"code": account.code}]
    if "account_type" in changes and account.children.exclude(account_type=account.account_type).exists():
        errors["account_type"] = [_("Its sub-accounts have another type.")]
    if errors:
        raise ValidationError(errors)
    account.full_clean(exclude=["company", "parent"], validate_unique=False, validate_constraints=False)
    account.save(update_fields=[*(name for name in changes), "updated_at"])
    return account


@transaction.atomic
def account_delete(*, account: Account, by: User | None = None) -> None:
    """Delete an account nobody uses (no lines, balances or sub-accounts); used accounts are deactivated."""
    if account.lines.exists() or account.period_balances.exists() or account.children.exists():
        raise LedgerConflict("account_in_use", _("The account is in use; deactivate it instead."))
    account.delete()


# ---------------------------------------------------------------- dimensions and journals


@transaction.atomic
def dimension_create(
    *, company: Company, kind: str, code: str, name: str, name_en: str = "", by: User | None = None
) -> Dimension:
    """Add a cost centre, department or project (code unique per company and kind)."""
    dimension = Dimension(company=company, kind=kind, code=code.strip(), name=name.strip(), name_en=name_en.strip())
    dimension.full_clean(exclude=["company"], validate_unique=False, validate_constraints=False)
    if Dimension.objects.filter(company=company, kind=kind, code=dimension.code).exists():
        raise ValidationError({"code": [_("%(code)s already exists.") % {"code": dimension.code}]})
    dimension.save()
    return dimension


@transaction.atomic
def dimension_update(*, dimension: Dimension, by: User | None = None, **changes) -> Dimension:
    """Rename, recode or (de)activate a dimension; its kind is fixed."""
    unknown = set(changes) - {"code", "name", "name_en", "is_active"}
    if unknown:
        raise TypeError(f"dimension_update: unknown fields {sorted(unknown)}")
    for name, value in changes.items():
        setattr(dimension, name, value.strip() if isinstance(value, str) else value)
    dimension.full_clean(exclude=["company"], validate_unique=False, validate_constraints=False)
    if (
        Dimension.objects.filter(company_id=dimension.company_id, kind=dimension.kind, code=dimension.code)
        .exclude(pk=dimension.pk)
        .exists()
    ):
        raise ValidationError({"code": [_("%(code)s already exists.") % {"code": dimension.code}]})
    dimension.save(update_fields=[*changes, "updated_at"])
    return dimension


@transaction.atomic
def dimension_delete(*, dimension: Dimension, by: User | None = None) -> None:
    """Delete a dimension no line carries; used ones are deactivated."""
    used = JournalLine.objects.filter(Q(cost_centre=dimension) | Q(department=dimension) | Q(project=dimension))
    if used.exists():
        raise LedgerConflict("dimension_in_use", _("Lines carry this dimension; deactivate it instead."))
    dimension.delete()


@transaction.atomic
def journal_create(
    *,
    company: Company,
    code: str,
    name: str,
    name_en: str = "",
    kind: str = JournalKind.GENERAL,
    by: User | None = None,
) -> Journal:
    """Add a journal (its own numbering per fiscal year and its own hash chain)."""
    journal = Journal(company=company, code=code.strip(), name=name.strip(), name_en=name_en.strip(), kind=kind)
    journal.full_clean(exclude=["company"], validate_unique=False, validate_constraints=False)
    if Journal.objects.filter(company=company, code=journal.code).exists():
        raise ValidationError({"code": [_("Journal %(code)s already exists.") % {"code": journal.code}]})
    journal.save()
    return journal


@transaction.atomic
def journal_update(*, journal: Journal, by: User | None = None, **changes) -> Journal:
    """Rename or (de)activate a journal. Its code is fixed once it has entries (printed numbers carry it)."""
    unknown = set(changes) - {"code", "name", "name_en", "kind", "is_active"}
    if unknown:
        raise TypeError(f"journal_update: unknown fields {sorted(unknown)}")
    if "code" in changes and changes["code"] != journal.code and journal.entries.exists():
        raise ValidationError({"code": [_("The journal has entries; its code cannot change.")]})
    for name, value in changes.items():
        setattr(journal, name, value.strip() if isinstance(value, str) else value)
    journal.full_clean(exclude=["company"], validate_unique=False, validate_constraints=False)
    if Journal.objects.filter(company_id=journal.company_id, code=journal.code).exclude(pk=journal.pk).exists():
        raise ValidationError({"code": [_("Journal %(code)s already exists.") % {"code": journal.code}]})
    journal.save(update_fields=[*changes, "updated_at"])
    return journal


@transaction.atomic
def journals_install_defaults(*, company: Company, by: User | None = None) -> int:
    """Create the default journals (记账, 销售, 采购, 银行, 现金, 存货) the company lacks; returns how many."""
    existing = set(Journal.objects.filter(company=company).values_list("code", flat=True))
    new = [
        Journal(company=company, code=code, name=name, name_en=name_en, kind=kind)
        for code, name, name_en, kind in DEFAULT_JOURNALS
        if code not in existing
    ]
    Journal.objects.bulk_create(new)
    return len(new)


# ---------------------------------------------------------------- fiscal years and periods


def _add_months(day: Date, months: int) -> Date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return Date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@transaction.atomic
def fiscal_year_create(
    *, company: Company, start_date: Date, name: str = "", months: int = 12, by: User | None = None
) -> FiscalYear:
    """Create a fiscal year of ``months`` monthly periods starting on ``start_date`` (all open). Years and
    periods of a company never overlap (exclusion constraints)."""
    if not 1 <= months <= 24:
        raise ValidationError({"months": [_("A fiscal year has 1 to 24 periods.")]})
    end_date = _add_months(start_date, months) - timedelta(days=1)
    name = (name or (str(start_date.year) if start_date.month == 1 else f"{start_date.year}/{end_date.year}")).strip()
    if FiscalYear.objects.filter(company=company, name=name).exists():
        raise ValidationError({"name": [_("Fiscal year %(name)s already exists.") % {"name": name}]})
    if FiscalYear.objects.filter(company=company, start_date__lte=end_date, end_date__gte=start_date).exists():
        raise ValidationError({"start_date": [_("The fiscal year overlaps another one.")]})
    try:
        with transaction.atomic():
            year = FiscalYear.objects.create(company=company, name=name, start_date=start_date, end_date=end_date)
            FiscalPeriod.objects.bulk_create(
                FiscalPeriod(
                    company=company,
                    fiscal_year=year,
                    number=number,
                    name=f"{_add_months(start_date, number - 1):%Y-%m}",
                    start_date=_add_months(start_date, number - 1),
                    end_date=_add_months(start_date, number) - timedelta(days=1),
                )
                for number in range(1, months + 1)
            )
    except IntegrityError:
        raise ValidationError({"start_date": [_("The fiscal year overlaps another one.")]}) from None
    return year


@transaction.atomic
def period_close(*, period: FiscalPeriod, by: User | None = None) -> FiscalPeriod:
    """Close a period: nothing posts into it until an administrator reopens it. Locks the period row
    ``FOR UPDATE``, so it waits for postings in progress (they hold it ``FOR SHARE``). Idempotent. Publishes
    ``erp.period.closed``."""
    period = lock_period(period.pk)
    if period.state == PeriodState.CLOSED:
        return period
    period.state = PeriodState.CLOSED
    period.closed_at = timezone.now()
    period.closed_by = by
    period.save(update_fields=["state", "closed_at", "closed_by", "updated_at"])
    events.publish(erp_events.PERIOD_CLOSED, erp_events.period_payload(period), company_id=period.company_id, by=by)
    return period


@transaction.atomic
def period_reopen(*, period: FiscalPeriod, by: User, reason: str) -> FiscalPeriod:
    """Reopen a closed period — privileged: only an active administrator of the company, with a reason. The
    change is audited (the period's history carries the reason) and ``erp.period.reopened`` is published."""
    reason = (reason or "").strip()
    if not is_company_admin(period.company_id, by):
        raise PermissionDenied(_("Only an administrator may reopen a period."))
    if not reason:
        raise ValidationError({"reason": [_("Say why the period is reopened.")]})
    period = lock_period(period.pk)
    if period.state == PeriodState.OPEN:
        raise LedgerConflict("period_open", _("The period is open."))
    with pghistory.context(reopen_reason=reason, reopened_by=by.pk):
        period.state = PeriodState.OPEN
        period.reopened_at = timezone.now()
        period.reopened_by = by
        period.reopen_reason = reason[:500]
        period.save(update_fields=["state", "reopened_at", "reopened_by", "reopen_reason", "updated_at"])
    events.publish(
        erp_events.PERIOD_REOPENED,
        {**erp_events.period_payload(period), "reason": period.reopen_reason},
        company_id=period.company_id,
        by=by,
    )
    return period


# ---------------------------------------------------------------- journal entries


def _existing_by_source_key(company: Company, keys: Iterable[str]) -> dict[str, JournalEntry]:
    keys = [k for k in keys if k]
    if not keys:
        return {}
    return {e.source_key: e for e in JournalEntry.objects.filter(present_in("source_key", keys), company=company)}


def _line_rows(entry: JournalEntry, clean: list[_CleanLine], now) -> list[JournalLine]:
    return [
        JournalLine(
            company_id=entry.company_id,
            entry=entry,
            line_no=index,
            account_id=line.account_id,
            description=line.description,
            debit=line.debit,
            credit=line.credit,
            currency=line.currency,
            exchange_rate=line.exchange_rate,
            amount_currency=line.amount_currency,
            cost_centre_id=line.cost_centre_id,
            department_id=line.department_id,
            project_id=line.project_id,
            created_at=now,
            updated_at=now,
        )
        for index, line in enumerate(clean, start=1)
    ]


def _posting_of(
    *, company: Company, journal: Journal, period: FiscalPeriod, day: Date, clean: list[_CleanLine], by, **header
) -> _Posting:
    return _Posting(
        company_id=company.pk,
        journal_id=journal.pk,
        fiscal_year_id=period.fiscal_year_id,
        period_id=period.pk,
        date=day,
        lines=[_hash_line(no, line) for no, line in enumerate(clean, start=1)],
        created_by_id=getattr(by, "pk", None),
        **header,
    )


@transaction.atomic
def journal_entry_create(
    *,
    company: Company,
    journal: Journal | int,
    date: Date,
    lines: Sequence[LineSpec | dict],
    memo: str = "",
    reference: str = "",
    source_key: str = "",
    post: bool = False,
    by: User | None = None,
) -> JournalEntry:
    """Write a draft entry (凭证) with its lines; with ``post=True`` post it in the same transaction.

    A draft may be unbalanced (work in progress); posting is not. With a ``source_key`` the call is idempotent:
    when the company already has an entry with that key, that entry is returned unchanged.
    """
    if source_key and (existing := _existing_by_source_key(company, [source_key]).get(source_key)):
        return existing
    account_ids, dimension_ids = _line_references(lines)
    context = _LedgerContext.load(
        company, account_ids=account_ids, dimension_ids=dimension_ids, journal_ids=[_safe_pk(journal) or 0]
    )
    errors: dict[str, list] = {}
    journal_obj, period = _check_header(
        context=context, journal_id=_safe_pk(journal), day=date, prefix="", errors=errors
    )
    clean = _clean_lines(lines, context=context, prefix="", errors=errors)
    if post and not errors:
        _check_postable(clean, prefix="", errors=errors)
    for name, value, limit in (("memo", memo, 255), ("reference", reference, 100), ("source_key", source_key, 100)):
        if len(value) > limit:
            errors[name] = [_("At most %(max)d characters.") % {"max": limit}]
    if errors:
        raise ValidationError(errors)
    if post:
        posting = _posting_of(
            company=company,
            journal=journal_obj,
            period=period,
            day=date,
            clean=clean,
            memo=memo,
            reference=reference,
            source_key=source_key,
            by=by,
        )
        return _insert_posted([posting], by=by)[0]
    entry = JournalEntry.objects.create(
        company=company,
        journal=journal_obj,
        fiscal_year_id=period.fiscal_year_id,
        period=period,
        date=date,
        memo=memo,
        reference=reference,
        source_key=source_key,
        created_by=by,
    )
    JournalLine.objects.bulk_create(_line_rows(entry, clean, timezone.now()))
    return entry


@transaction.atomic
def journal_entry_update(
    *,
    entry: JournalEntry,
    by: User | None = None,
    journal: Journal | int | None = None,
    date: Date | None = None,
    memo: str | None = None,
    reference: str | None = None,
    lines: Sequence[LineSpec | dict] | None = None,
) -> JournalEntry:
    """Change a draft: header fields and/or all its lines (``lines`` replaces them). Posted entries are final
    (409): correct them with ``journal_entry_reverse``. Locks the entry."""
    entry = lock_entry(entry.pk)
    if entry.is_posted:
        raise LedgerConflict("entry_posted", _("The entry is posted; reverse it instead of editing it."))
    company = entry.company
    account_ids, dimension_ids = _line_references(lines or ())
    journal_id = _safe_pk(journal) if journal is not None else entry.journal_id
    context = _LedgerContext.load(
        company, account_ids=account_ids, dimension_ids=dimension_ids, journal_ids=[journal_id or 0]
    )
    errors: dict[str, list] = {}
    journal_obj, period = _check_header(
        context=context, journal_id=journal_id, day=date or entry.date, prefix="", errors=errors
    )
    clean = _clean_lines(lines, context=context, prefix="", errors=errors) if lines is not None else None
    for name, value, limit in (("memo", memo or "", 255), ("reference", reference or "", 100)):
        if len(value) > limit:
            errors[name] = [_("At most %(max)d characters.") % {"max": limit}]
    if errors:
        raise ValidationError(errors)
    entry.journal = journal_obj
    entry.date = date or entry.date
    entry.period = period
    entry.fiscal_year_id = period.fiscal_year_id
    if memo is not None:
        entry.memo = memo
    if reference is not None:
        entry.reference = reference
    entry.save(update_fields=["journal", "date", "period", "fiscal_year", "memo", "reference", "updated_at"])
    if clean is not None:
        entry.lines.all().delete()
        JournalLine.objects.bulk_create(_line_rows(entry, clean, timezone.now()))
    return entry


@transaction.atomic
def journal_entry_delete(*, entry: JournalEntry, by: User | None = None) -> None:
    """Delete a draft and its lines. A posted entry is never deleted (409; the database refuses it too)."""
    entry = lock_entry(entry.pk)
    if entry.is_posted:
        raise LedgerConflict("entry_posted", _("The entry is posted; reverse it instead of deleting it."))
    entry.lines.all().delete()
    entry.delete()


@transaction.atomic
def journal_entry_post(*, entry: JournalEntry, by: User | None = None) -> JournalEntry:
    """Post a draft: it gets the next number of its journal and fiscal year, its hash in the journal's chain,
    and counts in the period balances; from then on it is frozen. Locks the entry, its journal and the
    sequence row (see the module docstring). Idempotent: posting a posted entry returns it unchanged.
    Publishes ``erp.journal_entry.posted``."""
    entry = lock_entry(entry.pk)
    if entry.is_posted:
        return entry
    rows = list(entry.lines.order_by("line_no").values_list(*HASH_LINE_FIELDS))
    context = _LedgerContext.load(
        entry.company,
        account_ids=[row[1] for row in rows],
        dimension_ids=[d for row in rows for d in row[8:11] if d],
        journal_ids=[entry.journal_id],
    )
    errors: dict[str, list] = {}
    _check_header(context=context, journal_id=entry.journal_id, day=entry.date, prefix="", errors=errors)
    specs = [
        LineSpec(
            account=row[1],
            debit=row[6] if row[2] else ZERO,
            credit=row[6] if row[3] else ZERO,
            currency=row[4],
            exchange_rate=row[5],
            description=row[7],
            cost_centre=row[8],
            department=row[9],
            project=row[10],
        )
        for row in rows
    ]
    clean = _clean_lines(specs, context=context, prefix="", errors=errors)
    if not errors:
        # the stored company amounts are what is posted and hashed (they may have been rounded at entry)
        for line, row in zip(clean, rows, strict=True):
            line.debit, line.credit = row[2], row[3]
        _check_postable(clean, prefix="", errors=errors)
    if errors:
        raise ValidationError(errors)
    _post_drafts(
        [
            _Posting(
                id=entry.pk,
                company_id=entry.company_id,
                journal_id=entry.journal_id,
                fiscal_year_id=entry.fiscal_year_id,
                period_id=entry.period_id,
                date=entry.date,
                lines=rows,
                memo=entry.memo,
                reference=entry.reference,
                source_key=entry.source_key,
                reversal_of_id=entry.reversal_of_id,
                created_by_id=entry.created_by_id,
            )
        ],
        by=by,
    )
    entry.refresh_from_db()
    return entry


@transaction.atomic
def journal_entry_reverse(
    *, entry: JournalEntry, by: User | None = None, date: Date | None = None, memo: str = ""
) -> JournalEntry:
    """Correct a posted entry: post its mirror image (debits and credits swapped) dated ``date`` (default: the
    original's date, which must then be in an open period). An entry is reversed at most once (unique
    ``reversal_of``; a second attempt is a 409). Publishes ``erp.journal_entry.posted`` for the reversal, with
    ``reversal_of_id``."""
    original = JournalEntry.objects.select_related("journal", "fiscal_year").get(pk=entry.pk)
    if not original.is_posted:
        raise LedgerConflict("entry_not_posted", _("Only a posted entry can be reversed; edit or delete the draft."))
    if JournalEntry.objects.filter(reversal_of=original).exists():
        raise LedgerConflict("entry_reversed", _("The entry has already been reversed."))
    rows = list(original.lines.order_by("line_no").values_list(*HASH_LINE_FIELDS))
    day = date or original.date
    context = _LedgerContext.load(original.company, journal_ids=[original.journal_id])
    errors: dict[str, list] = {}
    _check_header(context=context, journal_id=original.journal_id, day=day, prefix="", errors=errors)
    if errors:
        raise ValidationError(errors)
    period = context.period_for(day)
    mirrored = [
        (no, account, credit, debit, currency, rate, amount, text, cc, dep, prj)
        for no, account, debit, credit, currency, rate, amount, text, cc, dep, prj in rows
    ]
    posting = _Posting(
        company_id=original.company_id,
        journal_id=original.journal_id,
        fiscal_year_id=period.fiscal_year_id,
        period_id=period.pk,
        date=day,
        lines=mirrored,
        memo=(memo or f"{_('Reversal of')} {original.display_number}")[:255],
        reference=original.reference,
        reversal_of_id=original.pk,
        created_by_id=getattr(by, "pk", None),
    )
    try:
        with transaction.atomic():
            return _insert_posted([posting], by=by)[0]
    except IntegrityError:
        # another reversal of the same entry won the race (unique reversal_of)
        if JournalEntry.objects.filter(reversal_of=original).exists():
            raise LedgerConflict("entry_reversed", _("The entry has already been reversed.")) from None
        raise


@transaction.atomic
def journal_entries_post_many(
    *, company: Company, entries: Sequence[EntrySpec], by: User | None = None
) -> list[JournalEntry]:
    """Create and post many entries at once — the fast path for imports and generated postings.

    Every entry is validated first (errors keyed ``entries.<i>.lines.<j>.<field>``; nothing is written when one
    is invalid); then entries and lines are inserted with one ``bulk_create`` each, and posted with one
    journal lock and one sequence lock per journal and fiscal year for the whole batch, one UPDATE statement
    and one outbox INSERT. Numbers follow the order of ``entries``. Entries whose ``source_key`` already exists
    are returned as they are, not created again.
    """
    existing = _existing_by_source_key(company, (spec.source_key for spec in entries))
    account_ids: set[int] = set()
    dimension_ids: set[int] = set()
    for spec in entries:
        accounts, dimensions = _line_references(spec.lines)
        account_ids |= accounts
        dimension_ids |= dimensions
    context = _LedgerContext.load(
        company,
        account_ids=account_ids,
        dimension_ids=dimension_ids,
        journal_ids={_safe_pk(spec.journal) or 0 for spec in entries},
    )
    errors: dict[str, list] = {}
    prepared: list[tuple[int, _Posting]] = []
    seen_keys: set[str] = set()
    for index, spec in enumerate(entries):
        if spec.source_key in existing:
            continue
        prefix = f"entries.{index}."
        if spec.source_key:
            if spec.source_key in seen_keys:
                errors[prefix + "source_key"] = [_("The batch holds this source key twice.")]
            seen_keys.add(spec.source_key)
        journal, period = _check_header(
            context=context, journal_id=_safe_pk(spec.journal), day=spec.date, prefix=prefix, errors=errors
        )
        clean = _clean_lines(spec.lines, context=context, prefix=prefix, errors=errors)
        if not any(key.startswith(prefix) for key in errors):
            _check_postable(clean, prefix=prefix, errors=errors)
        for name, value, limit in (("memo", spec.memo, 255), ("reference", spec.reference, 100)):
            if len(value) > limit:
                errors[prefix + name] = [_("At most %(max)d characters.") % {"max": limit}]
        if journal is not None and period is not None:
            posting = _posting_of(
                company=company,
                journal=journal,
                period=period,
                day=spec.date,
                clean=clean,
                memo=spec.memo,
                reference=spec.reference,
                source_key=spec.source_key,
                by=by,
            )
            prepared.append((index, posting))
    if errors:
        raise ValidationError(errors)
    posted = _insert_posted([posting for _, posting in prepared], by=by, batch_event=True)
    created = {index: entry for (index, _), entry in zip(prepared, posted, strict=True)}
    return [created.get(index) or existing[spec.source_key] for index, spec in enumerate(entries)]


# ---------------------------------------------------------------- integrity


@dataclass(frozen=True)
class BrokenEntry:
    entry_id: int
    journal_id: int
    journal_code: str
    fiscal_year: str
    number: int | None
    chain_position: int
    code: str  # entry_missing, not_posted, link_broken, number_gap, content_changed
    problem: str


@dataclass(frozen=True)
class LedgerIntegrity:
    ok: bool
    checked_entries: int
    journals: int
    broken: list[BrokenEntry]  # the first break of each broken journal

    @property
    def first_broken(self) -> BrokenEntry | None:
        return self.broken[0] if self.broken else None


def ledger_verify(
    *, company: Company | None = None, journal: Journal | None = None, chunk: int = 2000
) -> LedgerIntegrity:
    """Recompute every journal's hash chain from the rows as they are now and name, per journal, the first
    entry whose content, link or position does not match (rows changed, removed or inserted behind the
    ledger's back). Reads only; streams entries in chain order, ``chunk`` at a time."""
    journals = Journal.objects.all().order_by("company_id", "code")
    if company is not None:
        journals = journals.filter(company=company)
    if journal is not None:
        journals = journals.filter(pk=journal.pk)
    checked = 0
    broken: list[BrokenEntry] = []
    journal_count = 0
    fiscal_years = dict(FiscalYear.objects.values_list("pk", "name"))
    for journal_obj in journals:
        journal_count += 1
        expected_position, previous_hash = 1, ""
        last_number: dict[int, int] = defaultdict(int)
        after = 0
        problem = None
        while problem is None:
            rows = list(
                JournalEntry.objects.filter(journal=journal_obj, chain_position__gt=after)
                .order_by("chain_position")
                .values_list(
                    "pk",
                    "company_id",
                    "fiscal_year_id",
                    "period_id",
                    "number",
                    "chain_position",
                    "date",
                    "memo",
                    "reference",
                    "reversal_of_id",
                    "previous_hash",
                    "entry_hash",
                    "state",
                )[:chunk]
            )
            if not rows:
                break
            lines: dict[int, list[tuple]] = defaultdict(list)
            for row in (
                JournalLine.objects.filter(entry_id__in=[r[0] for r in rows])
                .order_by("entry_id", "line_no")
                .values_list("entry_id", *HASH_LINE_FIELDS)
            ):
                lines[row[0]].append(row[1:])
            for pk, company_id, fy, period_id, number, position, day, memo, ref, rev, prev, stored, state in rows:
                checked += 1
                after = position
                code = None
                if position != expected_position:
                    code, problem = (
                        "entry_missing",
                        _("an entry is missing before this one (chain position %(got)s, expected %(want)s)")
                        % {"got": position, "want": expected_position},
                    )
                elif state != EntryState.POSTED:
                    code, problem = "not_posted", _("the entry is in the chain but not posted")
                elif prev != previous_hash:
                    code, problem = "link_broken", _("the link to the previous entry does not match")
                elif number != last_number[fy] + 1:
                    code, problem = (
                        "number_gap",
                        _("number %(got)s follows %(last)s in its fiscal year")
                        % {"got": number, "last": last_number[fy]},
                    )
                else:
                    recomputed = entry_content_hash(
                        previous_hash=previous_hash,
                        company_id=company_id,
                        journal_id=journal_obj.pk,
                        fiscal_year_id=fy,
                        period_id=period_id,
                        number=number,
                        chain_position=position,
                        date=day,
                        memo=memo,
                        reference=ref,
                        reversal_of_id=rev,
                        lines=lines.get(pk, []),
                    )
                    if recomputed != stored:
                        code, problem = (
                            "content_changed",
                            _("the content does not match its hash (the entry or its lines were changed)"),
                        )
                if problem is not None:
                    broken.append(
                        BrokenEntry(
                            entry_id=pk,
                            journal_id=journal_obj.pk,
                            journal_code=journal_obj.code,
                            fiscal_year=fiscal_years.get(fy, ""),
                            number=number,
                            chain_position=position,
                            code=code,
                            problem=str(problem),
                        )
                    )
                    break
                expected_position += 1
                previous_hash = stored
                last_number[fy] = number
    return LedgerIntegrity(ok=not broken, checked_entries=checked, journals=journal_count, broken=broken)


__all__ = [
    "AccountType",
    "BrokenEntry",
    "EntrySpec",
    "LedgerConflict",
    "LedgerIntegrity",
    "LineSpec",
    "account_create",
    "account_delete",
    "account_update",
    "chart_of_accounts_install",
    "dimension_create",
    "dimension_delete",
    "dimension_update",
    "entry_content_hash",
    "fiscal_year_create",
    "journal_create",
    "journal_entries_post_many",
    "journal_entry_create",
    "journal_entry_delete",
    "journal_entry_post",
    "journal_entry_reverse",
    "journal_entry_update",
    "journal_update",
    "journals_install_defaults",
    "ledger_verify",
    "period_close",
    "period_reopen",
]
