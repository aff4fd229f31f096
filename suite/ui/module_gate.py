"""Module packages in the UI and the admin site (suite.modules): a disabled module's pages are a 404.

``ModuleGateMiddleware`` checks every resolved page of ``crm``, ``scrm`` and ``erp`` (not their API, which
``suite.api.permissions.PolicyPermission`` gates, token requests included) against the company the user acts in.
The admin site hides the models of disabled modules from non-superuser staff and answers 404 on their pages.
"""

from __future__ import annotations

from django.http import Http404

from suite import modules


def _view_module(view_func) -> str | None:
    model_admin = getattr(view_func, "model_admin", None)
    if model_admin is not None:
        return modules.model_module(model_admin.model)
    target = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None) or view_func
    python_module = getattr(target, "__module__", "") or ""
    if ".api." in f"{python_module}.":
        return None  # DRF views: gated by PolicyPermission once the token is authenticated
    return modules.module_of(python_module)


class ModuleGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        module = _view_module(view_func)
        if module is None:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_superuser:
            return None  # the view itself sends anonymous visitors to the login; superusers see everything
        get_actor = getattr(request, "get_actor", None)
        actor = get_actor() if get_actor else None
        if actor is not None and not modules.company_has(actor.company, module):
            raise Http404
        return None


def install_admin_gate(site) -> None:
    """Hide the models of the acting company's disabled modules from the admin index and app pages of
    non-superuser staff (their pages are a 404 through ``ModuleGateMiddleware``)."""
    if getattr(site, "_troika_module_gate", False):
        return
    build = site._build_app_dict

    def gated_build_app_dict(request, label=None):
        app_dict = build(request, label)
        user = getattr(request, "user", None)
        get_actor = getattr(request, "get_actor", None)
        actor = get_actor() if (get_actor and user is not None and not user.is_superuser) else None
        if actor is None or not app_dict:
            return app_dict

        def keep(model_entry) -> bool:
            return modules.company_has(actor.company, modules.model_module(model_entry["model"]))

        if label:
            app_dict["models"] = [m for m in app_dict.get("models", []) if keep(m)]
            return app_dict if app_dict["models"] else {}
        for app_label in list(app_dict):
            app_dict[app_label]["models"] = [m for m in app_dict[app_label]["models"] if keep(m)]
            if not app_dict[app_label]["models"]:
                del app_dict[app_label]
        return app_dict

    site._build_app_dict = gated_build_app_dict
    site._troika_module_gate = True
