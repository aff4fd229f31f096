"""OpenAPI (acceptance 5): the schema builds with zero warnings; Swagger UI and ReDoc are served from local
assets only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders

from suite.api.throttling import clear_throttles

ROOT = Path(settings.BASE_DIR)
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


# `manage.py spectacular ARGS` with one change: a warning would name its view's file but not its line. Finding the
# line (inspect.getsourcelines) parses the view's module again for every view and serializer, half of the command's
# time; which warnings there are, and the schema written, do not depend on it (same file, byte for byte).
SPECTACULAR_WITHOUT_LINE_NUMBERS = """
import runpy, sys
from drf_spectacular.drainage import GENERATOR_STATS
GENERATOR_STATS.enable_trace_lineno = lambda: None
sys.argv = ["manage.py", "spectacular", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""


@pytest.mark.slow
def test_schema_generation_has_zero_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    env = {**os.environ, "TROIKA_ENV": "test"}
    result = subprocess.run(
        [sys.executable, "-c", SPECTACULAR_WITHOUT_LINE_NUMBERS, "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("/api/v1/suite/me/", "/api/v1/suite/teams/", "/api/v1/suite/teams/{id}/", "/api/v1/suite/tokens/"):
        assert path in paths, path
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    # writes document the input as the body and the output as the response
    create = paths["/api/v1/suite/teams/"]["post"]
    body_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response_ref = create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref.endswith("/TeamInputRequest") and response_ref.endswith("/Team")


def test_schema_endpoint_serves_openapi(client, db):
    clear_throttles()
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    body = response.json()
    assert body["info"]["title"] == "Troika API" and "/api/v1/suite/memberships/" in body["paths"]


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_use_local_assets_only(client, db, url):
    clear_throttles()
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "googleapis" not in html and "cdn" not in html.lower()
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert assets, html
    for asset in assets:
        assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy


def test_swagger_init_script_is_served_from_our_origin(client, db):
    response = client.get("/api/docs/", {"script": ""})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in response.content.decode()
