"""URLs of suite.auth."""

urlpatterns = []
