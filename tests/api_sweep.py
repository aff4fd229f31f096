"""Bad input sent to every API operation (tests/test_api_bad_input_*.py): the brief's "API → 4xx with a
field-level message, never a 500", checked across the whole API rather than endpoint by endpoint.

What is sent comes from the OpenAPI schema integrators read (drf-spectacular, built from the same views and
serializers): each query parameter an operation declares, and each field of its request body, gets values of the
wrong kind for its declared type — text in a number, a number past bigint, ``NaN`` and ``1e999`` in a decimal,
the 30th of February, a NUL byte, a string past any column, an unknown choice, a list where an object goes — one
field at a time, so a value that passes the field's check goes on to the object-level checks and the service. The
whole body is also sent as a JSON list and as a bare string.

Every answer must be below 500 and every 4xx in the API's error format (``errors[]`` with ``code`` and
``message``); a 400 to a bad query parameter names that parameter (``errors[].field``). Each request runs in a
savepoint, so one that breaks the transaction cannot hide the next one's answer.
"""

from __future__ import annotations

import functools
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from suite import policy
from suite.models import Role
from suite.testing import (
    ROUTE_GROUP,
    api_client_for,
    collect_viewsets,
    load_tenant_factories,
    make_member,
    policy_action_of,
    route_url,
)

WRITE_METHODS = ("post", "put", "patch")
SHARED_QUERY_PARAMETERS = {"page", "page_size", "search", "ordering", "format"}
LONG_TEXT = "长" * 10_001

# per type: the values a careless or hostile client sends
BY_TYPE = {
    "integer": ["x", 2**63, -1, 1.5],
    "number": ["x", "NaN", "1e999", "-1e999", 10**40],
    "boolean": ["maybe", 2],
    "date": ["2026-02-30", "x", "99999-01-01"],
    "date-time": ["x", "2026-02-30T25:61:00"],
    "time": ["25:61"],
    "uuid": ["x"],
    "string": ["a\x00b", LONG_TEXT, 5],
    "enum": ["no-such-choice", 7],
    "object": ["x", []],
    "array": ["x", [None], {}],
    "binary": ["not a file"],
}
QUERY_BY_TYPE = {
    "integer": ["x", "99999999999999999999", "-1", "1.5"],
    "number": ["x", "NaN", "1e999"],
    "boolean": ["maybe"],
    "date": ["2026-02-30", "x"],
    "date-time": ["x", "2026-02-30T25:61"],
    "string": ["a\x00b", "长" * 1001],
    "enum": ["no-such-choice"],
    "array": ["x,,y", "1,x"],
}
SHARED_QUERY_VALUES = {
    "page": ["x", "0", "99999999999999999999"],
    "page_size": ["x", "-5"],
    "ordering": ["-no_such_field", ",", "-"],
    "search": ["a\x00b", "%_\\"],
    "format": ["no-such-format"],
}


