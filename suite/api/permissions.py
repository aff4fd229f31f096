"""The API's door to the policy layer: the action a request takes must be allowed for the actor's role."""

from rest_framework import exceptions, permissions

from suite import modules, policy
from suite.middleware import request_actor as _django_request_actor

ACTION_BY_VIEW_ACTION = {
    "list": "view",
    "retrieve": "view",
    "export": "export",  # a file of every visible row is its own permission, not just "view"
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def request_actor(request) -> policy.Actor | None:
    """The actor of a DRF (or Django) request: the token's membership, else the session's company."""
    return _django_request_actor(getattr(request, "_request", request))


def policy_action(view, request) -> str:
    """The policy action a request on ``view`` takes: the view's ``policy_actions`` for its own actions
    (``{"post": "post"}``), else the CRUD action of the viewset action."""
    view_action = getattr(view, "action", None) or ""
    declared = getattr(view, "policy_actions", None) or {}
    if view_action in declared:
        return declared[view_action]
    if getattr(view, "policy_action", None):
        return view.policy_action
    if view_action in ACTION_BY_VIEW_ACTION:
        return ACTION_BY_VIEW_ACTION[view_action]
    return "view" if request.method in permissions.SAFE_METHODS else "change"


class PolicyPermission(permissions.BasePermission):
    """Authenticated, a member of the company acted in, and allowed the action on the view's model.

    Record scope is applied by the view's queryset (``policy.scope``), so a record outside it is a 404. A view of
    a module the company has not enabled (``suite.modules``) is a 404 too."""

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        actor = request_actor(request)
        if actor is None:
            return False
        # Module packages (suite.modules): every route of a module the company has not enabled is a 404.
        if not modules.company_has(actor.company, modules.module_of(type(view).__module__)):
            raise exceptions.NotFound()
        model = getattr(view, "policy_model", None) or getattr(getattr(view, "queryset", None), "model", None)
        if model is None:
            return True  # views without a model (e.g. "who am I") check inside
        return policy.can(actor, policy_action(view, request), model)
