"""The scrm REST API: /api/v1/scrm/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scrm.api import views
from scrm.api.webhooks import channel_webhook

router = SimpleRouter()
router.register("channels", views.ChannelViewSet, basename="scrm-channel")
router.register("identities", views.IdentityViewSet, basename="scrm-identity")
router.register("conversations", views.ConversationViewSet, basename="scrm-conversation")
router.register("messages", views.MessageViewSet, basename="scrm-message")

urlpatterns = [
    path("channels/<int:channel_id>/webhook/", channel_webhook, name="scrm-channel-webhook"),
]
urlpatterns += router.urls
