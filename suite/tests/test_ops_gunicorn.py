"""Under real gunicorn (2 sync workers): one JSON log line per request with its request id, the id echoed in
``X-Request-ID``, and /metrics summing the request counts of both workers (prometheus multiprocess mode)."""

import json
import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from suite.tests.ops_support import namespace, own_namespace, process_env, running_gunicorn  # noqa: F401


def get(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # first hits load the app
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_requests_are_logged_as_one_json_line_with_the_request_id_and_counted_across_workers(tmp_path):
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = process_env(namespace(), PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir))
    log_path = tmp_path / "gunicorn.log"

    with running_gunicorn(env, workers=2, log_path=log_path) as base:
        status, headers, _ = get(f"{base}/healthz", {"X-Request-ID": "req-from-proxy-0001"})
        _, generated_headers, _ = get(f"{base}/healthz")
        _, unsafe_headers, _ = get(f"{base}/healthz", {"X-Request-ID": "bad id with spaces\u00e9"})
        for _ in range(37):
            get(f"{base}/healthz")
        _, _, page = get(f"{base}/metrics")

    assert status == 503  # no worker heartbeat in this namespace
    assert headers["X-Request-ID"] == "req-from-proxy-0001"
    assert re.fullmatch(r"[0-9a-f]{32}", generated_headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe_headers["X-Request-ID"])

    lines = json_lines(log_path.read_text())
    access = [line for line in lines if line["logger"] == "troika.access"]
    mine = [line for line in access if line["request_id"] == "req-from-proxy-0001"]
    assert len(mine) == 1
    assert mine[0]["method"] == "GET"
    assert mine[0]["path"] == "/healthz"
    assert mine[0]["status"] == 503
    assert mine[0]["level"] == "INFO"
    assert mine[0]["time"].endswith("+00:00")
    assert mine[0]["duration_ms"] > 0
    assert [line["request_id"] for line in access].count(generated_headers["X-Request-ID"]) == 1
    assert len(access) == 41  # every request once: 3 + 37 + /metrics
    # gunicorn's own lines are JSON too; nothing but Python warnings is left as plain text.
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)

    total = 0.0
    for family in text_string_to_metric_families(page.decode()):
        for sample in family.samples:
            if (
                sample.name == "django_http_requests_total_by_view_transport_method_total"
                and sample.labels.get("view") == "healthz"
            ):
                total += sample.value
    assert total == 40  # both workers' counts, summed from the multiprocess directory
    assert len(list(multiproc_dir.glob("counter_*.db"))) >= 2  # the two workers wrote their own files
