"""The compiled fast paths of the customer list and the opportunity create (``crm.api.fast``) answer exactly what
the DRF path answers: same status, same JSON, same rows written, same audit context — for a grid of queries and
roles — and leave everything they do not handle to the DRF path."""

import json
from datetime import timedelta
from decimal import Decimal

import pghistory.models
import pytest
from django.core.cache import cache
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.api import fast
from crm.models import Account, Opportunity, OpportunityStageChange
from crm.services.custom_fields import custom_field_set_define
from crm.services.customers import customer_merge, customer_tags_set
from crm.tests import factories
from suite import policy
from suite.api.throttling import clear_throttles
from suite.models import Role
from suite.testing import TeamFactory, make_member

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/crm/accounts/"
CONTACTS = "/api/v1/crm/contacts/"
OPPORTUNITIES = "/api/v1/crm/opportunities/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # this test run's key prefix only (suite.cache)


@pytest.fixture
def taken(monkeypatch):
    """Records, per request, whether the fast path answered it."""
    seen = []
    for name in ("customer_list", "opportunity_create"):
        original = getattr(fast, name)

        def spy(view, request, original=original):
            response = original(view, request)
            seen.append(response is not None)
            return response

        monkeypatch.setattr(fast, name, spy)
    return seen


@pytest.fixture
def world(company, other_company):
    """Two teams (one below the other), a manager, salespeople with names that test the owner summary, 60+
    accounts of every kind the page shows (tags with and without a group, custom values, decimals, a merged one,
    names with LIKE's special characters, equal ``updated_at``, a whole second), contacts, and another company."""
    upper = TeamFactory(company=company, name="华东大区")
    lower = TeamFactory(company=company, name="杭州组", parent=upper)
    other_team = TeamFactory(company=company, name="华南组")
    manager = make_member(company, Role.MANAGER, teams=[upper], username="wang")
    upper.manager = manager.user
    upper.save(update_fields=["manager"])
    li = make_member(company, Role.SALES, teams=[lower], username="lisi")
    li.user.first_name, li.user.last_name = "四", "李"
    li.user.save(update_fields=["first_name", "last_name"])
    zhao = make_member(company, Role.SALES, teams=[other_team], username="zhao")
    zhao.user.first_name = " 赵 "
    zhao.user.save(update_fields=["first_name"])
    admin = make_member(company, Role.ADMIN, username="boss")
    service = make_member(company, Role.SERVICE, username="kefu")
    group = factories.TagGroupFactory(company=company, name="等级", sort_order=1)
    vip = factories.TagFactory(company=company, name="VIP", group=group)
    loose = factories.TagFactory(company=company, name="展会")
    custom_field_set_define(
        company=company,
        target="account",
        by=None,
        schema={"type": "object", "properties": {"level": {"type": "string"}, "score": {"type": "integer"}}},
    )
    stamp = timezone.now().replace(microsecond=0) - timedelta(days=3)
    accounts = []
    for k in range(64):
        owner = (li, zhao, manager, None)[k % 4]
        account = factories.AccountFactory(
            company=company,
            name=f"明远{k:02d}" if k % 3 else f"恒达{k:02d}",
            lifecycle_stage=("customer", "lead", "prospect")[k % 3],
            owner=owner.user if owner else None,
            team=(lower, other_team, upper, None)[k % 4],
            credit_limit=Decimal(f"{k * 1000}.{k % 100:02d}") if k % 5 else None,
            custom={"level": "A", "score": k} if k % 7 == 0 else None,
            city="杭州" if k % 2 else "上海",
        )
        accounts.append(account)
        if k % 6 == 0:
            customer_tags_set(customer=account, tags=[vip, loose], by=None)
        elif k % 6 == 1:
            customer_tags_set(customer=account, tags=[loose], by=None)
    factories.AccountFactory(company=company, name="100%_纯净", lifecycle_stage="customer")
    Account.objects.filter(pk__in=[a.pk for a in accounts[:10]]).update(updated_at=stamp)  # ties, no microseconds
    customer_merge(survivor=accounts[1], duplicate=accounts[2], by=None)
    for k in range(12):
        factories.ContactFactory(
            company=company, name=f"张明远{k}", account=accounts[k] if k % 2 else None, owner=li.user
        )
    factories.AccountFactory(company=other_company, name="明远外司", lifecycle_stage="customer")
    outsider = make_member(other_company, Role.ADMIN, username="outsider")
    return {
        "admin": admin,
        "manager": manager,
        "li": li,
        "zhao": zhao,
        "service": service,
        "outsider": outsider,
        "accounts": accounts,
        "vip": vip,
    }