@functools.cache
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _normal(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@functools.cache
def operations() -> dict[str, dict]:
    """``{path with {} for each parameter: {method: operation}}``."""
    return {_normal(path): item for path, item in openapi()["paths"].items()}


def operation(route: str, method: str) -> dict | None:
    return operations().get(_normal("/" + ROUTE_GROUP.sub("{}", route)), {}).get(method)


def resolve(schema: dict) -> dict:
    """``schema`` with ``$ref``, single ``allOf`` and nullable ``oneOf`` followed."""
    components = openapi()["components"]["schemas"]
    for _ in range(10):
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        elif "oneOf" in schema or "anyOf" in schema:
            options = [s for s in schema.get("oneOf") or schema.get("anyOf") if resolve(s).get("type") != "null"]
            if not options:
                return {}
            schema = options[0]
        else:
            return schema
    return schema


def kind(schema: dict) -> str:
    schema = resolve(schema)
    if "enum" in schema:
        return "enum"
    fmt, typ = schema.get("format"), schema.get("type")
    if fmt in ("date", "date-time", "time", "uuid", "binary"):
        return fmt
    if fmt == "decimal":
        return "number"
    return typ if typ in BY_TYPE else "string"


def body_values(schema: dict) -> list:
    """Hostile values for a body field of ``schema`` — for a list of objects, also one bad item per item field."""
    schema = resolve(schema)
    values = list(BY_TYPE[kind(schema)])
    if kind(schema) == "array":
        item = resolve(schema.get("items", {}))
        values.append(["x"] if kind(item) != "string" else [LONG_TEXT])
        for name, field_schema in item.get("properties", {}).items():
            if not field_schema.get("readOnly"):
                values.append([{name: BY_TYPE[kind(field_schema)][0]}])
    elif kind(schema) == "object":
        for name, field_schema in schema.get("properties", {}).items():
            if not field_schema.get("readOnly"):
                values.append({name: BY_TYPE[kind(field_schema)][0]})
    return values


def request_body(op: dict) -> tuple[str, dict]:
    """The operation's body content type and its (resolved) schema, or ``("", {})``."""
    content = (op.get("requestBody") or {}).get("content") or {}
    for content_type in ("application/json", "multipart/form-data", "application/x-www-form-urlencoded"):
        if content_type in content:
            return content_type, resolve(content[content_type].get("schema", {}))
    return "", {}


class Sweep:
    """Sends the bad input of one operation at a time through ``client``; ``failures`` lists what went wrong."""

    def __init__(self, client=None):
        self.client = client
        self.failures: list[str] = []
        self.sent = 0

    def send(self, method: str, url: str, what: str, *, query=None, body=None, content_type="application/json"):
        self.sent += 1
        try:
            with transaction.atomic():
                if method == "get":
                    response = self.client.get(url, query or {})
                elif content_type == "multipart/form-data" and isinstance(body, dict):
                    response = getattr(self.client, method)(url, body, format="multipart")
                else:
                    response = getattr(self.client, method)(url, body, format="json")
        except Exception as exc:  # any crash is the finding, reported with what was sent
            self.failures.append(f"{method.upper()} {url} {what}: raised {type(exc).__name__}: {exc}"[:600])
            return None
        status = response.status_code
        if status >= 500:
            self.failures.append(f"{method.upper()} {url} {what}: {status} {response.content[:300]!r}")
        elif status >= 400 and response.get("Content-Type", "").startswith("application/json"):
            errors = response.json().get("errors") if isinstance(response.json(), dict) else None
            if not errors or not all("code" in e and "message" in e for e in errors):
                self.failures.append(f"{method.upper()} {url} {what}: {status} not in the error format")
        return response

    def query(self, url: str, op: dict) -> None:
        required = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query" and p.get("required")}
        for parameter in op.get("parameters", []):
            if parameter.get("in") != "query":
                continue
            name = parameter["name"]
            values = SHARED_QUERY_VALUES.get(name) or QUERY_BY_TYPE.get(kind(parameter.get("schema", {})), [])
            for value in values:
                response = self.send("get", url, f"?{name}={value[:20]!r}", query={name: value})
                if response is not None and response.status_code == 400 and name not in SHARED_QUERY_PARAMETERS:
                    fields = {str(e.get("field") or "") for e in response.json()["errors"]}
                    # the parameter named, or only the required ones this request left out
                    if not any(f == name or f.startswith(name) for f in fields) and not fields <= required:
                        self.failures.append(f"GET {url} ?{name}=…: 400 names {sorted(fields)}, not {name!r}")

    def body(self, method: str, url: str, op: dict, baseline: dict | None = None) -> None:
        """Bad bodies for one write. ``baseline`` (the record as read back, for a create or a full update) fills
        the other fields, so that a bad value which passes its own field's check meets the service."""
        content_type, schema = request_body(op)
        if not content_type:
            self.send(method, url, "with a list for a body", body=[])
            return
        for bad in ([], "x"):
            self.send(method, url, f"body {json.dumps(bad)}", body=bad)
        for name, field_schema in schema.get("properties", {}).items():
            if field_schema.get("readOnly"):
                continue
            for value in body_values(field_schema):
                if content_type == "multipart/form-data":
                    if kind(field_schema) == "binary":
                        value = SimpleUploadedFile("bad.csv", b"\xff\xfe\x00\x00not,a\x00,file\n")
                    elif not isinstance(value, str | int):
                        continue  # a form sends text
                shown = repr(value)[:40]
                body = {**(baseline or {}), name: value}
                self.send(method, url, f"{{{name!r}: {shown}}}", body=body, content_type=content_type)


def sweep_viewset(routes, company) -> Sweep:
    """Every operation of one viewset, in ``company`` holding one record of the viewset's model (its tenant
    factory), each sent as a member whose role may take it and who sees the record — the admin where the admin
    may, else the first role that may (payroll is not the admin's) — so the input is checked, not the role.
    Reads and edits go first, then the actions (which may move the record on)."""
    model = routes.model
    record = load_tenant_factories()[model](company)
    members: dict[str, object] = {}
    clients: dict[str, object] = {}
    calls = []
    detail_routes = {route for route, _actions in routes.detail_routes}
    for route, actions in [(routes.list_route, routes.list_actions), *routes.list_extra, *routes.detail_routes]:
        for method, view_action in actions.items() if route else ():
            op = operation(route, method) if method in ("get", *WRITE_METHODS) else None
            action = policy_action_of(routes.viewset, view_action, method)
            role = _role_for(company, model, record if route in detail_routes else None, action, members)
            if op is not None and role is not None:
                order = 0 if method == "get" else 1 if view_action in ("create", "update", "partial_update") else 2
                calls.append((order, role, route_url(route, record), method, view_action, op))
    detail = next((route_url(r, record) for r, acts in routes.detail_routes if acts.get("get") == "retrieve"), None)
    sweep = Sweep()
    for _order, role, url, method, view_action, op in sorted(calls, key=lambda call: call[0]):
        if role not in clients:
            clients[role] = api_client_for(members[role])
        sweep.client = clients[role]
        if method == "get":
            sweep.query(url, op)
        elif view_action in ("create", "update") and detail:
            sweep.body(method, url, op, baseline=_as_input(sweep.client.get(detail), op))
        else:
            sweep.body(method, url, op)
    return sweep


def _role_for(company, model, record, action: str, members: dict) -> str | None:
    """The first role (the admin first) that may take ``action`` on ``model`` and sees ``record`` (if any)."""
    for role in (Role.ADMIN, *(r for r in Role.values if r != Role.ADMIN)):
        if role not in members:
            members[role] = make_member(company, role)
        actor = policy.Actor(members[role])
        if policy.can(actor, action, model) and (
            record is None or policy.scope(actor, model._default_manager.filter(pk=record.pk)).exists()
        ):
            return role
    return None


def _as_input(response, op: dict) -> dict:
    """The writable fields of a record's representation, as a client would send them back (related records by
    id)."""
    if response.status_code != 200 or request_body(op)[0] != "application/json":
        return {}
    representation = response.json()
    schema = request_body(op)[1]
    baseline = {}
    for name, field_schema in schema.get("properties", {}).items():
        if field_schema.get("readOnly") or name not in representation or representation[name] is None:
            continue
        value = representation[name]
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "id" in v for v in value):
            value = [v["id"] for v in value]
        baseline[name] = value
    return baseline


