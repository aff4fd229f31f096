"""Who may see and do what in ERP (registered with ``suite.policy``), one section per domain."""

from erp import models as m
from suite.models import Role
from suite.policy import CRUD, ModelPolicy, Scope, register

ADMIN, MANAGER, SALES, FINANCE, WAREHOUSE, PRODUCTION = (
    Role.ADMIN,
    Role.MANAGER,
    Role.SALES,
    Role.FINANCE,
    Role.WAREHOUSE,
    Role.PRODUCTION,
)

# ---------------------------------------------------------------- inventory
# Products, units and prices are seen by everyone who sells, buys, counts, makes or books them (sales may view
# products and prices, not costs); the warehouse and managers keep them. Stock records are company-wide for
# the warehouse, managers, admins, production and finance; the warehouse moves stock, an adjustment is approved
# by a manager or admin. Stock moves, quants and reservations are written only through the stock actions.

INVENTORY_VIEWERS = (ADMIN, MANAGER, SALES, FINANCE, WAREHOUSE, PRODUCTION)
STOCK_VIEWERS = (ADMIN, MANAGER, FINANCE, WAREHOUSE, PRODUCTION)
COST_VIEWERS = (ADMIN, MANAGER, FINANCE, WAREHOUSE, PRODUCTION)
INVENTORY_COMPANY_WIDE = {"owner_field": None, "team_field": None}


def _inventory(model, *, viewers, actions, sensitive=None) -> None:
    register(
        ModelPolicy(
            model=model,
            scopes=dict.fromkeys(viewers, Scope.COMPANY),
            actions={**{role: {"view"} for role in viewers}, **actions},
            sensitive_fields=sensitive or {},
            **INVENTORY_COMPANY_WIDE,
        )
    )


_inventory(
    m.Product,
    viewers=INVENTORY_VIEWERS,
    actions={ADMIN: CRUD | {"export"}, MANAGER: CRUD | {"export"}, WAREHOUSE: {"view", "add", "change", "export"}},
    sensitive={"average_cost": COST_VIEWERS},
)
for _master in (m.UnitOfMeasure, m.ProductCategory, m.UomConversion, m.Lot):
    _inventory(_master, viewers=INVENTORY_VIEWERS, actions={ADMIN: CRUD, MANAGER: CRUD, WAREHOUSE: CRUD})
_inventory(
    m.ProductSupplier,
    viewers=STOCK_VIEWERS,
    actions={ADMIN: CRUD, MANAGER: CRUD, WAREHOUSE: CRUD},
    sensitive={"unit_price": COST_VIEWERS},
)
for _pricing in (m.PriceList, m.PriceListItem):
    _inventory(_pricing, viewers=INVENTORY_VIEWERS, actions={ADMIN: CRUD, MANAGER: CRUD})
for _place in (m.Warehouse, m.Location):
    _inventory(_place, viewers=INVENTORY_VIEWERS, actions={ADMIN: CRUD, MANAGER: CRUD})
_inventory(m.StockQuant, viewers=STOCK_VIEWERS, actions={})
_inventory(
    m.StockMove,
    viewers=STOCK_VIEWERS,
    actions={
        ADMIN: {"view", "receive", "deliver", "transfer"},
        MANAGER: {"view", "receive", "deliver", "transfer"},
        WAREHOUSE: {"view", "receive", "deliver", "transfer"},
    },
)
_inventory(
    m.StockReservation,
    viewers=STOCK_VIEWERS,
    actions={
        ADMIN: {"view", "reserve", "release", "consume"},
        MANAGER: {"view", "reserve", "release", "consume"},
        WAREHOUSE: {"view", "reserve", "release", "consume"},
        PRODUCTION: {"view", "reserve", "release", "consume"},
    },
)
_inventory(
    m.StockAdjustment,
    viewers=STOCK_VIEWERS,
    actions={ADMIN: {"view", "add", "approve"}, MANAGER: {"view", "add", "approve"}, WAREHOUSE: {"view", "add"}},
)
_inventory(
    m.IncomingSupply,
    viewers=STOCK_VIEWERS,
    actions={ADMIN: CRUD | {"cancel"}, MANAGER: CRUD | {"cancel"}, WAREHOUSE: {"view", "add", "change", "cancel"}},
)
_inventory(m.ReorderRule, viewers=STOCK_VIEWERS, actions={ADMIN: CRUD, MANAGER: CRUD, WAREHOUSE: CRUD})
# Soft holds of accepted CRM quotes (closed loop): written only by the event handlers, seen by whoever sells or
# plans stock.
_inventory(m.QuoteReservation, viewers=INVENTORY_VIEWERS, actions={})

