"""Fixtures of the ERP tests, one section per domain."""

# ---------------------------------------------------------------- finance
# ---------------------------------------------------------------- expenses, budgets, cash flow
from erp.tests.expense_support import office  # noqa: F401
from erp.tests.finance_support import finance_admin, finance_user, ledger  # noqa: F401

# ---------------------------------------------------------------- HR and payroll
from erp.tests.hr_support import hr_office  # noqa: F401

# ---------------------------------------------------------------- invoicing and bank
from erp.tests.invoicing_support import books  # noqa: F401

# ---------------------------------------------------------------- valuation, inventory operations, procurement
from erp.tests.procurement_support import buying, finance_member, manager, warehouse_user  # noqa: F401

# ---------------------------------------------------------------- production
from erp.tests.production_support import plant  # noqa: F401
