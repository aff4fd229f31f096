"""The SCRM pages, under /scrm/ (the REST API is scrm.api.urls, under /api/v1/scrm/)."""

from django.urls import path
from django.views.generic import RedirectView

from scrm.views import campaigns as qr  # (scrmqr)
from scrm.views import coupons as coupon_views  # (scrmseg2)
from scrm.views import inbox, relations
from scrm.views import segments as segment_views  # (scrmseg)
from scrm.views import tracking as push_tracking  # (scrmseg)

app_name = "scrm"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="scrm:inbox"), name="index"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/rows/", inbox.inbox_rows, name="inbox-rows"),
    path("inbox/<int:pk>/", inbox.conversation_detail, name="conversation"),
    path("inbox/<int:pk>/messages/", inbox.conversation_messages, name="conversation-messages"),
    path("inbox/<int:pk>/reply/", inbox.conversation_reply_view, name="conversation-reply"),
    path("inbox/<int:pk>/reply-fill/", inbox.conversation_reply_fill, name="conversation-reply-fill"),
    path("inbox/<int:pk>/ticket/", inbox.conversation_ticket_view, name="conversation-ticket"),
    path("inbox/<int:pk>/lead/", inbox.conversation_lead_view, name="conversation-lead"),
    # communities, cadences, staff handover (scrmwecom)
    path("communities/", relations.community_list, name="communities"),
    path("communities/<int:pk>/", relations.community_detail, name="community"),
    path("cadences/", relations.cadence_list, name="cadences"),
    path("cadences/new/", relations.cadence_edit, name="cadence-new"),
    path("cadences/<int:pk>/", relations.cadence_edit, name="cadence"),
    path("handover/", relations.handover_list, name="handovers"),
    path("handover/<int:pk>/", relations.handover_detail, name="handover"),
    path("handover/<int:pk>/advance/", relations.handover_advance, name="handover-advance"),
    # segments, auto-tag rules, push campaigns — scrmseg
    path("segments/", segment_views.segment_list, name="segments"),
    path("segments/new/", segment_views.segment_edit, name="segment-new"),
    path("segments/count/", segment_views.segment_count_view, name="segment-count"),
    path("segments/<int:pk>/", segment_views.segment_edit, name="segment-edit"),
    path("rules/", segment_views.rule_list, name="rules"),
    path("pushes/", segment_views.push_list, name="pushes"),
    path("pushes/new/", segment_views.push_new, name="push-new"),
    path("pushes/<int:pk>/", segment_views.push_detail, name="push-detail"),
    path("pushes/<int:pk>/cancel/", segment_views.push_cancel_view, name="push-cancel"),
    # push tracking (public, signed tokens) — scrmseg
    path("p/<str:token>/", push_tracking.push_click_view, name="push-click"),
    path("p/<str:token>/unsubscribe/", push_tracking.push_unsubscribe_view, name="push-unsubscribe"),
    # QR campaigns, the public landing page a code opens, the UGC wall — scrmqr
    path("qr-campaigns/", qr.campaign_list, name="qr-campaigns"),
    path("qr-campaigns/<int:pk>/", qr.campaign_detail, name="qr-campaign"),
    path("q/<str:token>/", qr.qr_landing, name="qr-landing"),
    path("q/<str:token>/wechat/", qr.qr_wechat, name="qr-wechat"),
    path("q/<str:token>/oauth/", qr.qr_oauth_callback, name="qr-oauth"),
    path("ugc/", qr.ugc_wall, name="ugc-wall"),
    path("ugc/<int:pk>/action/", qr.ugc_action, name="ugc-action"),
    # coupons: list with filters, issue to a segment or a customer, redeem — scrmseg2
    path("coupons/", coupon_views.coupon_list, name="coupons"),
    path("coupons/issue/", coupon_views.coupon_issue, name="coupon-issue"),
    path("coupons/redeem/", coupon_views.coupon_redeem, name="coupon-redeem"),
]
