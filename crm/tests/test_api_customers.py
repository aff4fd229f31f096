import pytest

from crm.models import Account, Contact
from crm.services.custom_fields import custom_field_set_define
from crm.tests.factories import AccountFactory, ContactFactory, TagFactory, TagGroupFactory
from suite.api.throttling import clear_throttles
from suite.models import Role
from suite.models.outbox import OutboxEvent

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/crm/accounts/"
CONTACTS = "/api/v1/crm/contacts/"


@pytest.fixture(autouse=True)
def _no_throttle():
    clear_throttles()


def fields_of(response):
    return {error["field"] for error in response.json()["errors"]}


def test_create_account_normalises_and_returns_it(api_client, sales, team):
    client = api_client(sales)
    response = client.post(
        ACCOUNTS,
        {
            "name": "宁波港航物流",
            "name_en": "Ningbo Port Logistics",
            "phone": "0574-8765 4321",
            "email": "Info@NBPort.cn",
            "province": "浙江",
            "city": "宁波",
            "industry": "logistics",
            "credit_limit": "80000.00",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["phone"], body["email"], body["credit_limit"]) == ("+8657487654321", "info@nbport.cn", "80000.00")
    assert body["owner"]["id"] == sales.user.pk and body["team"] == {"id": team.pk, "name": team.name}
    assert body["lifecycle_stage"] == "lead" and body["tags"] == [] and body["merged_into"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "坏电话", "phone": "12345"}, "phone"),
        ({"name": "负额度", "credit_limit": "-100"}, "credit_limit"),
        ({"name": "", "city": "上海"}, "name"),
        ({"name": "坏行业", "industry": "alchemy"}, "industry"),
        ({"name": "坏邮箱", "email": "not-an-email"}, "email"),
        ({"name": "坏标签", "tags": [999999]}, "tags"),
    ],
)
def test_bad_input_is_400_with_the_field(api_client, sales, payload, field):
    response = api_client(sales).post(ACCOUNTS, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in fields_of(response)
    assert not Account.objects.exists()


def test_server_owned_fields_are_ignored(api_client, sales, other_company, company):
    response = api_client(sales).post(
        CONTACTS,
        {"name": "赵六", "company": other_company.pk, "id": 4242, "merged_into": 1, "search_text": "hack"},
        format="json",
    )
    assert response.status_code == 201
    contact = Contact.objects.get()
    assert (contact.company, contact.pk == 4242, contact.merged_into) == (company, False, None)
    assert "hack" not in contact.search_text


def test_sales_may_not_assign_owner_but_managers_may(api_client, sales, member, company, team):
    colleague = member(company, Role.SALES, teams=[team]).user
    response = api_client(sales).post(CONTACTS, {"name": "钱七", "owner": colleague.pk}, format="json")
    assert response.status_code == 400 and fields_of(response) == {"owner"}
    manager = member(company, Role.MANAGER, teams=[team])
    response = api_client(manager).post(CONTACTS, {"name": "钱七", "owner": colleague.pk}, format="json")
    assert response.status_code == 201 and response.json()["owner"]["id"] == colleague.pk


def test_duplicate_is_409_with_candidates_and_force_creates(api_client, sales, member, company):
    colleague = member(company, Role.SALES).user
    theirs = ContactFactory(company=company, by=colleague, name="孙悟空", phone="13811112222")
    client = api_client(sales)
    response = client.post(CONTACTS, {"name": "孙大圣", "phone": "138 1111 2222"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["code"] == "duplicate" and body["errors"][0]["field"] == "phone"
    # the colleague's contact is named only to those who may see it
    assert body["duplicates"] == [
        {
            "id": theirs.pk,
            "kind": "contact",
            "matched_on": ["phone"],
            "visible": False,
            "name": None,
            "owner": {"id": colleague.pk, "username": colleague.username, "name": colleague.username},
        }
    ]
    forced = client.post(CONTACTS, {"name": "孙大圣", "phone": "138 1111 2222", "force": True}, format="json")
    assert forced.status_code == 201
    assert Contact.objects.filter(phone="+8613811112222").count() == 2


def test_check_duplicates_before_creating(api_client, admin, company):
    existing = AccountFactory(company=company, by=admin.user, name="广州白云机场", city="广州")
    response = api_client(admin).post(
        f"{ACCOUNTS}check-duplicates/", {"name": "广州白云机场", "city": "广州市"}, format="json"
    )
    assert response.status_code == 200
    assert [(d["id"], d["name"], d["matched_on"]) for d in response.json()["duplicates"]] == [
        (existing.pk, "广州白云机场", ["name_city"])
    ]
    bad = api_client(admin).post(f"{ACCOUNTS}check-duplicates/", {"phone": "123"}, format="json")
    assert bad.status_code == 400 and fields_of(bad) == {"phone"}


def test_search_list_by_pinyin_initials_and_phone(api_client, admin, company):
    by = admin.user
    ContactFactory(company=company, by=by, name="张伟", phone="13912340000")
    ContactFactory(company=company, by=by, name="王芳")
    client = api_client(admin)
    assert [c["name"] for c in client.get(CONTACTS, {"search": "zw"}).json()["results"]] == ["张伟"]
    assert [c["name"] for c in client.get(CONTACTS, {"search": "1234"}).json()["results"]] == ["张伟"]
    assert [c["name"] for c in client.get(CONTACTS, {"search": "芳"}).json()["results"]] == ["王芳"]
    assert client.get(CONTACTS, {"search": "x" * 201}).status_code == 400


def test_filter_by_custom_fields_and_standard_filters(api_client, admin, company):
    custom_field_set_define(
        company=company,
        target="account",
        schema={"type": "object", "properties": {"level": {"type": "string", "enum": ["A", "B"]}}},
        by=admin.user,
    )
    client = api_client(admin)
    for name, level, city in [("甲", "A", "北京"), ("乙", "B", "北京"), ("丙", "A", "上海")]:
        created = client.post(ACCOUNTS, {"name": name, "city": city, "custom": {"level": level}}, format="json")
        assert created.status_code == 201

    def names(params):
        response = client.get(ACCOUNTS, params)
        assert response.status_code == 200, response.json()
        return sorted(a["name"] for a in response.json()["results"])

    assert names({"custom.level": "A"}) == ["丙", "甲"]
    assert names({"custom.level": "A", "city": "北京"}) == ["甲"]
    unknown = client.get(ACCOUNTS, {"custom.colour": "red"})
    assert unknown.status_code == 400 and fields_of(unknown) == {"custom.colour"}
    bad_value = client.post(ACCOUNTS, {"name": "丁", "custom": {"level": "Z"}}, format="json")
    assert bad_value.status_code == 400 and fields_of(bad_value) == {"custom.level"}
    assert client.get(ACCOUNTS, {"ordering": "secret"}).status_code == 400


def test_update_and_tags(api_client, sales, company):
    account = AccountFactory(company=company, by=sales.user, name="旧名")
    grade = TagGroupFactory(company=company, name="等级", is_exclusive=True)
    a, b = TagFactory(company=company, group=grade, name="A"), TagFactory(company=company, group=grade, name="B")
    client = api_client(sales)
    response = client.patch(f"{ACCOUNTS}{account.pk}/", {"name": "新名", "phone": "13700000000"}, format="json")
    assert response.status_code == 200 and response.json()["phone"] == "+8613700000000"
    response = client.put(f"{ACCOUNTS}{account.pk}/tags/", {"tags": [a.pk]}, format="json")
    assert [t["name"] for t in response.json()["tags"]] == ["A"]
    response = client.put(f"{ACCOUNTS}{account.pk}/tags/", {"tags": [a.pk, b.pk]}, format="json")
    assert response.status_code == 400 and fields_of(response) == {"tags"}


def test_merge_endpoint_needs_the_merge_right(api_client, sales, member, company, team):
    survivor = AccountFactory(company=company, by=sales.user, name="留下")
    duplicate = AccountFactory(company=company, by=sales.user, name="并入")
    ContactFactory(company=company, by=sales.user, account=duplicate)
    url = f"{ACCOUNTS}{survivor.pk}/merge/"
    assert api_client(sales).post(url, {"duplicate": duplicate.pk}, format="json").status_code == 403
    manager = member(company, Role.MANAGER, teams=[team])
    response = api_client(manager).post(url, {"duplicate": duplicate.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert survivor.contacts.count() == 1
    assert OutboxEvent.objects.filter(name="crm.customer.merged").count() == 1
    again = api_client(manager).post(url, {"duplicate": duplicate.pk}, format="json")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "merge_refused"
    # the merged id still resolves and says where it went; the list leaves it out
    detail = api_client(manager).get(f"{ACCOUNTS}{duplicate.pk}/").json()
    assert detail["merged_into"] == survivor.pk
    assert duplicate.pk not in [a["id"] for a in api_client(manager).get(ACCOUNTS).json()["results"]]


def test_delete_refuses_a_customer_in_use(api_client, admin, company):
    account = AccountFactory(company=company, by=admin.user)
    ContactFactory(company=company, by=admin.user, account=account)
    response = api_client(admin).delete(f"{ACCOUNTS}{account.pk}/")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "conflict"


def test_custom_field_sets_api(api_client, admin, sales):
    client = api_client(admin)
    response = client.post(
        "/api/v1/crm/custom-field-sets/",
        {"target": "contact", "schema": {"type": "object", "properties": {"hobby": {"type": "string"}}}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["schema"]["additionalProperties"] is False
    bad = client.post(
        "/api/v1/crm/custom-field-sets/",
        {"target": "lead", "schema": {"type": "object", "properties": {"Bad Name": {"type": "object"}}}},
        format="json",
    )
    assert bad.status_code == 400 and fields_of(bad) == {"schema"}
    assert (
        api_client(sales)
        .post("/api/v1/crm/custom-field-sets/", {"target": "lead", "schema": {"type": "object"}}, format="json")
        .status_code
        == 403
    )