# ---------------------------------------------------------------- finance
# The ledger is company-wide: finance and admins keep it (create, post, reverse, close), managers read it and
# its reports. Reopening a closed period is for administrators only (the service checks it again). Period
# balances are the reports' source: whoever may see the ledger may see and export the reports.

LEDGER_VIEWERS = (ADMIN, MANAGER, FINANCE)
LEDGER_KEEPERS = (ADMIN, FINANCE)
LEDGER_COMPANY_WIDE = {"owner_field": None, "team_field": None}


def _ledger(model, *, keepers_may, admin_may=frozenset(), managers_may=frozenset({"view"})) -> None:
    actions = {MANAGER: set(managers_may)}
    for role in LEDGER_KEEPERS:
        actions[role] = {"view", *keepers_may}
    actions[ADMIN] |= set(admin_may)
    register(
        ModelPolicy(
            model=model,
            scopes=dict.fromkeys(LEDGER_VIEWERS, Scope.COMPANY),
            actions=actions,
            **LEDGER_COMPANY_WIDE,
        )
    )


for _master in (m.Account, m.Dimension, m.Journal):
    _ledger(_master, keepers_may=CRUD | {"install"})
_ledger(m.FiscalYear, keepers_may={"add"})
_ledger(m.FiscalPeriod, keepers_may={"close"}, admin_may={"reopen"})
_ledger(
    m.JournalEntry,
    keepers_may=CRUD | {"post", "reverse", "export", "verify"},
    managers_may={"view", "export"},
)
_ledger(m.AccountPeriodBalance, keepers_may={"export"}, managers_may={"view", "export"})

# ---------------------------------------------------------------- sales fulfilment
# Orders, deliveries and returns are company-wide for admins, managers, finance and the warehouse; a
# salesperson sees (read-only) the orders they are the salesperson of, with their deliveries and returns.
# Managers and admins create, confirm, cancel and close orders and release credit holds; finance invoices; the
# warehouse re-checks availability, picks, packs, ships and receives returns.

SALES_COMPANY_VIEWERS = (ADMIN, MANAGER, FINANCE, WAREHOUSE)
SALES_ORDER_ACTIONS = {
    ADMIN: CRUD | {"confirm", "release", "cancel", "close", "invoice", "reserve", "export"},
    MANAGER: CRUD | {"confirm", "release", "cancel", "close", "invoice", "reserve", "export"},
    FINANCE: {"view", "invoice", "export"},
    WAREHOUSE: {"view", "reserve"},
    SALES: {"view"},
}
DELIVERY_ACTIONS = {
    ADMIN: {"view", "pick", "pack", "ship", "deliver", "cancel"},
    MANAGER: {"view", "pick", "pack", "ship", "deliver", "cancel"},
    WAREHOUSE: {"view", "pick", "pack", "ship", "deliver", "cancel"},
    FINANCE: {"view"},
    SALES: {"view"},
}
RETURN_ACTIONS = {
    ADMIN: {"view", "add", "receive", "cancel"},
    MANAGER: {"view", "add", "receive", "cancel"},
    WAREHOUSE: {"view", "add", "receive", "cancel"},
    FINANCE: {"view"},
    SALES: {"view"},
}


def _sales(model, *, salesperson: str, actions) -> None:
    register(
        ModelPolicy(
            model=model,
            scopes={**dict.fromkeys(SALES_COMPANY_VIEWERS, Scope.COMPANY), SALES: Scope.OWN},
            actions=actions,
            owner_field=salesperson,
            team_field=None,
        )
    )


