"""URLs of suite.ops."""

urlpatterns = []
