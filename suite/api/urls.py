"""URLs of suite.api."""

urlpatterns = []
