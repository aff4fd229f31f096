from importlib import import_module

from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class SuiteConfig(AppConfig):
    name = "suite"
    verbose_name = _("Platform")

    def ready(self) -> None:
        # Applying migrations to a fresh database renders far fewer model classes (suite/migration_speed.py).
        from suite import migration_speed

        migration_speed.install()

        # Each app declares its access policies and its event handlers in modules of its own; importing them
        # here registers them once, in every process (web, worker, beat, tests).
        for config in apps.get_app_configs():
            if config.name in ("suite", "crm", "scrm", "erp"):
                for module in ("policies", "events"):
                    try:
                        import_module(f"{config.name}.{module}")
                    except ModuleNotFoundError as exc:
                        if exc.name != f"{config.name}.{module}":
                            raise
        import_module("suite.signals")
        import_module("suite.services.tokens")  # the token cache's invalidation signals, in every process
        # The event backbone's tasks and the platform's own handlers; TROIKA_EXTRA_EVENT_MODULES adds modules of
        # handlers every process must know (the tests' handlers, which their Celery worker must run too).
        from django.conf import settings

        # Module packages: the admin site hides the models of modules the staff member's company has not enabled.
        from django.contrib import admin

        from suite.ui.module_gate import install_admin_gate

        install_admin_gate(admin.site)
        import_module("suite.events.tasks")
        import_module("suite.events.handlers")
        for module in settings.TROIKA_EXTRA_EVENT_MODULES:
            import_module(module)