VIEW_ONLY = {"view"}
_sales(m.SalesOrder, salesperson="salesperson", actions=SALES_ORDER_ACTIONS)
_sales(m.SalesOrderLine, salesperson="order__salesperson", actions=dict.fromkeys(SALES_ORDER_ACTIONS, VIEW_ONLY))
_sales(m.DeliveryOrder, salesperson="sales_order__salesperson", actions=DELIVERY_ACTIONS)
_sales(
    m.DeliveryLine, salesperson="delivery__sales_order__salesperson", actions=dict.fromkeys(DELIVERY_ACTIONS, VIEW_ONLY)
)
_sales(
    m.DeliveryPick,
    salesperson="line__delivery__sales_order__salesperson",
    actions=dict.fromkeys(DELIVERY_ACTIONS, VIEW_ONLY),
)
_sales(m.SalesReturn, salesperson="sales_order__salesperson", actions=RETURN_ACTIONS)
_sales(
    m.SalesReturnLine,
    salesperson="sales_return__sales_order__salesperson",
    actions=dict.fromkeys(RETURN_ACTIONS, VIEW_ONLY),
)

# ---------------------------------------------------------------- expenses (报账)
# Every member claims their own expenses (own scope: the claim's employee); managers, finance and administrators
# see the company's claims. Approving a step is for the step's role (the service checks the step again and that
# nobody approves their own claim); posting and reimbursing are finance's. Categories and approval levels are
# read by everyone (the claim form) and kept by finance and administrators.

ALL_MEMBERS = tuple(Role.values)
EXPENSE_COMPANY_WIDE = (ADMIN, MANAGER, FINANCE)
_CLAIMANT_ACTIONS = {"view", "add", "change", "submit", "cancel"}


def _expense(model, *, owner_field: str) -> None:
    register(
        ModelPolicy(
            model=model,
            scopes={**dict.fromkeys(ALL_MEMBERS, Scope.OWN), **dict.fromkeys(EXPENSE_COMPANY_WIDE, Scope.COMPANY)},
            actions={
                **dict.fromkeys(ALL_MEMBERS, _CLAIMANT_ACTIONS),
                MANAGER: _CLAIMANT_ACTIONS | {"approve"},
                FINANCE: _CLAIMANT_ACTIONS | {"approve", "post", "pay", "export"},
                ADMIN: _CLAIMANT_ACTIONS | {"approve", "post", "pay", "export"},
            },
            owner_field=owner_field,
            team_field=None,
        )
    )


_expense(m.ExpenseClaim, owner_field="employee")
for _part in (m.ExpenseLine, m.ExpenseReceipt, m.ExpenseApproval):
    _expense(_part, owner_field="claim__employee")
for _setup in (m.ExpenseCategory, m.ExpenseApprovalLevel):
    register(
        ModelPolicy(
            model=_setup,
            scopes=dict.fromkeys(ALL_MEMBERS, Scope.COMPANY),
            actions={
                **{role: {"view"} for role in ALL_MEMBERS},
                ADMIN: CRUD | {"install"},
                FINANCE: CRUD | {"install"},
            },
            owner_field=None,
            team_field=None,
        )
    )

# ---------------------------------------------------------------- budgets and the cash-flow mapping
# Budgets are finance's to keep and the ledger viewers' to read (a budget's owner is told of crossed thresholds
# by notification and may be anyone; the report itself is for those who see the ledger).
_ledger(m.Budget, keepers_may=CRUD | {"export", "assign"}, managers_may={"view", "export"})  # assign: the owner
_ledger(m.BudgetLine, keepers_may=CRUD | {"export"}, managers_may={"view", "export"})
_ledger(m.BudgetAlert, keepers_may=set())
_ledger(m.CashFlowMapping, keepers_may=CRUD)