def _both(client, settings, method: str, url: str, body=None):
    """The DRF path's answer, then the fast path's, to the same request."""
    answers = []
    for enabled in (False, True):
        settings.CRM_API_FAST_PATH = enabled
        if method == "get":
            answers.append(client.get(url))
        else:
            answers.append(client.post(url, json.dumps(body), content_type="application/json"))
    return answers


ROLES = ["admin", "manager", "li", "zhao", "service", "outsider"]
LIST_QUERIES = [
    ("", True),
    ("?search=mingyuan", True),
    ("?lifecycle_stage=customer", True),
    ("?lifecycle_stage=customer&search=mingyuan", True),
    ("?search=ming%20yuan", True),  # two terms
    ("?search=MingYuan", True),
    ("?search=%25", True),  # LIKE's wildcards are literal characters
    ("?search=_", True),
    ("?search=明远0", True),
    ("?page=2", True),
    ("?page=2&search=%E6%98%8E%E8%BF%9C", True),
    ("?page=9", False),  # past the end: the DRF path's 404
    ("?page=0", False),
    ("?page=abc", False),
    ("?page=last", False),
    ("?lifecycle_stage=nonsense", False),  # 400
    ("?lifecycle_stage=customer&lifecycle_stage=lead", False),
    ("?lifecycle_stage=", False),
    ("?search=a%00b", False),  # 400
    ("?ordering=name", False),
    ("?tag={vip}", False),
    ("?custom.level=A", False),
    ("?include_merged=1", False),
    ("?page_size=5", False),
    ("?format=json", False),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("query", "compiled"), LIST_QUERIES)
def test_the_customer_list_answers_as_the_drf_path(api_client, settings, world, taken, role, query, compiled):
    client = api_client(world[role], token=True)
    drf, quick = _both(client, settings, "get", ACCOUNTS + query.format(vip=world["vip"].pk))
    assert quick.status_code == drf.status_code, quick.content
    assert quick.json() == drf.json()
    assert quick.content == drf.content  # the same bytes, even
    assert quick["Content-Type"] == drf["Content-Type"]
    assert quick["Allow"] == drf["Allow"]
    assert quick["Vary"] == drf["Vary"]
    assert taken == [False, compiled and drf.status_code == 200]  # past a scope's last page: the DRF path's 404


def test_the_grid_shows_what_each_scope_allows(api_client, world):
    """The grid above compares like with like: each role sees a different, non-empty page (the outsider none)."""
    counts = {role: api_client(world[role], token=True).get(ACCOUNTS).json()["count"] for role in ROLES}
    assert counts["admin"] == counts["service"] == 64  # 65 accounts, one merged away
    assert 0 < counts["li"] < counts["manager"] < counts["admin"]
    assert 0 < counts["zhao"] < counts["admin"]
    assert counts["outsider"] == 1  # their own company's only


@pytest.mark.parametrize("query", ["", "?search=zhang", "?search=mingyuan&page=1"])
@pytest.mark.parametrize("role", ["admin", "li", "manager"])
def test_the_contact_list_answers_as_the_drf_path(api_client, settings, world, taken, role, query):
    client = api_client(world[role], token=True)
    drf, quick = _both(client, settings, "get", CONTACTS + query)
    assert (quick.status_code, quick.content) == (drf.status_code, drf.content)
    assert taken == [False, True]


