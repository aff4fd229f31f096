"""/dashboards/: the managers' dashboards (issue #7)."""

from django.urls import path

from suite.dashboards import views

urlpatterns = [
    path("", views.dashboard_index, name="dashboard-index"),
    path("<slug:key>/", views.dashboard_detail, name="dashboard-detail"),
    path("<slug:key>/export.xlsx", views.dashboard_export, name="dashboard-export"),
]
