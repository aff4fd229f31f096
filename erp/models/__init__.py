"""erp models: one module per domain."""

# ---------------------------------------------------------------- finance
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
