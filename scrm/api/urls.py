"""The scrm REST API: /api/v1/scrm/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scrm.api.webhooks import channel_webhook

router = SimpleRouter()

urlpatterns = [
    path("channels/<int:channel_id>/webhook/", channel_webhook, name="scrm-channel-webhook"),
]
urlpatterns += router.urls
