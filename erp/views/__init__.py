"""ERP's pages. Importing this package registers ERP's navigation entries with the shell (``suite.ui.menu``),
one section per domain."""

from django.utils.translation import gettext_lazy as _

# ---------------------------------------------------------------- sales fulfilment
from erp.models import DeliveryOrder, SalesOrder, SalesReturn
from suite import policy
from suite.ui import menu

menu.register(
    menu.MenuItem(
        "erp",
        _("Sales orders"),
        "erp:sales-order-list",
        module="erp_supply",
        order=40,
        check=lambda actor: policy.can(actor, "view", SalesOrder),
    ),
    menu.MenuItem(
        "erp",
        _("Deliveries"),
        "erp:delivery-list",
        module="erp_supply",
        order=41,
        check=lambda actor: policy.can(actor, "view", DeliveryOrder),
    ),
    menu.MenuItem(
        "erp",
        _("Customer returns"),
        "erp:sales-return-list",
        module="erp_supply",
        order=42,
        check=lambda actor: policy.can(actor, "view", SalesReturn),
    ),
)

# ---------------------------------------------------------------- reports, expenses, budgets
from erp.models import AccountPeriodBalance, Budget, ExpenseClaim  # noqa: E402

menu.register(
    menu.MenuItem(
        "erp",
        _("Financial statements"),
        "erp:report-balance-sheet",
        module="erp_finance",
        order=20,
        check=lambda actor: policy.can(actor, "view", AccountPeriodBalance),
    ),
    menu.MenuItem(
        "erp",
        _("Expense claims"),
        "erp:expense-list",
        module="erp_finance",
        order=25,
        check=lambda actor: policy.can(actor, "view", ExpenseClaim),
    ),
    menu.MenuItem(
        "erp",
        _("Budgets"),
        "erp:budget-list",
        module="erp_finance",
        order=26,
        check=lambda actor: policy.can(actor, "view", Budget),
    ),
)

# ---------------------------------------------------------------- invoices, payments, bank
from erp.models import BankStatementLine, Invoice, Payment  # noqa: E402

menu.register(
    menu.MenuItem(
        "erp",
        _("Invoices and bills"),
        "erp:invoice-list",
        module="erp_finance",
        order=10,
        check=lambda actor: policy.can(actor, "view", Invoice),
    ),
    menu.MenuItem(
        "erp",
        _("Payments"),
        "erp:payment-list",
        module="erp_finance",
        order=11,
        check=lambda actor: policy.can(actor, "view", Payment),
    ),
    menu.MenuItem(
        "erp",
        _("Aged balances"),
        "erp:aged-report",
        module="erp_finance",
        order=12,
        check=lambda actor: policy.can(actor, "view", Invoice),
    ),
    menu.MenuItem(
        "erp",
        _("Bank reconciliation"),
        "erp:bank-reconcile",
        module="erp_finance",
        order=13,
        check=lambda actor: policy.can(actor, "view", BankStatementLine),
    ),
)

# ---------------------------------------------------------------- procurement, counts, transfers
from erp.models import PurchaseOrder, StockCount, StockTransfer  # noqa: E402

menu.register(
    menu.MenuItem(
        "erp",
        _("Purchase orders"),
        "erp:purchase-order-list",
        module="erp_supply",
        order=50,
        check=lambda actor: policy.can(actor, "view", PurchaseOrder),
    ),
    menu.MenuItem(
        "erp",
        _("Stock counts"),
        "erp:stock-count-list",
        module="erp_supply",
        order=51,
        check=lambda actor: policy.can(actor, "view", StockCount),
    ),
    menu.MenuItem(
        "erp",
        _("Transfers"),
        "erp:stock-transfer-list",
        module="erp_supply",
        order=52,
        check=lambda actor: policy.can(actor, "view", StockTransfer),
    ),
)

# ---------------------------------------------------------------- production
from erp.models import MrpRun, NonConformance, ProductionOperation, ProductionOrder  # noqa: E402

menu.register(
    menu.MenuItem(
        "erp",
        _("Production orders"),
        "erp:production-order-list",
        module="erp_production",
        order=60,
        check=lambda actor: policy.can(actor, "view", ProductionOrder),
    ),
    menu.MenuItem(
        "erp",
        _("MRP"),
        "erp:production-mrp-list",
        module="erp_production",
        order=61,
        check=lambda actor: policy.can(actor, "view", MrpRun),
    ),
    menu.MenuItem(
        "erp",
        _("Shop floor"),
        "erp:production-shop-floor",
        module="erp_production",
        order=62,
        check=lambda actor: policy.can(actor, "view", ProductionOperation),
    ),
    menu.MenuItem(
        "erp",
        _("Production schedule"),
        "erp:production-gantt",
        module="erp_production",
        order=63,
        check=lambda actor: policy.can(actor, "view", ProductionOperation),
    ),
    menu.MenuItem(
        "erp",
        _("Quality"),
        "erp:production-quality",
        module="erp_production",
        order=64,
        check=lambda actor: policy.can(actor, "view", NonConformance),
    ),
)

# ---------------------------------------------------------------- HR and payroll
from erp.models import AttendanceRecord, Employee, Goal, JobOpening, LeaveRequest, PayrollRun  # noqa: E402

menu.register(
    *[
        menu.MenuItem(
            "erp",
            label,
            url_name,
            module="erp_hr",
            order=order,
            check=lambda actor, model=model: policy.can(actor, "view", model),
        )
        for label, url_name, order, model in (
            (_("Employees"), "erp:hr-employee-list", 70, Employee),
            (_("Org chart"), "erp:hr-org-chart", 71, Employee),
            (_("Attendance"), "erp:hr-attendance", 72, AttendanceRecord),
            (_("Leave"), "erp:hr-leave", 73, LeaveRequest),
            (_("Payroll"), "erp:hr-payroll-runs", 74, PayrollRun),
            (_("Goals and reviews"), "erp:hr-goals", 75, Goal),
            (_("Recruiting"), "erp:hr-recruiting", 76, JobOpening),
        )
    ]
)
