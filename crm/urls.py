"""The CRM's pages, under /crm/ (the REST API is crm.api.urls, under /api/v1/crm/)."""

from django.urls import path
from django.views.generic import RedirectView

from crm.views import activities, customers, leads, opportunities, tickets

app_name = "crm"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="crm:my-day"), name="index"),
    path("my-day/", activities.my_day, name="my-day"),
    path("accounts/", customers.account_list, name="account-list"),
    path("accounts/new/", customers.account_create, name="account-create"),
    path("accounts/<int:pk>/", customers.account_detail, name="account-detail"),
    path("accounts/<int:pk>/edit/", customers.account_edit, name="account-edit"),
    path("contacts/", customers.contact_list, name="contact-list"),
    path("contacts/new/", customers.contact_create, name="contact-create"),
    path("contacts/<int:pk>/", customers.contact_detail, name="contact-detail"),
    path("contacts/<int:pk>/edit/", customers.contact_edit, name="contact-edit"),
    path("leads/", leads.lead_list, name="lead-list"),
    path("leads/new/", leads.lead_create, name="lead-create"),
    path("leads/<int:pk>/edit/", leads.lead_edit, name="lead-edit"),
    path("leads/<int:pk>/convert/", leads.lead_convert, name="lead-convert"),
    path("opportunities/", opportunities.opportunity_list, name="opportunity-list"),
    path("board/", opportunities.opportunity_board, name="board"),
    path("opportunities/new/", opportunities.opportunity_create, name="opportunity-create"),
    path("opportunities/<int:pk>/", opportunities.opportunity_detail, name="opportunity-detail"),
    path("opportunities/<int:pk>/edit/", opportunities.opportunity_edit, name="opportunity-edit"),
    path("opportunities/<int:pk>/move/", opportunities.opportunity_move, name="opportunity-move"),
    path("opportunities/<int:pk>/lose/", opportunities.opportunity_lose, name="opportunity-lose"),
    path("activities/new/", activities.activity_create, name="activity-create"),
    path("activities/<int:pk>/complete/", activities.activity_complete, name="activity-complete"),
    path("tickets/", tickets.ticket_list, name="ticket-list"),
    path("tickets/new/", tickets.ticket_create, name="ticket-create"),
    path("tickets/report/", tickets.ticket_report, name="ticket-report"),
    path("tickets/<int:pk>/", tickets.ticket_detail, name="ticket-detail"),
    path("tickets/<int:pk>/reply/", tickets.ticket_reply, name="ticket-reply"),
    path("tickets/<int:pk>/note/", tickets.ticket_note, name="ticket-note"),
    path("tickets/<int:pk>/resolve/", tickets.ticket_resolve, name="ticket-resolve"),
    path("tickets/<int:pk>/escalate/", tickets.ticket_escalate, name="ticket-escalate"),
    path("tickets/<int:pk>/assign/", tickets.ticket_assign, name="ticket-assign"),
    path("tickets/<int:pk>/close/", tickets.ticket_close, name="ticket-close"),
    path("csat/<str:token>/", tickets.csat, name="csat"),
]
