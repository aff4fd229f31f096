"""Resolves which company a request acts in, and so its ``Actor`` for the policy layer."""

from suite import policy

SESSION_COMPANY_KEY = "troika_company_id"
COMPANY_HEADER = "HTTP_X_TROIKA_COMPANY"


def request_actor(request) -> policy.Actor | None:
    """The actor of a request, computed once: the API token's membership, else the company chosen in the
    session (or the ``X-Troika-Company`` header), else the user's first company."""
    cached = getattr(request, "_troika_actor", False)
    if cached is not False:
        return cached
    membership = getattr(request, "auth_membership", None)
    if membership is not None:
        actor = policy.Actor(membership)
    else:
        company_id = request.META.get(COMPANY_HEADER) or request.session.get(SESSION_COMPANY_KEY)
        try:
            company_id = int(company_id) if company_id else None
        except ValueError:
            company_id = None
        actor = policy.actor_for(request.user, company_id)
        if actor is None and company_id is not None:
            actor = None  # a company the user is not a member of: no access, never a fallback
    request._troika_actor = actor
    return actor


def forget_actor(request) -> None:
    """Drop the cached actor (after login, logout, company switch or token authentication)."""
    if hasattr(request, "_troika_actor"):
        del request._troika_actor


class CompanyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.get_actor = lambda: request_actor(request)
        return self.get_response(request)
