"""/api/v1/events/: loop visibility (trace of a correlation id)."""

from django.urls import path

from suite.api.loop import TraceView
from suite.api.loop_monitor import DeadLetterRetryView, LoopMonitorView

urlpatterns = [
    path("trace/<uuid:correlation_id>/", TraceView.as_view(), name="events-trace"),
    path("monitor/", LoopMonitorView.as_view(), name="events-monitor"),
    path("dead-letters/<int:pk>/retry/", DeadLetterRetryView.as_view(), name="events-dead-letter-retry"),
]
