"""erp models: one module per domain."""

# ---------------------------------------------------------------- finance
# ---------------------------------------------------------------- partners, invoicing, bank
from .bank import BankAccount, BankStatement, BankStatementLine, StatementLineState  # noqa: F401

# ---------------------------------------------------------------- expenses, budgets, cash-flow mapping
from .budgets import Budget, BudgetAlert, BudgetLine, CashFlowLine, CashFlowMapping  # noqa: F401
from .expenses import (  # noqa: F401
    ApprovalDecision,
    ExpenseApproval,
    ExpenseApprovalLevel,
    ExpenseCategory,
    ExpenseClaim,
    ExpenseClaimState,
    ExpenseLine,
    ExpenseReceipt,
)
from .finance import (  # noqa: F401
    Account,
    AccountPeriodBalance,
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
from .forecasting import ForecastSettings  # noqa: F401  (closed loop, flows 7 and 10: demand signals → MRP)

# ---------------------------------------------------------------- HR: organisation, attendance, payroll, performance
from .hr import (  # noqa: F401
    AttendanceRecord,
    AttendanceSource,
    Candidate,
    CandidateStage,
    CommissionLine,
    ComponentKind,
    ContractKind,
    ContributionKind,
    Department,
    Employee,
    EmployeePayComponent,
    EmploymentContract,
    Goal,
    Interview,
    JobOpening,
    Kpi,
    KpiSource,
    LeaveBalance,
    LeaveRequest,
    LeaveState,
    LeaveType,
    OpeningState,
    PayComponent,
    PayrollCity,
    PayrollCityItem,
    PayrollMode,
    PayrollRun,
    PayrollRunState,
    Payslip,
    PerformanceReview,
    Position,
    ReviewState,
    Shift,
)

# ---------------------------------------------------------------- inventory
from .inventory import (  # noqa: F401
    AdjustmentState,
    CostMethod,
    IncomingSupply,
    Location,
    LocationKind,
    Lot,
    MoveKind,
    PriceList,
    PriceListItem,
    Product,
    ProductCategory,
    ProductSupplier,
    ReorderRule,
    ReservationState,
    StockAdjustment,
    StockMove,
    StockQuant,
    StockReservation,
    StockReservationAllocation,
    SupplyKind,
    SupplyState,
    UnitOfMeasure,
    UomConversion,
    UomDimension,
    Warehouse,
)
from .invoicing import (  # noqa: F401
    Allocation,
    FapiaoType,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceState,
    PartnerType,
    Payment,
    PaymentState,
    PaymentStateChoice,
    PaymentType,
    Tax,
    TaxKind,
    TaxUse,
)
from .partners import Partner, PaymentTerm, PaymentTermLine  # noqa: F401

# ---------------------------------------------------------------- inventory operations, valuation, procurement
from .procurement import (  # noqa: F401
    GoodsReceipt,
    GoodsReceiptLine,
    MatchState,
    ProcurementSettings,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    PurchaseRequisition,
    PurchaseRequisitionLine,
    RequestForQuotation,
    RequisitionSource,
    RequisitionState,
    RfqLine,
    RfqState,
    VendorBillMatch,
)

# ---------------------------------------------------------------- production
from .production import (  # noqa: F401
    Bom,
    BomLine,
    DemandForecast,
    Inspection,
    InspectionPlan,
    InspectionResult,
    LotRule,
    MrpRun,
    MrpRunStatus,
    NonConformance,
    NonConformanceState,
    OperationState,
    PlannedKind,
    PlannedOrder,
    PlannedState,
    Procurement,
    ProductionMaterial,
    ProductionOperation,
    ProductionOrder,
    ProductionReceipt,
    ProductionState,
    ProductPlanning,
    Routing,
    RoutingOperation,
    WorkCalendar,
    WorkCenter,
)
from .quote_reservations import QuoteReservation, QuoteReservationState  # noqa: F401  (closed loop: soft holds)

# ---------------------------------------------------------------- sales fulfilment
from .sales import (  # noqa: F401
    DeliveryLine,
    DeliveryOrder,
    DeliveryPick,
    DeliveryState,
    InvoiceStatus,
    ReturnDestination,
    ReturnState,
    SalesOrder,
    SalesOrderLine,
    SalesOrderState,
    SalesReturn,
    SalesReturnLine,
)
from .shop_floor import OperationReport  # noqa: F401  (shop-floor reports: operator output)
from .stock_operations import (  # noqa: F401
    CountState,
    StockCount,
    StockCountLine,
    StockTransfer,
    StockTransferLine,
    TransferState,
)
from .valuation import ProductValuation, StockValuationLayer, ValuationSettings  # noqa: F401
