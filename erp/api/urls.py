"""The erp REST API: /api/v1/erp/."""

urlpatterns = []
