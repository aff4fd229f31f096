"""/api/v1/dashboards/ (issue #7)."""

from django.urls import path

from suite.dashboards.api import DashboardDetailView, DashboardListView

urlpatterns = [
    path("", DashboardListView.as_view(), name="api-dashboard-list"),
    path("<slug:key>/", DashboardDetailView.as_view(), name="api-dashboard-detail"),
]
