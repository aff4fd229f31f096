"""URLs of suite.ui."""

urlpatterns = []
