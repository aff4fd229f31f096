"""The API's door to the policy layer: the action a request takes must be allowed for the actor's role."""

from rest_framework import permissions

from suite import policy

ACTION_BY_VIEW_ACTION = {
    "list": "view",
    "retrieve": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def request_actor(request) -> policy.Actor | None:
    return request._request.get_actor() if hasattr(request._request, "get_actor") else None


class PolicyPermission(permissions.BasePermission):
    """Authenticated, a member of the company acted in, and allowed the action on the view's model.

    Record scope is applied by the view's queryset (``policy.scope``), so a record outside it is a 404."""

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        actor = request_actor(request)
        if actor is None:
            return False
        model = getattr(view, "policy_model", None) or getattr(getattr(view, "queryset", None), "model", None)
        if model is None:
            return True  # views without a model (e.g. "who am I") check inside
        action = getattr(view, "policy_action", None) or ACTION_BY_VIEW_ACTION.get(getattr(view, "action", ""), "view")
        if request.method in permissions.SAFE_METHODS and action not in ("view", "export"):
            action = "view"
        return policy.can(actor, action, model)