# ---------------------------------------------------------------- inventory operations, valuation, procurement
# Counts and transfers are the warehouse's work; a count is approved by a manager or admin (never the person
# who submitted it — the service checks). Valuation layers are costs: seen by who may see costs; the valuation
# settings are finance's. Purchasing is done by managers (and admins): they draft, submit, approve (above the
# company's threshold, not their own submission — the service checks), confirm and cancel orders and handle
# requisitions and RFQs; the warehouse asks for goods (requisitions) and receives them; finance sees orders and
# bills and approves the variance of a blocked bill.
_inventory(
    m.StockCount,
    viewers=STOCK_VIEWERS,
    actions={
        ADMIN: {"view", "add", "change", "submit", "approve", "cancel"},
        MANAGER: {"view", "add", "change", "submit", "approve", "cancel"},
        WAREHOUSE: {"view", "add", "change", "submit", "cancel"},
    },
)
_inventory(m.StockCountLine, viewers=STOCK_VIEWERS, actions={})
_inventory(
    m.StockTransfer,
    viewers=STOCK_VIEWERS,
    actions={role: {"view", "add", "ship", "receive", "cancel"} for role in (ADMIN, MANAGER, WAREHOUSE)},
)
_inventory(m.StockTransferLine, viewers=STOCK_VIEWERS, actions={})
_inventory(m.StockValuationLayer, viewers=COST_VIEWERS, actions={})
_inventory(m.ProductValuation, viewers=COST_VIEWERS, actions={})
_ledger(m.ValuationSettings, keepers_may={"change"})

PURCHASE_VIEWERS = (ADMIN, MANAGER, FINANCE, WAREHOUSE)
BUYERS = (ADMIN, MANAGER)
_inventory(m.ProcurementSettings, viewers=PURCHASE_VIEWERS, actions={ADMIN: {"view", "change"}})
_inventory(
    m.PurchaseRequisition,
    viewers=PURCHASE_VIEWERS,
    actions={
        **{role: CRUD | {"approve", "cancel", "quote"} for role in BUYERS},
        WAREHOUSE: {"view", "add", "cancel"},
    },
)
_inventory(m.PurchaseRequisitionLine, viewers=PURCHASE_VIEWERS, actions={})
_inventory(
    m.RequestForQuotation,
    viewers=PURCHASE_VIEWERS,
    actions={role: {"view", "add", "quote", "accept", "cancel"} for role in BUYERS},
)
_inventory(m.RfqLine, viewers=PURCHASE_VIEWERS, actions={})
_inventory(
    m.PurchaseOrder,
    viewers=PURCHASE_VIEWERS,
    actions={
        **{role: CRUD | {"submit", "approve", "confirm", "cancel", "receive", "bill"} for role in BUYERS},
        WAREHOUSE: {"view", "receive"},
        FINANCE: {"view", "bill"},
    },
)
_inventory(m.PurchaseOrderLine, viewers=PURCHASE_VIEWERS, actions={})
_inventory(
    m.GoodsReceipt,
    viewers=PURCHASE_VIEWERS,
    actions={role: {"view", "add"} for role in (ADMIN, MANAGER, WAREHOUSE)},
)
_inventory(m.GoodsReceiptLine, viewers=PURCHASE_VIEWERS, actions={})
register(
    ModelPolicy(
        model=m.VendorBillMatch,
        scopes=dict.fromkeys((ADMIN, MANAGER, FINANCE), Scope.COMPANY),
        actions={ADMIN: {"view", "approve", "post"}, FINANCE: {"view", "approve", "post"}, MANAGER: {"view"}},
        owner_field=None,
        team_field=None,
    )
)

# ---------------------------------------------------------------- receivables, payables and bank (erpar)
# Invoices, payments and the bank are company-wide records: finance, managers and admins keep them (create, post,
# register payments, reconcile). Sales may look up partners and payment terms (not credit limits) but not
# invoices: an invoice has no owner or team the policy layer could scope "own customers" by — CRM shows a
# customer's balance through erp.selectors.receivables instead.

AR_KEEPERS = (ADMIN, MANAGER, FINANCE)


