"""Module packages per company (issue #7): which parts of the suite a company has switched on.

``Company.enabled_modules`` lists the modules of ``suite.models.Module`` a company uses ("crm", "scrm",
"erp_finance", "erp_supply", "erp_production", "erp_hr"). **An empty list means every module** — the state of
every company created before module packages existed, so nothing changes for them (docs/modules.md). A company
that ticks at least one module gets only those:

- navigation (``suite.ui.menu``) and search hide the entries of disabled modules;
- the API answers 404 on every route of a disabled module (``suite.api.permissions.PolicyPermission``);
- the UI answers 404 on its pages (``ModuleGateMiddleware``), and the admin site hides its models from the
  company's non-superuser staff;
- event handlers of a disabled module are idle for the company: the relay records their run as ``skipped``
  (``suite.events.relay``), never as failed.

Which module a piece of code belongs to is derived from its Python module path (``module_of``): ``crm.*`` → crm,
``scrm.*`` → scrm, ``erp.*.hr`` → erp_hr, … An ERP module path that names no domain (``erp.handlers_loop``) belongs
to "any ERP module" (``ERP_ANY``): it is on when at least one ERP module is. A handler can say which module it
belongs to with ``@events.handler(..., module="erp_supply")``. Data is never deleted: enabling a module again shows
what was there.

This module imports no models, so the event registry and the menu may import it.
"""

from __future__ import annotations

from collections.abc import Iterable

CRM = "crm"
SCRM = "scrm"
ERP_FINANCE = "erp_finance"
ERP_SUPPLY = "erp_supply"
ERP_PRODUCTION = "erp_production"
ERP_HR = "erp_hr"
ERP_ANY = "erp"  # code of the ERP app shared by its modules: on when any ERP module is on
ALL = (CRM, SCRM, ERP_FINANCE, ERP_SUPPLY, ERP_PRODUCTION, ERP_HR)

# An ERP Python module (or one of its "_"-separated words) → the ERP module it belongs to.
ERP_DOMAINS: dict[str, str] = {
    "finance": ERP_FINANCE,
    "invoicing": ERP_FINANCE,
    "invoices": ERP_FINANCE,
    "payments": ERP_FINANCE,
    "expenses": ERP_FINANCE,
    "budgets": ERP_FINANCE,
    "bank": ERP_FINANCE,
    "ledger": ERP_FINANCE,
    "reports": ERP_FINANCE,
    "valuation": ERP_FINANCE,
    "inventory": ERP_SUPPLY,
    "procurement": ERP_SUPPLY,
    "purchasing": ERP_SUPPLY,
    "sales": ERP_SUPPLY,
    "stock": ERP_SUPPLY,
    "stock_operations": ERP_SUPPLY,
    "promise": ERP_SUPPLY,
    "production": ERP_PRODUCTION,
    "shop_floor": ERP_PRODUCTION,
    "mrp": ERP_PRODUCTION,
    "quality": ERP_PRODUCTION,
    "hr": ERP_HR,
    "payroll": ERP_HR,
    "attendance": ERP_HR,
    "recruiting": ERP_HR,
}


def module_of(python_module: str) -> str | None:
    """The module a Python module belongs to: "crm", "scrm", an ERP module, ``ERP_ANY``, or ``None`` (platform
    code and plugins: always on)."""
    parts = python_module.split(".")
    top = parts[0]
    if top in (CRM, SCRM):
        return top
    if top != "erp":
        return None
    for part in parts[1:]:
        if part in ERP_DOMAINS:
            return ERP_DOMAINS[part]
        for word in part.split("_"):
            if word in ERP_DOMAINS:
                return ERP_DOMAINS[word]
    return ERP_ANY


def model_module(model) -> str | None:
    """The module of a model class (its app label for crm/scrm, its ``erp.models.<domain>`` for ERP)."""
    return module_of(model.__module__)


def enabled_set(enabled: Iterable[str] | None) -> frozenset[str]:
    """The modules switched on by a company's ``enabled_modules`` (empty → every module)."""
    chosen = frozenset(enabled or ())
    return chosen or frozenset(ALL)


def is_enabled(enabled: Iterable[str] | None, module: str | None) -> bool:
    """Whether ``module`` is on for a company whose ``enabled_modules`` is ``enabled``."""
    if module is None:
        return True
    on = enabled_set(enabled)
    if module == ERP_ANY:
        return any(name.startswith("erp_") for name in on)
    return module in on


def company_has(company, module: str | None) -> bool:
    """``is_enabled`` for a ``Company`` (or ``None``: no company, nothing is gated)."""
    if company is None:
        return True
    return is_enabled(company.enabled_modules, module)