def test_session_requests_and_the_browsable_api_take_the_drf_path(api_client, settings, world, taken):
    settings.CRM_API_FAST_PATH = True
    assert api_client(world["admin"]).get(ACCOUNTS).status_code == 200
    html = api_client(world["admin"], token=True).get(ACCOUNTS, HTTP_ACCEPT="text/html")
    assert html.status_code == 200
    assert html["Content-Type"].startswith("text/html")
    assert taken == [False, False]


def test_a_listed_page_is_one_query_once_the_count_is_known(api_client, settings, world, taken):
    client = api_client(world["admin"], token=True)
    client.get(ACCOUNTS + "?search=mingyuan")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(ACCOUNTS + "?search=mingyuan")
    assert response.status_code == 200
    assert taken == [True, True]
    assert len(queries.captured_queries) == 1  # token and throttle from Redis; page, tags and versions in one


def test_the_count_follows_writes_on_the_fast_path(api_client, world, company):
    client = api_client(world["admin"], token=True)
    before = client.get(ACCOUNTS + "?search=mingyuan").json()["count"]
    factories.AccountFactory(company=company, name="明远新客")
    assert client.get(ACCOUNTS + "?search=mingyuan").json()["count"] == before + 1


def test_a_policy_change_applies_to_the_fast_path(api_client, world, monkeypatch, taken):
    """The scope comes from ``policy.scope``: a rule changed there changes the compiled page too."""
    client = api_client(world["service"], token=True)
    assert client.get(ACCOUNTS).json()["count"] == 64
    rules = policy.policy_for(Account)
    monkeypatch.setitem(rules.scopes, Role.SERVICE, policy.Scope.OWN)  # service staff: their own customers only
    fast._LIST_STATEMENTS.clear()
    assert client.get(ACCOUNTS).json()["count"] == 0
    assert taken == [True, True]


def test_scope_rendering_binds_each_actors_ids(world):
    manager = policy.Actor(world["manager"])
    rendering = policy.scope_rendering(manager, Account)
    compiled_once = policy.scope(rendering.placeholder, Account.objects.all()).values("pk")
    sql, params = compiled_once.query.get_compiler("default").as_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, rendering.bind(params))
        rendered = {row[0] for row in cursor.fetchall()}
    assert rendered == set(policy.scope(manager, Account.objects.all()).values_list("pk", flat=True))
    assert rendering.shape[:3] == (Account, Role.MANAGER, policy.Scope.TEAM)
    assert policy.scope_rendering(None, Account) is None


# ---------------------------------------------------------------- the opportunity create


def _written(response) -> tuple[dict, dict, dict]:
    """(the answer, the opportunity row, its first stage-history row) without what differs between two creates."""
    body = response.json()
    opportunity = Opportunity.objects.get(pk=body["id"])
    change = OpportunityStageChange.objects.get(opportunity=opportunity)
    for key in ("id", "created_at", "updated_at", "stage_entered_at"):
        body.pop(key)
    row = model_to_dict(opportunity)
    row.pop("id")
    history = model_to_dict(change)
    for key in ("id", "opportunity", "changed_at"):  # the moment of each create
        history.pop(key)
    return body, row, history


@pytest.mark.parametrize(
    "body",
    [
        {"name": "数控机床项目", "account": "{account}", "amount": "128000.00"},
        {"name": "  空格  项目 ", "account": "{account}"},
        {"name": "整数金额", "account": "{account}", "amount": 12, "description": "说明"},
        {"name": "零", "account": "{account}", "amount": "0"},
    ],
)
@pytest.mark.parametrize("role", ["admin", "manager", "li"])
def test_the_create_writes_and_answers_as_the_drf_path(api_client, settings, world, taken, body, role):
    account = world["accounts"][0]  # li's, in the manager's team
    body = {key: account.pk if value == "{account}" else value for key, value in body.items()}
    drf, quick = _both(api_client(world[role], token=True), settings, "post", OPPORTUNITIES, body)
    assert drf.status_code == quick.status_code == 201, quick.content
    assert _written(quick) == _written(drf)
    assert taken == [False, True]