def _receivables(model, *, keepers_may, viewers=AR_KEEPERS, sensitive=None) -> None:
    register(
        ModelPolicy(
            model=model,
            scopes=dict.fromkeys(viewers, Scope.COMPANY),
            actions={
                **{role: {"view"} for role in viewers},
                **{role: {"view", *keepers_may} for role in AR_KEEPERS},
            },
            sensitive_fields=sensitive or {},
            owner_field=None,
            team_field=None,
        )
    )


_receivables(m.Partner, keepers_may=CRUD, viewers=(*AR_KEEPERS, SALES), sensitive={"credit_limit": AR_KEEPERS})
_receivables(m.PaymentTerm, keepers_may=CRUD, viewers=(*AR_KEEPERS, SALES))
_receivables(m.PaymentTermLine, keepers_may=set(), viewers=(*AR_KEEPERS, SALES))
_receivables(m.Tax, keepers_may=CRUD | {"install"})
_receivables(m.Invoice, keepers_may=CRUD | {"post", "cancel", "refund", "pay", "export"})
_receivables(m.InvoiceLine, keepers_may=set())
_receivables(m.Payment, keepers_may={"add", "allocate", "export"})
_receivables(m.Allocation, keepers_may={"delete"})
_receivables(m.BankAccount, keepers_may=CRUD)
_receivables(m.BankStatement, keepers_may={"add"})
_receivables(m.BankStatementLine, keepers_may={"reconcile"})

# ---------------------------------------------------------------- HR and payroll (erphr)
# The directory (employees, departments, positions, the org chart) is visible to every member, without the
# sensitive fields: the ID number, bank account, salary and contribution base are visible only to hr and payroll.
# HR keeps the organisation, attendance, leave, performance and recruiting; payroll keeps city tables,
# components and runs (hr reads them). A member sees their own attendance, leave and goals (``employee__user``);
# managers see the company's and approve leave (the service checks that they manage the employee, or are hr).

HR, PAYROLL = Role.HR, Role.PAYROLL
HR_SENSITIVE = dict.fromkeys(("id_number", "bank_account", "salary", "social_base"), (HR, PAYROLL))
HR_PEOPLE = (ADMIN, MANAGER, HR, PAYROLL)


def _hr(model, *, scopes, actions, sensitive=None, owner_field=None) -> None:
    register(
        ModelPolicy(
            model=model,
            scopes=scopes,
            actions=actions,
            sensitive_fields=sensitive or {},
            owner_field=owner_field,
            team_field=None,
        )
    )


_hr(
    m.Employee,
    scopes=dict.fromkeys(ALL_MEMBERS, Scope.COMPANY),
    actions={
        **{role: {"view"} for role in ALL_MEMBERS},
        ADMIN: {"view", "export"},
        MANAGER: {"view", "export"},
        HR: CRUD | {"export", "deactivate"},
        PAYROLL: {"view", "change", "export"},
    },
    sensitive=HR_SENSITIVE,
)
for _org in (m.Department, m.Position, m.Shift, m.LeaveType, m.Kpi):
    _hr(
        _org,
        scopes=dict.fromkeys(ALL_MEMBERS, Scope.COMPANY),
        actions={**{role: {"view"} for role in ALL_MEMBERS}, ADMIN: CRUD, HR: CRUD},
    )
_hr(m.EmploymentContract, scopes=dict.fromkeys(HR_PEOPLE, Scope.COMPANY), actions={HR: CRUD})
_OWN_OR_COMPANY = {**dict.fromkeys(ALL_MEMBERS, Scope.OWN), **dict.fromkeys(HR_PEOPLE, Scope.COMPANY)}
_hr(
    m.AttendanceRecord,
    scopes=_OWN_OR_COMPANY,
    actions={
        **{role: {"view", "clock"} for role in ALL_MEMBERS},
        HR: CRUD | {"clock", "import", "export"},
        MANAGER: {"view", "clock", "export"},
    },
    owner_field="employee__user",
)
_hr(
    m.LeaveBalance,
    scopes=_OWN_OR_COMPANY,
    actions={**{role: {"view"} for role in ALL_MEMBERS}, HR: {"view", "accrue"}},
    owner_field="employee__user",
)
_hr(
    m.LeaveRequest,
    scopes=_OWN_OR_COMPANY,
    actions={
        **{role: {"view", "add", "cancel"} for role in ALL_MEMBERS},
        MANAGER: {"view", "add", "cancel", "approve"},
        HR: {"view", "add", "cancel", "approve"},
        ADMIN: {"view", "add", "cancel", "approve"},
    },
    owner_field="employee__user",
)
_PAYROLL_VIEWERS = (HR, PAYROLL)
for _setup in (m.PayrollCity, m.PayrollCityItem, m.PayComponent, m.EmployeePayComponent, m.CommissionLine):
    _hr(_setup, scopes=dict.fromkeys(_PAYROLL_VIEWERS, Scope.COMPANY), actions={HR: {"view"}, PAYROLL: CRUD})
