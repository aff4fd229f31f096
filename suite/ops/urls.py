"""URLs of suite.ops: health and metrics (no login; /metrics is restricted, see suite.ops.metrics)."""

from django.urls import path

from suite.ops.health import healthz
from suite.ops.metrics import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]
