"""The erp REST API: /api/v1/erp/. One section per domain, each included under its own prefix."""

from django.urls import include, path

urlpatterns = []

# ---------------------------------------------------------------- inventory: /api/v1/erp/inventory/
urlpatterns += [path("inventory/", include("erp.api.inventory"))]

# ---------------------------------------------------------------- finance: /api/v1/erp/finance/
urlpatterns += [path("finance/", include("erp.api.finance"))]

# -------------------------------------------- sales: /api/v1/erp/sales-orders/, deliveries/, returns/
urlpatterns += [path("", include("erp.api.sales"))]

# ------------------- expenses, budgets, cash flow: /api/v1/erp/expenses/, budgets/, reports/cash-flow/
from erp.api.budgets import budget_urlpatterns, report_urlpatterns  # noqa: E402

urlpatterns += [
    path("expenses/", include("erp.api.expenses")),
    path("budgets/", include(budget_urlpatterns)),
    path("reports/", include(report_urlpatterns)),
]

# ------ procurement and inventory operations: /api/v1/erp/purchase-orders/, receipts/, stock-counts/, transfers/ …
urlpatterns += [path("", include("erp.api.procurement"))]

# ---------------------------------------------------------------- partners, invoices, payments, bank: /api/v1/erp/
urlpatterns += [path("", include("erp.api.invoicing"))]

# ---------------------------------------------------------------- production: /api/v1/erp/production/
urlpatterns += [path("production/", include("erp.api.production"))]

# ------------------------- HR: employees, attendance, leave, payroll, performance, recruiting: /api/v1/erp/hr/
urlpatterns += [path("hr/", include("erp.api.hr"))]

# --------------------- the explained promise and quote soft holds: /api/v1/erp/promise/, quote-reservations/
from erp.api.promise import reservation_router  # noqa: E402

urlpatterns += [path("promise/", include("erp.api.promise")), path("", include(reservation_router.urls))]

# ------------------------------ forecast settings of demand signals (closed loop): /api/v1/erp/forecast-settings/
urlpatterns += [path("", include("erp.api.forecasting"))]
