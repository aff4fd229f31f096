"""The scrm REST API: /api/v1/scrm/."""

urlpatterns = []