_hr(
    m.PayrollRun,
    scopes=dict.fromkeys(_PAYROLL_VIEWERS, Scope.COMPANY),
    actions={HR: {"view"}, PAYROLL: {"view", "add", "compute", "post", "export"}},
)
_hr(
    m.Payslip,
    scopes=dict.fromkeys(_PAYROLL_VIEWERS, Scope.COMPANY),
    actions={HR: {"view", "export"}, PAYROLL: {"view", "export"}},
)
for _perf in (m.Goal, m.PerformanceReview):
    _hr(
        _perf,
        scopes=_OWN_OR_COMPANY,
        actions={
            **{role: {"view"} for role in ALL_MEMBERS},
            MANAGER: CRUD | {"compute", "submit"},
            HR: CRUD | {"compute", "submit"},
        },
        owner_field="employee__user",
    )
_RECRUITERS = (ADMIN, MANAGER, HR)
for _hiring in (m.JobOpening, m.Candidate, m.Interview):
    _hr(
        _hiring,
        scopes=dict.fromkeys(_RECRUITERS, Scope.COMPANY),
        actions={ADMIN: {"view"}, MANAGER: {"view", "change"}, HR: CRUD | {"move", "hire"}},
    )

# ---------------------------------------------------------------- production
# Production planners and operators (role production), managers and admins keep planning data, run MRP, confirm
# planned orders and drive production orders through the shop floor; the warehouse and finance see them (costs
# included: finance books them). Quality records are kept by the same roles.

PRODUCTION_VIEWERS = (ADMIN, MANAGER, PRODUCTION, WAREHOUSE, FINANCE)
PRODUCTION_KEEPERS = (ADMIN, MANAGER, PRODUCTION)


def _production(model, *, keepers_may) -> None:
    register(
        ModelPolicy(
            model=model,
            scopes=dict.fromkeys(PRODUCTION_VIEWERS, Scope.COMPANY),
            actions={
                **{role: {"view"} for role in PRODUCTION_VIEWERS},
                **{role: {"view", *keepers_may} for role in PRODUCTION_KEEPERS},
            },
            **INVENTORY_COMPANY_WIDE,
        )
    )


for _master in (
    m.ProductPlanning,
    m.WorkCalendar,
    m.WorkCenter,
    m.Routing,
    m.RoutingOperation,
    m.Bom,
    m.BomLine,
    m.DemandForecast,
    m.InspectionPlan,
):
    _production(_master, keepers_may=CRUD)
_production(m.MrpRun, keepers_may={"add", "run"})
_production(m.ForecastSettings, keepers_may={"change"})  # closed loop, flow 10: intent conversion rate
_production(m.PlannedOrder, keepers_may={"confirm", "dismiss"})
_production(
    m.ProductionOrder,
    keepers_may={"add", "release", "issue", "receive", "cancel", "schedule", "operate"},
)
for _child in (m.ProductionMaterial, m.ProductionReceipt):
    _production(_child, keepers_may=set())
_production(m.ProductionOperation, keepers_may={"operate"})
_production(m.OperationReport, keepers_may=set())
_production(m.Inspection, keepers_may={"add"})
_production(m.NonConformance, keepers_may={"add", "close"})
