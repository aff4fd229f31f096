"""The SCRM pages, under /scrm/ (the REST API is scrm.api.urls, under /api/v1/scrm/)."""

from django.urls import path
from django.views.generic import RedirectView

from scrm.views import inbox
from scrm.views import tracking as push_tracking  # (scrmseg)

app_name = "scrm"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="scrm:inbox"), name="index"),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/rows/", inbox.inbox_rows, name="inbox-rows"),
    path("inbox/<int:pk>/", inbox.conversation_detail, name="conversation"),
    path("inbox/<int:pk>/messages/", inbox.conversation_messages, name="conversation-messages"),
    path("inbox/<int:pk>/reply/", inbox.conversation_reply_view, name="conversation-reply"),
    # push tracking (public, signed tokens) — scrmseg
    path("p/<str:token>/", push_tracking.push_click_view, name="push-click"),
    path("p/<str:token>/unsubscribe/", push_tracking.push_unsubscribe_view, name="push-unsubscribe"),
]
