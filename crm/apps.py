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
        from suite.services.saved_views import register_list

        for list_name in ("account", "contact", "lead", "opportunity", "quote", "activity", "ticket"):
            register_list(f"crm:{list_name}-list")  # saved views (suite.ui.saved_views)

        from crm.models import Account, Lead, Opportunity, Ticket
        from crm.services import following
        from suite.services.follows import register_followable

        # Follow on their pages (suite.ui.follows, crm.services.following); their state on the Following page
        register_followable(Account, summary=following.account_state, related=("owner",))
        register_followable(Lead, summary=following.lead_state)
        register_followable(Opportunity, summary=following.deal_state, related=("stage",))
        register_followable(Ticket, summary=following.ticket_state)
