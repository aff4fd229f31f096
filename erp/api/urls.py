"""The erp REST API: /api/v1/erp/. One section per domain, each included under its own prefix."""

from django.urls import include, path

urlpatterns = []

# ---------------------------------------------------------------- inventory: /api/v1/erp/inventory/
urlpatterns += [path("inventory/", include("erp.api.inventory"))]

# ---------------------------------------------------------------- finance: /api/v1/erp/finance/
urlpatterns += [path("finance/", include("erp.api.finance"))]