def viewless_operations() -> list[tuple[str, str, dict]]:
    """``(path, method, operation)`` of the schema's operations under /api/v1/ that no viewset serves (reports,
    the promise …) whose path has no parameter, and which take a query parameter or a body."""
    served = {
        _normal("/" + ROUTE_GROUP.sub("{}", route))
        for routes in collect_viewsets().values()
        for route in (routes.list_route, *(r for r, _a in routes.list_extra), *(r for r, _a in routes.detail_routes))
        if route
    }
    return [
        (path, method, op)
        for path, item in openapi()["paths"].items()
        if _normal(path) not in served and "{" not in path
        for method, op in item.items()
        if method in WRITE_METHODS or (method == "get" and any(p["in"] == "query" for p in op.get("parameters", [])))
    ]


def sweep_viewless(path: str, method: str, op: dict, company) -> Sweep:
    """One operation no viewset serves, as the first role (the admin first) it does not refuse outright."""
    for role in (Role.ADMIN, *(r for r in Role.values if r != Role.ADMIN)):
        client = api_client_for(make_member(company, role))
        probe = client.get(path) if method == "get" else getattr(client, method)(path, {}, format="json")
        if probe.status_code not in (403, 404):
            break
    sweep = Sweep(client)
    if method == "get":
        sweep.query(path, op)
    else:
        sweep.body(method, path, op)
    return sweep


