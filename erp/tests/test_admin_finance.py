"""The finance admin: every ledger page loads, nothing is editable, and the actions go through the services."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from erp.models import EntryState, PeriodState
from suite.testing import UserFactory

pytestmark = pytest.mark.django_db

MODELS = ("account", "dimension", "journal", "fiscalyear", "fiscalperiod", "journalentry", "accountperiodbalance")


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_ledger_pages_load_and_are_read_only(root, ledger):
    entry = ledger.sale(date(2025, 1, 3))
    for name in MODELS:
        response = root.get(reverse(f"admin:erp_{name}_changelist"))
        assert response.status_code == 200, name
        assert root.get(reverse(f"admin:erp_{name}_add")).status_code == 403, name
    response = root.get(reverse("admin:erp_journalentry_change", args=[entry.pk]))
    assert response.status_code == 200 and "22210102" in response.content.decode()
    assert b'name="_save"' not in response.content


def test_admin_actions_post_drafts_and_close_periods(root, ledger):
    draft = ledger.draft(date(2025, 1, 4), ("1002", "10.00", 0), ("6001", 0, "10.00"))
    bad = ledger.draft(date(2025, 1, 4), ("1002", "10.00", 0), ("6001", 0, "9.00"))
    response = root.post(
        reverse("admin:erp_journalentry_changelist"),
        {"action": "post_drafts", "_selected_action": [draft.pk, bad.pk]},
        follow=True,
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    bad.refresh_from_db()
    assert draft.state == EntryState.POSTED and bad.state == EntryState.DRAFT
    assert f"#{bad.pk}" in response.content.decode()

    period = ledger.period(2)
    root.post(
        reverse("admin:erp_fiscalperiod_changelist"), {"action": "close_periods", "_selected_action": [period.pk]}
    )
    period.refresh_from_db()
    assert period.state == PeriodState.CLOSED
