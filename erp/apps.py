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
