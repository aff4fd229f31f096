"""The URL map: UI shell and auth, the REST API under /api/v1/, OpenAPI, admin, health and metrics."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from suite.api.docs import RedocView, SchemaView, SwaggerView
from suite.auth import views as auth_views
from suite.auth.views import admin_login

api_v1 = [
    path("suite/", include("suite.api.urls")),
    path("crm/", include("crm.api.urls")),
    path("scrm/", include("scrm.api.urls")),
    path("erp/", include("erp.api.urls")),
    path("events/", include("suite.api.loop_urls")),
    path("dashboards/", include("suite.dashboards.api_urls")),
]

urlpatterns = [
    path("", include("suite.ui.urls")),
    path("", include("suite.auth.urls")),
    path("", include("suite.ops.urls")),
    path("crm/", include("crm.urls")),
    path("scrm/", include("scrm.urls")),
    path("erp/", include("erp.urls")),
    path("dashboards/", include("suite.dashboards.urls")),
    path("i18n/setlang/", auth_views.set_language, name="set_language"),  # remembers it for notifications
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # The admin logs in through the suite's login: one place for brute-force counting and the second factor.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
]

handler404 = "suite.ui.views.not_found"
handler403 = "suite.ui.views.permission_denied"
handler500 = "suite.ui.views.server_error"
