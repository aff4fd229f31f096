"""The import writes a chunk's new records with COPY (``crm.services.imports._copy_insert``): the same rows and
audit as ``bulk_create``, and a batch the database refuses falls back to row by row so only the bad rows fail."""

from decimal import Decimal

import pghistory
import pghistory.models
import pytest
from django.db import transaction

from crm.models import Account, Contact
from crm.services.imports import _copy_plan, _write_created
from crm.tests import factories

pytestmark = pytest.mark.django_db


def _account(company, name, **extra):
    return Account(company=company, name=name, search_text=name.lower(), **extra)


def test_copy_writes_every_column_as_bulk_create_would(company, member):
    user = member(company, "admin", username="importer").user
    account = factories.AccountFactory(company=company, name="母公司")
    records = [
        _account(company, "杭州明远", phone="+8613812345678", credit_limit=Decimal("1200.50"), custom={"level": "A"}),
        Contact(company=company, name="张伟", account=account, owner=user, search_text="张伟 zhangwei zw"),
    ]
    with transaction.atomic(), pghistory.context(source="import", import_job=7, user=user.pk):
        assert _write_created(Account, [(2, records[0])]) == (1, [])
        assert _write_created(Contact, [(3, records[1])]) == (1, [])
    written = Account.objects.get(company=company, name="杭州明远")
    assert (written.phone, written.credit_limit, written.custom) == (
        "+8613812345678",
        Decimal("1200.50"),
        {"level": "A"},
    )
    assert written.created_at is not None and written.updated_at is not None and written.merged_into_id is None
    contact = Contact.objects.get(company=company, name="张伟")
    assert (contact.account_id, contact.owner_id, contact.search_text) == (account.pk, user.pk, "张伟 zhangwei zw")
    for record in (written, contact):
        event = pghistory.models.Events.objects.tracks(record).get(pgh_label="insert")
        assert event.pgh_context == {**event.pgh_context, "source": "import", "import_job": 7, "user": user.pk}


def test_a_refused_batch_falls_back_to_row_by_row(company):
    good = _account(company, "好公司")
    bad = _account(company, "坏公司", credit_limit=Decimal("-1"))  # the database's CHECK refuses it
    with transaction.atomic():
        created, failed = _write_created(Account, [(2, good), (3, bad)])
    assert created == 1
    assert [row for row, _message in failed] == [3]
    assert list(Account.objects.filter(company=company).values_list("name", flat=True)) == ["好公司"]


def test_every_customer_model_is_written_by_copy():
    assert _copy_plan(Account) and _copy_plan(Contact)


def test_one_audit_event_per_row_and_the_trigger_is_back_afterwards(company):
    records = [_account(company, f"批量{k}") for k in range(5)]
    with transaction.atomic(), pghistory.context(source="import", import_job=9):
        assert _write_created(Account, [(k + 2, r) for k, r in enumerate(records)]) == (5, [])
        later = factories.AccountFactory(company=company, name="之后")  # the row trigger works again
    for record in [*Account.objects.filter(company=company, name__startswith="批量"), later]:
        events = pghistory.models.Events.objects.tracks(record).filter(pgh_label="insert")
        assert events.count() == 1
    assert {r.pk for r in records} == set(
        Account.objects.filter(company=company, name__startswith="批量").values_list("pk", flat=True)
    )
    event = pghistory.models.Events.objects.tracks(records[0]).get()
    assert event.pgh_data["name"] == "批量0" and event.pgh_context["import_job"] == 9
