"""The scrm REST API: /api/v1/scrm/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scrm.api import views, views_relations
from scrm.api.webhooks import channel_webhook

router = SimpleRouter()
router.register("channels", views.ChannelViewSet, basename="scrm-channel")
router.register("identities", views.IdentityViewSet, basename="scrm-identity")
router.register("conversations", views.ConversationViewSet, basename="scrm-conversation")
router.register("messages", views.MessageViewSet, basename="scrm-message")
# communities, cadences, WeCom channel QR codes and staff handover (scrmwecom)
router.register("communities", views_relations.CommunityViewSet, basename="scrm-community")
router.register("community-posts", views_relations.CommunityPostViewSet, basename="scrm-community-post")
router.register("cadences", views_relations.CadenceViewSet, basename="scrm-cadence")
router.register("cadence-enrollments", views_relations.CadenceEnrollmentViewSet, basename="scrm-cadence-enrollment")
router.register("contact-ways", views_relations.ContactWayViewSet, basename="scrm-contact-way")
router.register("handover-jobs", views_relations.HandoverJobViewSet, basename="scrm-handover-job")

urlpatterns = [
    path("channels/<int:channel_id>/webhook/", channel_webhook, name="scrm-channel-webhook"),
]
urlpatterns += router.urls
