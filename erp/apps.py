from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ErpConfig(AppConfig):
    name = "erp"
    verbose_name = _("ERP")

    def ready(self):
        from erp import (
            dashboards,  # noqa: F401  the finance dashboard (suite.dashboards)
            dashboards_hr,  # noqa: F401  the HR dashboard (suite.dashboards)
            dashboards_supply,  # noqa: F401  the supply & production dashboard (suite.dashboards)
        )
        from suite.services.saved_views import register_list

        for list_name in (
            "sales-order-list",
            "invoice-list",
            "purchase-order-list",
            "production-order-list",
            "hr-employee-list",
        ):
            register_list(f"erp:{list_name}")  # saved views (suite.ui.saved_views)
