"""The inventory admin: every model can be browsed; moves are read-only; adjustments are decided by actions
that call the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from erp.models import AdjustmentState, Location, StockAdjustment, StockMove
from erp.services import inventory as inv
from erp.tests.factories import make_warehouse, stocked
from suite.models import Role
from suite.testing import UserFactory, make_member

pytestmark = pytest.mark.django_db

INVENTORY_MODELS = {
    "unitofmeasure",
    "productcategory",
    "product",
    "pricelist",
    "warehouse",
    "location",
    "lot",
    "stockmove",
    "stockquant",
    "stockreservation",
    "stockadjustment",
    "incomingsupply",
    "reorderrule",
}


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_inventory_models_are_in_admin_and_their_pages_load(admin_client, company):
    product, warehouse = stocked(company, quantity=Decimal(3))
    inv.stock_reserve(product=product, warehouse=warehouse, quantity=1, reference="SO-1")
    registered = {m._meta.model_name for m in site._registry if m._meta.app_label == "erp"}
    assert registered >= INVENTORY_MODELS
    for name in INVENTORY_MODELS:
        assert admin_client.get(reverse(f"admin:erp_{name}_changelist")).status_code == 200, name
    move = StockMove.objects.get()
    page = admin_client.get(reverse("admin:erp_stockmove_change", args=[move.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # read-only: no form to save
    assert admin_client.post(reverse("admin:erp_stockmove_delete", args=[move.pk]), {"post": "yes"}).status_code == 403
    assert StockMove.objects.filter(pk=move.pk).exists()


def test_adjustments_are_approved_by_an_admin_action(admin_client, company):
    product, warehouse = stocked(company, quantity=Decimal(5))
    clerk = make_member(company, Role.WAREHOUSE).user
    location = Location.objects.get(warehouse=warehouse, is_default=True)
    adjustment = inv.stock_adjust(product=product, location=location, quantity_delta=2, reason="盘盈", by=clerk)
    make_warehouse(company)

    response = admin_client.post(
        reverse("admin:erp_stockadjustment_changelist"),
        {"action": "approve_adjustments", "_selected_action": [adjustment.pk]},
    )

    assert response.status_code == 302
    adjustment.refresh_from_db()
    assert adjustment.state == AdjustmentState.APPLIED
    assert StockAdjustment.objects.get().move.quantity == Decimal(2)
