"""Stock levels: active stockable products with what is on hand, their safety stock and value — the page the
supply dashboard's stock figures drill into (issue #7), filtered by warehouse, category, product and
"at or below zero / safety stock"."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render

from erp.models import ProductCategory, StockQuant, Warehouse
from erp.selectors import dashboards_supply
from suite import policy
from suite.ui.records import actor_required

PAGE_SIZE = 50


@actor_required
def stock_levels(request):
    actor = request.actor
    if not policy.can(actor, "view", StockQuant):
        raise PermissionDenied
    wanted = dashboards_supply.StockLevelsFilter.from_params(request.GET)
    page = Paginator(dashboards_supply.stock_levels(actor, wanted), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "erp/stock_levels.html",
        {
            "page": page,
            "wanted": wanted,
            "drill": wanted.params(),
            "warehouses": policy.scope(actor, Warehouse.objects.filter(is_active=True)).order_by("code"),
            "categories": policy.scope(actor, ProductCategory.objects.all()).order_by("name"),
        },
    )
