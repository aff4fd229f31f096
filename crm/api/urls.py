"""The CRM REST API: /api/v1/crm/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from crm.api import (
    campaigns,
    demand_signals,
    email_log,
    handovers,
    imports,
    pool,
    quotes,
    replies,
    targets,
    tickets,
    views,
)

router = SimpleRouter()
router.register("accounts", views.AccountViewSet, basename="crm-account")
router.register("contacts", views.ContactViewSet, basename="crm-contact")
router.register("tags", views.TagViewSet, basename="crm-tag")
router.register("tag-groups", views.TagGroupViewSet, basename="crm-tag-group")
router.register("custom-field-sets", views.CustomFieldSetViewSet, basename="crm-custom-field-set")
router.register("leads", views.LeadViewSet, basename="crm-lead")
router.register("assignment-rules", views.AssignmentRuleViewSet, basename="crm-assignment-rule")
router.register("scoring-rules", views.LeadScoringRuleViewSet, basename="crm-scoring-rule")
router.register("pipelines", views.PipelineViewSet, basename="crm-pipeline")
router.register("stages", views.StageViewSet, basename="crm-stage")
router.register("lost-reasons", views.LostReasonViewSet, basename="crm-lost-reason")
router.register("opportunities", views.OpportunityViewSet, basename="crm-opportunity")
router.register(
    r"opportunities/(?P<opportunity_pk>[^/.]+)/lines", quotes.OpportunityLineViewSet, basename="crm-opportunity-line"
)
router.register(
    r"opportunities/(?P<opportunity_pk>[^/.]+)/contact-roles",
    quotes.OpportunityContactRoleViewSet,
    basename="crm-opportunity-contact-role",
)
router.register("quotes", quotes.QuoteViewSet, basename="crm-quote")
router.register("activities", views.ActivityViewSet, basename="crm-activity")
router.register("tickets", tickets.TicketViewSet, basename="crm-ticket")
router.register("ticket-categories", tickets.TicketCategoryViewSet, basename="crm-ticket-category")
router.register("sla-policies", tickets.SlaPolicyViewSet, basename="crm-sla-policy")
router.register("ticket-inbound-tokens", tickets.InboundTokenViewSet, basename="crm-ticket-inbound-token")

router.register("imports", imports.ImportJobViewSet, basename="crm-import")
router.register("handovers", handovers.OwnerHandoverViewSet, basename="crm-handover")

router.register("campaigns", campaigns.CampaignViewSet, basename="crm-campaign")
router.register("campaign-costs", campaigns.CampaignCostViewSet, basename="crm-campaign-cost")
router.register("campaign-members", campaigns.CampaignMemberViewSet, basename="crm-campaign-member")
router.register("campaign-touches", campaigns.CampaignTouchViewSet, basename="crm-campaign-touch")
router.register("web-forms", campaigns.WebFormViewSet, basename="crm-web-form")
router.register("reminder-preferences", campaigns.ReminderPreferenceViewSet, basename="crm-reminder-preference")
router.register("nudges", campaigns.NudgeViewSet, basename="crm-nudge")
router.register("sales-targets", targets.SalesTargetViewSet, basename="crm-sales-target")
router.register("pool", pool.PoolAccountViewSet, basename="crm-pool")
router.register("reply-templates", replies.ReplyTemplateViewSet, basename="crm-reply-template")

# before the router: "activities/<pk>/" would take "inbound-email" for a pk
urlpatterns = [
    path("activities/inbound-email/", email_log.EmailLogView.as_view(), name="crm-activity-inbound-email"),
    *router.urls,
]

# closed loop (issue #7, flows 7 and 10): the weighted pipeline and intent snapshot for ERP's MRP, on demand
urlpatterns += [
    path(
        "demand-signals/publish/",
        demand_signals.DemandSignalsPublishView.as_view(),
        name="crm-demand-signals-publish",
    )
]
