"""Resolves which company a request acts in, and so its ``Actor`` for the policy layer; refuses page requests
that carry a NUL byte (``NulByteGuardMiddleware``)."""

from django.shortcuts import render

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
        session = getattr(request, "session", None)
        raw = request.META.get(COMPANY_HEADER) or (session.get(SESSION_COMPANY_KEY) if session is not None else None)
        try:
            company_id = int(raw) if raw else None
        except (TypeError, ValueError):
            company_id = -1  # garbage in the header: no company matches, never a fallback to the first one
        # A company the user is not a member of gives no actor (so no access), never a fallback.
        actor = policy.actor_for(getattr(request, "user", None), company_id)
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


class NulByteGuardMiddleware:
    """A page request whose query string or form carries a NUL byte is answered 400 before any view runs.

    No field may hold one (PostgreSQL text cannot), a browser's form never sends one, and a view that reads
    ``request.POST`` by hand would otherwise pass it to the database and fail with a 500. API requests answer
    the same input with a field error instead (``suite.api.errors``), so ``/api/`` is left to them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/") and _carries_nul(request):
            return render(request, "400.html", status=400)
        return self.get_response(request)


def _carries_nul(request) -> bool:
    data = [request.GET] if request.method != "POST" else [request.GET, request.POST]
    return any("\x00" in key or any("\x00" in value for value in values) for d in data for key, values in d.lists())
