from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self):
        from crm import (
            dashboards,  # noqa: F401  the sales and marketing dashboards (suite.dashboards)
            dashboards_service,  # noqa: F401  the service dashboard (suite.dashboards)
        )
