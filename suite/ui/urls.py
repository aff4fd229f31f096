"""URLs of suite.ui: the shell's pages."""

from django.urls import path

from suite.ui import attachments, company_settings, follows, loop, mentions, notifications, saved_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("apps/<slug:app>/", views.app_landing, name="app-landing"),
    path("search/", views.search_view, name="search"),
    path("company/switch/", views.company_switch, name="company-switch"),
    path("company/settings/", company_settings.company_settings, name="company-settings"),
    path("directory/", views.directory, name="directory"),
    path("teams/<int:pk>/", views.team_detail, name="team-page"),
    path("history/<str:label>/<str:pk>/", views.history, name="record-history"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path("notifications/bell/", notifications.bell, name="notifications-bell"),
    path("notifications/read-all/", notifications.notification_read_all, name="notifications-read-all"),
    path("notifications/<int:pk>/read/", notifications.notification_read, name="notification-read"),
    path("attachments/<str:label>/<str:pk>/", attachments.panel, name="attachments"),
    path("attachments/<str:label>/<str:pk>/upload/", attachments.upload, name="attachment-upload"),
    path("attachment/<int:pk>/download/", attachments.download, name="attachment-download"),
    path("attachment/<int:pk>/remove/", attachments.remove, name="attachment-remove"),
    path("ops/trace/<uuid:correlation_id>/", loop.trace_page, name="ops-trace"),
    path("ops/loop/", loop.monitor_page, name="ops-loop"),
    path("ops/loop/events/<int:pk>/retry/", loop.dead_letter_retry_view, name="ops-loop-retry"),
    path("following/", follows.following, name="following"),
    path("people/mention/", mentions.suggest, name="mention-suggest"),
    path("follow/<str:label>/<str:pk>/", follows.toggle, name="follow-toggle"),
    path("views/save/", saved_views.save, name="saved-view-save"),
    path("views/<int:pk>/delete/", saved_views.delete, name="saved-view-delete"),
    path("views/<int:pk>/update/", saved_views.update, name="saved-view-update"),
    path("views/<int:pk>/default/", saved_views.make_default, name="saved-view-default"),
]