def app_sweep_tests(prefix: str):
    """The tests of one app's sweep file (``tests/test_api_bad_input_<app>.py``; a file per app, so that
    ``make test``'s two processes share the work): the app has viewsets, each one refuses bad input without
    a 500, and none takes a reference to another company's record."""
    viewsets = {key: routes for key, routes in collect_viewsets().items() if key.startswith(prefix)}

    def test_there_are_operations_to_sweep():
        assert len(viewsets) >= 3

    @pytest.mark.parametrize("key", sorted(viewsets))
    def test_bad_input_is_refused_without_a_500(key, company):
        sweep = sweep_viewset(viewsets[key], company)
        assert sweep.sent > 0
        assert not sweep.failures, "\n".join(sweep.failures)

    @pytest.mark.parametrize("key", sorted(viewsets))
    def test_another_companys_records_cannot_be_referenced(key, company, other_company):
        sweep = sweep_foreign_references(viewsets[key], company, other_company)
        assert not sweep.failures, "\n".join(sweep.failures)

    return (
        test_there_are_operations_to_sweep,
        test_bad_input_is_refused_without_a_500,
        test_another_companys_records_cannot_be_referenced,
    )


def relations_of(serializer_class) -> dict[str, tuple[type, bool]]:
    """The writable relation fields of an input serializer: ``{name: (related model, many)}``."""
    found = {}
    for name, field in serializer_class().fields.items():
        relation = getattr(field, "child_relation", field)
        queryset = getattr(relation, "queryset", None)
        if not field.read_only and isinstance(relation, serializers.RelatedField) and queryset is not None:
            found[name] = (queryset.model, relation is not field)
    return found


def sweep_foreign_references(routes, company, other_company) -> Sweep:
    """The create and update of one viewset, each relation field of their input pointing at a record of
    ``other_company`` (made by its tenant factory, or a member of it for a user field), on top of the record
    as read back: the answer must be a 4xx naming the field — another company's records do not exist here."""
    viewset, model = routes.viewset, routes.model
    record = load_tenant_factories()[model](company)
    factories = load_tenant_factories()
    foreign: dict[type, object] = {}
    sweep = Sweep()
    members: dict[str, object] = {}
    writes = []
    if routes.list_route and routes.list_actions.get("post") == "create" and "post" in viewset.http_method_names:
        writes.append((routes.list_route, "post", "create", viewset.input_serializer_class))
    updates = viewset.update_input_serializer_class or viewset.input_serializer_class
    if "patch" in viewset.http_method_names:
        writes += [(r, "patch", "partial_update", updates) for r, a in routes.detail_routes if a.get("patch")]
    detail = next((route_url(r, record) for r, acts in routes.detail_routes if acts.get("get") == "retrieve"), None)
    for route, method, view_action, serializer_class in writes:
        if serializer_class is None:
            continue
        op = operation(route, method)
        role = _role_for(company, model, record if method == "patch" else None,
                         policy_action_of(viewset, view_action, method), members)  # fmt: skip
        if op is None or role is None:
            continue
        sweep.client = api_client_for(members[role])
        baseline = _as_input(sweep.client.get(detail), op) if detail and method == "post" else {}
        for name, (related, many) in relations_of(serializer_class).items():
            if related not in foreign:
                if related is get_user_model():
                    foreign[related] = make_member(other_company, Role.ADMIN).user
                elif related in factories:
                    foreign[related] = factories[related](other_company)
                else:
                    continue
            value = [foreign[related].pk] if many else foreign[related].pk
            response = sweep.send(method, route_url(route, record), f"{{{name!r}: <other company's>}}",
                                  body={**baseline, name: value})  # fmt: skip
            if response is not None and response.status_code < 400:
                sweep.failures.append(f"{method.upper()} {route} accepted {name} of another company")
            elif response is not None and response.status_code == 400:
                fields = {str(e.get("field") or "") for e in response.json()["errors"]}
                if not any(f == name or f.startswith(f"{name}.") for f in fields):
                    sweep.failures.append(f"{method.upper()} {route} {name} of another company: 400 names {fields}")
    return sweep
