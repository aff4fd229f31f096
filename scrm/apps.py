from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScrmConfig(AppConfig):
    name = "scrm"
    verbose_name = _("SCRM")

    def ready(self):
        from scrm import dashboards  # noqa: F401  the social dashboard (suite.dashboards registry)
