"""The scrm REST API: /api/v1/scrm/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from scrm.api import campaigns as qr_api  # (scrmqr)
from scrm.api import segments as segment_views  # (scrmseg)
from scrm.api import views, views_relations
from scrm.api.webhooks import channel_webhook

router = SimpleRouter()
router.register("channels", views.ChannelViewSet, basename="scrm-channel")
router.register("identities", views.IdentityViewSet, basename="scrm-identity")
router.register("conversations", views.ConversationViewSet, basename="scrm-conversation")
router.register("messages", views.MessageViewSet, basename="scrm-message")
# tags, segments, consents, pushes (scrmseg)
router.register("tag-rules", segment_views.TagRuleViewSet, basename="scrm-tag-rule")
router.register("segments", segment_views.SegmentViewSet, basename="scrm-segment")
router.register("consents", segment_views.ConsentViewSet, basename="scrm-consent")
router.register("push-campaigns", segment_views.PushCampaignViewSet, basename="scrm-push-campaign")
router.register("push-messages", segment_views.PushMessageViewSet, basename="scrm-push-message")
# communities, cadences, WeCom channel QR codes and staff handover (scrmwecom)
router.register("communities", views_relations.CommunityViewSet, basename="scrm-community")
router.register("community-posts", views_relations.CommunityPostViewSet, basename="scrm-community-post")
router.register("cadences", views_relations.CadenceViewSet, basename="scrm-cadence")
router.register("cadence-enrollments", views_relations.CadenceEnrollmentViewSet, basename="scrm-cadence-enrollment")
router.register("contact-ways", views_relations.ContactWayViewSet, basename="scrm-contact-way")
router.register("handover-jobs", views_relations.HandoverJobViewSet, basename="scrm-handover-job")

# QR campaigns, coupons, UGC (scrmqr)
router.register("qr-campaigns", qr_api.QrCampaignViewSet, basename="scrm-qr-campaign")
router.register("qr-codes", qr_api.QrCodeViewSet, basename="scrm-qr-code")
router.register("qr-scans", qr_api.QrScanViewSet, basename="scrm-qr-scan")
router.register("qr-claims", qr_api.QrClaimViewSet, basename="scrm-qr-claim")
router.register("coupon-templates", qr_api.CouponTemplateViewSet, basename="scrm-coupon-template")
router.register("coupons", qr_api.CouponViewSet, basename="scrm-coupon")
router.register("ugc", qr_api.UgcViewSet, basename="scrm-ugc")

urlpatterns = [
    path("channels/<int:channel_id>/webhook/", channel_webhook, name="scrm-channel-webhook"),
]
urlpatterns += router.urls
