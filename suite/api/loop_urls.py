"""/api/v1/events/: loop visibility (trace of a correlation id)."""

from django.urls import path

from suite.api.loop import TraceView

urlpatterns = [
    path("trace/<uuid:correlation_id>/", TraceView.as_view(), name="events-trace"),
]
