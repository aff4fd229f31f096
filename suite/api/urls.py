"""The platform's REST API: /api/v1/suite/. Register viewsets on ``router`` (before ``urlpatterns`` is built).

Every viewset registered here (and in crm/scrm/erp) is walked by ``tests/test_tenant_isolation.py``: its model
needs a factory in the registry of ``suite.testing`` or that test fails.
"""

from django.urls import path
from rest_framework.routers import SimpleRouter

from suite.api.history import HistoryView
from suite.api.notifications import NotificationViewSet
from suite.api.tenancy import CompanyViewSet, MembershipViewSet, MeView, TeamViewSet
from suite.api.tokens import ApiTokenViewSet, TokenLoginView
from suite.api.webhooks import WebhookDeliveryViewSet, WebhookSubscriptionViewSet

router = SimpleRouter()
router.register("companies", CompanyViewSet, basename="company")
router.register("teams", TeamViewSet, basename="team")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("tokens", ApiTokenViewSet, basename="apitoken")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("auth/token/", TokenLoginView.as_view(), name="auth-token"),
    path("history/<str:label>/<str:pk>/", HistoryView.as_view(), name="history"),
]


urlpatterns += router.urls
