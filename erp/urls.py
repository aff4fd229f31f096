"""ERP's pages, under /erp/ (the REST API is erp.api.urls, under /api/v1/erp/). One section per domain, each
adding its routes to ``urlpatterns``."""

from django.urls import path

app_name = "erp"

urlpatterns = []

# ---------------------------------------------------------------- sales fulfilment: /erp/sales/
from erp.views import sales  # noqa: E402

urlpatterns += [
    path("sales/orders/", sales.order_list, name="sales-order-list"),
    path("sales/orders/new/", sales.order_create, name="sales-order-create"),
    path("sales/orders/<int:pk>/", sales.order_detail, name="sales-order-detail"),
    path("sales/orders/<int:pk>/<slug:name>/", sales.order_action, name="sales-order-action"),
    path("sales/deliveries/", sales.delivery_list, name="delivery-list"),
    path("sales/deliveries/<int:pk>/", sales.delivery_detail, name="delivery-detail"),
    path("sales/deliveries/<int:delivery_pk>/return/", sales.return_create, name="sales-return-create"),
    path("sales/deliveries/<int:pk>/<slug:name>/", sales.delivery_action, name="delivery-action"),
    path("sales/returns/", sales.return_list, name="sales-return-list"),
    path("sales/returns/<int:pk>/", sales.return_detail, name="sales-return-detail"),
    path("sales/returns/<int:pk>/<slug:name>/", sales.return_action, name="sales-return-action"),
]

# ---------------------------------------------------------------- reports, expenses, budgets: /erp/reports/ …
from erp.views import expenses, reports  # noqa: E402

urlpatterns += [
    path("reports/trial-balance/", reports.trial_balance, name="report-trial-balance"),
    path("reports/balance-sheet/", reports.balance_sheet, name="report-balance-sheet"),
    path("reports/income-statement/", reports.income_statement, name="report-income-statement"),
    path("reports/cash-flow/", reports.cash_flow, name="report-cash-flow"),
    path("reports/cash-flow/drilldown/", reports.cash_flow_drilldown, name="report-cash-flow-drilldown"),
    path("reports/general-ledger/", reports.general_ledger, name="report-general-ledger"),
    path("expenses/", expenses.claim_list, name="expense-list"),
    path("expenses/new/", expenses.claim_create, name="expense-create"),
    path("expenses/<int:pk>/", expenses.claim_detail, name="expense-detail"),
    path("expenses/<int:pk>/receipts/", expenses.receipt_upload, name="expense-receipt-upload"),
    path("expenses/<int:pk>/receipts/<int:receipt_pk>/", expenses.receipt_download, name="expense-receipt"),
    path("expenses/<int:pk>/<slug:verb>/", expenses.claim_action, name="expense-action"),
    path("budgets/", expenses.budget_list, name="budget-list"),
    path("budgets/<int:pk>/", expenses.budget_detail, name="budget-detail"),
]

# ---------------------------------------------------------------- invoices, payments, bank: /erp/invoices/ …
from erp.views import invoicing  # noqa: E402

urlpatterns += [
    path("invoices/", invoicing.invoice_list, name="invoice-list"),
    path("invoices/new/", invoicing.invoice_create, name="invoice-create"),
    path("invoices/aged/", invoicing.aged_report, name="aged-report"),
    path("invoices/<int:pk>/", invoicing.invoice_detail, name="invoice-detail"),
    path("invoices/<int:pk>/<slug:verb>/", invoicing.invoice_action, name="invoice-action"),
    path("payments/", invoicing.payment_list, name="payment-list"),
    path("bank/import/", invoicing.bank_import, name="bank-import"),
    path("bank/reconcile/", invoicing.reconcile, name="bank-reconcile"),
    path("bank/reconcile/<int:pk>/<slug:verb>/", invoicing.reconcile_action, name="bank-reconcile-action"),
]

# ------------------------------------------ procurement, counts, transfers: /erp/purchase-orders/ …
from erp.views import procurement  # noqa: E402

