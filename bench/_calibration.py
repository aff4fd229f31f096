"""The smallest WSGI application: what the load harness and this machine reach with no Django at all.

``bench http_load`` serves it with the same gunicorn settings (2 sync workers) before measuring Troika, so the
figures can be read two ways: against PERFORMANCE-NOTES.md's ceilings (measured with wrk on a quiet machine)
and against what the same Python client reached here, now (which includes the client's own cost and
whatever else the machine was doing).
"""

BODY = b'{"ok": true}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
