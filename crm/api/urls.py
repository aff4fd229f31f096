"""The crm REST API: /api/v1/crm/."""

urlpatterns = []