urlpatterns += [
    path("purchase-orders/", procurement.order_list, name="purchase-order-list"),
    path("purchase-orders/new/", procurement.order_create, name="purchase-order-create"),
    path("purchase-orders/<int:pk>/", procurement.order_detail, name="purchase-order-detail"),
    path("purchase-orders/<int:pk>/receive/", procurement.order_receive, name="purchase-order-receive"),
    path("purchase-orders/<int:pk>/<slug:name>/", procurement.order_action, name="purchase-order-action"),
    path("stock-counts/", procurement.count_list, name="stock-count-list"),
    path("stock-counts/new/", procurement.count_create, name="stock-count-create"),
    path("stock-counts/<int:pk>/", procurement.count_detail, name="stock-count-detail"),
    path("stock-counts/<int:pk>/<slug:name>/", procurement.count_action, name="stock-count-action"),
    path("transfers/", procurement.transfer_list, name="stock-transfer-list"),
    path("transfers/new/", procurement.transfer_create, name="stock-transfer-create"),
    path("transfers/<int:pk>/", procurement.transfer_detail, name="stock-transfer-detail"),
    path("transfers/<int:pk>/<slug:name>/", procurement.transfer_action, name="stock-transfer-action"),
]

# ---------------------------------------------------------------- production: /erp/production/
from erp.views import production  # noqa: E402

urlpatterns += [
    path("production/", production.order_list, name="production-order-list"),
    path("production/orders/<int:pk>/", production.order_detail, name="production-order-detail"),
    path("production/orders/<int:pk>/<slug:name>/", production.order_action, name="production-order-action"),
    path("production/mrp/", production.mrp_list, name="production-mrp-list"),
    path("production/mrp/<int:pk>/", production.mrp_detail, name="production-mrp-detail"),
    path("production/planned/<int:pk>/<slug:name>/", production.planned_action, name="production-planned-action"),
    path("production/shop-floor/", production.shop_floor, name="production-shop-floor"),
    path(
        "production/operations/<int:pk>/<slug:name>/", production.operation_action, name="production-operation-action"
    ),
    path("production/gantt/", production.gantt, name="production-gantt"),
    path("production/gantt/reschedule/", production.gantt_reschedule, name="production-gantt-reschedule"),
    path("production/quality/", production.quality, name="production-quality"),
]

# ---------------------------------------------------------------- HR and payroll: /erp/hr/
from erp.views import hr  # noqa: E402

urlpatterns += [
    path("hr/employees/", hr.employee_list, name="hr-employee-list"),
    path("hr/employees/export/", hr.employee_export, name="hr-employee-export"),
    path("hr/employees/<int:pk>/", hr.employee_detail, name="hr-employee-detail"),
    path("hr/org-chart/", hr.org_chart, name="hr-org-chart"),
    path("hr/attendance/", hr.attendance, name="hr-attendance"),
    path("hr/leave/", hr.leave, name="hr-leave"),
    path("hr/leave/<int:pk>/<slug:verb>/", hr.leave_action, name="hr-leave-action"),
    path("hr/payroll/", hr.payroll_runs, name="hr-payroll-runs"),
    path("hr/payroll/<int:pk>/", hr.payroll_run, name="hr-payroll-run"),
    path("hr/payroll/<int:pk>/<slug:verb>/", hr.payroll_run_action, name="hr-payroll-run-action"),
    path("hr/payslips/<int:pk>/", hr.payslip, name="hr-payslip"),
    path("hr/goals/", hr.goals, name="hr-goals"),
    path("hr/recruiting/", hr.recruiting, name="hr-recruiting"),
]

# HR create/edit pages (employees, organisation, contracts, manual attendance, recruiting moves and hires)
from erp.views import hr_forms  # noqa: E402

urlpatterns += [
    path("hr/employees/new/", hr_forms.employee_create, name="hr-employee-create"),
    path("hr/employees/<int:pk>/edit/", hr_forms.employee_edit, name="hr-employee-edit"),
    path("hr/employees/<int:pk>/deactivate/", hr_forms.employee_deactivate, name="hr-employee-deactivate"),
    path("hr/employees/<int:pk>/contracts/new/", hr_forms.contract_create, name="hr-contract-create"),
    path("hr/organisation/", hr_forms.organisation, name="hr-organisation"),
    path("hr/departments/<int:pk>/edit/", hr_forms.department_edit, name="hr-department-edit"),
    path("hr/positions/<int:pk>/edit/", hr_forms.position_edit, name="hr-position-edit"),
    path("hr/attendance/new/", hr_forms.attendance_create, name="hr-attendance-create"),
    path("hr/candidates/new/", hr_forms.candidate_create, name="hr-candidate-create"),
    path("hr/candidates/<int:pk>/move/", hr_forms.candidate_move, name="hr-candidate-move"),
    path("hr/candidates/<int:pk>/hire/", hr_forms.candidate_hire, name="hr-candidate-hire"),
]

# ---------------------------------------------------------------- stock levels (dashboard drill-down): /erp/stock/
from erp.views import stock_levels  # noqa: E402

urlpatterns += [
    path("stock/", stock_levels.stock_levels, name="stock-levels"),
]
