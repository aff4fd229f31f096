import pytest
from django.db import connection, transaction

from crm import selectors
from crm.models import Contact
from crm.tests.factories import AccountFactory, ContactFactory
from crm.text import search_terms
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(company, admin):
    by = admin.user
    return {
        "张伟": ContactFactory(company=company, by=by, name="张伟", name_en="Zhang Wei", city="北京"),
        "王伟": ContactFactory(company=company, by=by, name="王伟", city="上海"),
        "张三丰": ContactFactory(company=company, by=by, name="张三丰", city="武当"),
        "李娜": ContactFactory(
            company=company, by=by, name="李娜", phone="13812345678", email="Li.Na@Example.com", wechat_id="lina_wx88"
        ),
        "单田芳": ContactFactory(company=company, by=by, name="单田芳", phone="010-6552 8899"),
        "Oliver": ContactFactory(company=company, by=by, name="Oliver Smith", phone="+44 20 7946 0958"),
    }


def found(actor, query):
    return sorted(c.name for c in selectors.contacts_visible_to(actor, search=query))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("张", ["张三丰", "张伟"]),
        ("伟", ["张伟", "王伟"]),
        ("张伟", ["张伟"]),
        ("zhangwei", ["张伟"]),
        ("ZhangWei", ["张伟"]),
        ("zhang wei", ["张伟"]),
        ("zw", ["张伟"]),
        ("zsf", ["张三丰"]),
        ("sanfeng", ["张三丰"]),
        ("shantianfang", ["单田芳"]),  # 单 as a surname reads shan
        ("dantianfang", ["单田芳"]),  # and its everyday reading finds it too
        ("1234", ["李娜"]),
        ("138-1234-5678", ["李娜"]),
        ("138 1234 5678", ["李娜"]),
        ("+86138", ["李娜"]),
        ("１３８１２３４", ["李娜"]),  # full-width digits from a Chinese IME
        ("65528899", ["单田芳"]),
        ("010-65528899", ["单田芳"]),
        ("li.na@", ["李娜"]),
        ("EXAMPLE.COM", ["李娜"]),
        ("lina_wx", ["李娜"]),
        ("oliver", ["Oliver Smith"]),
        ("7946", ["Oliver Smith"]),
        ("不存在", []),
    ],
)
def test_contact_search_finds_chinese_names_pinyin_phones_and_emails(people, admin_actor, query, expected):
    assert found(admin_actor, query) == expected


def test_empty_search_returns_everything(people, admin_actor):
    assert len(found(admin_actor, "   ")) == len(people)


def test_account_search_on_company_names(company, admin, admin_actor):
    AccountFactory(company=company, by=admin.user, name="华为技术有限公司", name_en="Huawei Technologies")
    AccountFactory(company=company, by=admin.user, name="华东机电", tax_id="91310000MA1FL3XX2K")
    result = lambda q: sorted(a.name for a in selectors.accounts_visible_to(admin_actor, search=q))  # noqa: E731
    assert result("华") == ["华东机电", "华为技术有限公司"]
    assert result("huawei") == ["华为技术有限公司"]
    assert result("hwjs") == ["华为技术有限公司"]
    assert result("technologies") == ["华为技术有限公司"]
    assert result("MA1FL3") == ["华东机电"]


def test_search_stays_within_scope_and_company(people, company, other_company, member):
    other_admin = member(other_company, Role.ADMIN)
    ContactFactory(company=other_company, by=other_admin.user, name="张伟")
    own_sales = member(company, Role.SALES)
    ContactFactory(company=company, by=own_sales.user, name="张伟伟")
    assert found(Actor(other_admin), "张伟") == ["张伟"]
    assert found(Actor(own_sales), "zhangwei") == ["张伟伟"]


def test_search_key_follows_renames(people, admin):
    from crm.services.customers import contact_update

    contact_update(contact=people["王伟"], by=admin.user, name="王小伟")
    assert found(Actor(admin), "wxw") == ["王小伟"]
    assert found(Actor(admin), "wangwei") == []


def test_search_terms_normalise_phone_like_queries():
    assert search_terms(" 138-1234 5678 ") == ["13812345678"]
    assert search_terms("+86 (21) 6888") == ["+86216888"]
    assert search_terms("Zhang  Wei zhang") == ["zhang", "wei"]
    assert search_terms("") == []


@pytest.mark.parametrize("model_name", ["contact", "account"])
def test_search_is_answered_by_the_trigram_index(people, model_name):
    # given the planner is told to avoid sequential scans (the test table is tiny)
    queryset = selectors.search_filter(
        (Contact if model_name == "contact" else Contact._meta.apps.get_model("crm", "Account")).objects.all(),
        "zhangwei",
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
    # then the LIKE on search_text is answered by its GIN trigram index
    assert f"crm_{model_name}_search_trgm" in plan
