"""The OpenAPI schema and its two readers, Swagger UI and ReDoc, served from drf-spectacular-sidecar's local
assets (no CDN, no outside web fonts).

Both readers inject inline styles and ReDoc runs its search in a ``blob:`` worker, which the site-wide CSP
forbids; these two pages alone get a CSP that allows that (scripts stay ``'self'`` only).
"""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

DOCS_CSP = {"style-src": [SELF, UNSAFE_INLINE], "worker-src": [SELF, "blob:"], "img-src": [SELF, "data:"]}


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema (YAML; JSON with ``?format=json``)."""


@method_decorator(csp_replace(DOCS_CSP), name="dispatch")
class SwaggerView(SpectacularSwaggerSplitView):
    pass


@method_decorator(csp_replace(DOCS_CSP), name="dispatch")
class RedocView(SpectacularRedocView):
    template_name = "suite/api/redoc.html"
