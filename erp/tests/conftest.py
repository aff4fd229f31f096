"""Fixtures of the ERP tests, one section per domain."""

# ---------------------------------------------------------------- finance
from erp.tests.finance_support import finance_admin, finance_user, ledger  # noqa: F401