def test_the_create_is_audited_with_the_actor_and_the_request_id(api_client, settings, world, taken):
    settings.CRM_API_FAST_PATH = True
    account = world["accounts"][0]
    response = api_client(world["li"], token=True).post(
        OPPORTUNITIES, {"name": "审计商机", "account": account.pk}, format="json", HTTP_X_REQUEST_ID="crmfast-audit-1"
    )
    assert response.status_code == 201
    assert taken == [True]
    opportunity = Opportunity.objects.get(pk=response.json()["id"])
    change = OpportunityStageChange.objects.get(opportunity=opportunity)
    for record in (opportunity, change):
        event = pghistory.models.Events.objects.tracks(record).get()
        assert event.pgh_context["user"] == world["li"].user_id
        assert event.pgh_context["source"] == "api"
        assert event.pgh_context["request_id"] == "crmfast-audit-1"


@pytest.mark.parametrize(
    ("body", "compiled"),
    [
        ({"name": "", "account": "{account}"}, False),
        ({"name": "   ", "account": "{account}"}, False),
        ({"name": "x" * 201, "account": "{account}"}, False),
        ({"name": "a\x00b", "account": "{account}"}, False),
        ({"name": 12, "account": "{account}"}, True),  # DRF's CharField takes a number: 201 on both paths
        ({"name": "负数", "account": "{account}", "amount": "-1"}, False),
        ({"name": "三位小数", "account": "{account}", "amount": "1.234"}, False),
        ({"name": "太大", "account": "{account}", "amount": "12345678901234567.00"}, False),
        ({"name": "不是数", "account": "{account}", "amount": "abc"}, False),
        ({"name": "浮点", "account": "{account}", "amount": 1.5}, True),  # the same DecimalField: 1.50 on both
        ({"name": "无客户"}, False),
        ({"name": "字符串客户", "account": "{account_text}"}, False),  # DRF resolves "12" too: 201 on both paths
        ({"name": "别人的客户", "account": "{zhao_account}"}, False),  # not in li's scope
        ({"name": "外司客户", "account": "{foreign}"}, False),
        ({"name": "不存在", "account": 999999999}, False),
        ({"name": "多余字段", "account": "{account}", "stage": 1}, False),
        ({"name": "负号", "account": -5}, False),
        (["not", "an", "object"], False),
    ],
)
def test_bad_or_unusual_creates_answer_as_the_drf_path(api_client, settings, world, company, taken, body, compiled):
    account = world["accounts"][0]
    foreign = Account.objects.exclude(company=company).get()
    values = {
        "{account}": account.pk,
        "{account_text}": str(account.pk),
        "{zhao_account}": world["accounts"][1].pk,
        "{foreign}": foreign.pk,
    }
    if isinstance(body, dict):
        body = {key: values.get(value, value) if isinstance(value, str) else value for key, value in body.items()}
    client = api_client(world["li"], token=True)
    before = Opportunity.objects.count()
    drf, quick = _both(client, settings, "post", OPPORTUNITIES, body)
    assert quick.status_code == drf.status_code
    if drf.status_code == 201:
        assert _written(quick) == _written(drf)
    else:
        assert quick.json() == drf.json()
        assert Opportunity.objects.count() == before
    assert taken == [False, compiled]


def test_the_fast_create_is_still_throttled(api_client, settings, world, taken):
    settings.CRM_API_FAST_PATH = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "2/min", "anon": None}}
    clear_throttles()
    client = api_client(world["li"], token=True)
    body = {"name": "限流", "account": world["accounts"][0].pk}
    statuses = [client.post(OPPORTUNITIES, body, format="json").status_code for _ in range(3)]
    clear_throttles()
    assert statuses == [201, 201, 429]
    assert taken == [True, True]
