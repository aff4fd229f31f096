"""CRM pages for customers: lists with Chinese/pinyin search, filters and sort; the customer 360 page (with a
query count that does not grow with the data); create / edit forms with errors next to the fields."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, Contact
from crm.services.activities import activity_create
from crm.services.customers import account_update
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.tests.factories import AccountFactory, ContactFactory, ticket_for
from suite.models import Module, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def crm_enabled(company):
    company.enabled_modules = [Module.CRM]
    company.save()


def browser(membership, language="en") -> Client:
    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = language
    return client


def assert_csp_clean(html: str) -> None:
    assert "<style" not in html
    assert not re.search(r'\sstyle="', html)
    assert not re.search(r'\son[a-z]+="', html)
    for script in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'\bsrc="/static/', script), script


def test_account_list_finds_chinese_names_by_part_and_pinyin(company, sales, sales_user):
    AccountFactory(company=company, by=sales_user, name="张伟贸易有限公司", city="杭州")
    AccountFactory(company=company, by=sales_user, name="北京远大科技", city="北京")
    client = browser(sales)

    by_part = client.get(reverse("crm:account-list"), {"q": "伟"}).content.decode()
    by_pinyin = client.get(reverse("crm:account-list"), {"q": "zhangwei"}).content.decode()
    by_initials = client.get(reverse("crm:account-list"), {"q": "zw"}).content.decode()
    nothing = client.get(reverse("crm:account-list"), {"q": "不存在的"}).content.decode()

    for html in (by_part, by_pinyin, by_initials):
        assert "张伟贸易有限公司" in html and "北京远大科技" not in html
    assert "Nobody matches" in nothing
    assert_csp_clean(by_part)


def test_account_list_filters_sorts_paginates_and_answers_htmx_with_rows(company, sales, sales_user):
    for i in range(30):
        AccountFactory(company=company, by=sales_user, name=f"客户{i:02d}", city="上海" if i % 2 else "苏州")
    client = browser(sales)

    page_one = client.get(reverse("crm:account-list"), {"sort": "name", "city": "上海"}).content.decode()
    page_two = client.get(reverse("crm:account-list"), {"sort": "name", "page": 2}).content.decode()
    descending = client.get(reverse("crm:account-list"), {"sort": "-name"}).content.decode()
    partial = client.get(
        reverse("crm:account-list"), {"q": "客户01"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-results"
    ).content.decode()
    bogus_sort = client.get(reverse("crm:account-list"), {"sort": "password"})

    assert "15 customers" in page_one and "客户01" in page_one and "客户00" not in page_one
    assert page_one.index("客户01") < page_one.index("客户03")
    assert "客户29" in page_two and "客户24" not in page_two and "Page 2 of 2" in page_two
    assert descending.index("客户29") < descending.index("客户28")
    assert partial.startswith('<div id="customer-results">') and "<html" not in partial
    assert bogus_sort.status_code == 200


def test_the_list_count_is_remembered_until_a_customer_changes(company, sales, sales_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(3):
        ContactFactory(company=company, by=sales_user, name=f"联系人{i}")
    client = browser(sales)
    assert client.get(reverse("crm:contact-list")).context["page"].paginator.count == 3
    with CaptureQueriesContext(connection) as again:
        assert client.get(reverse("crm:contact-list")).context["page"].paginator.count == 3
    assert not [q for q in again.captured_queries if 'COUNT(*) AS "__count" FROM "crm_contact"' in q["sql"]]
    ContactFactory(company=company, by=sales_user, name="新来的")  # a write: counted again, never stale
    assert client.get(reverse("crm:contact-list")).context["page"].paginator.count == 4
    assert client.get(reverse("crm:contact-list"), {"q": "新来"}).context["page"].paginator.count == 1


def test_a_salesperson_sees_only_own_customers(company, sales, member):
    colleague = member(company, Role.SALES).user
    theirs = AccountFactory(company=company, by=colleague, name="同事的客户")
    client = browser(sales)

    assert "同事的客户" not in client.get(reverse("crm:account-list")).content.decode()
    assert client.get(reverse("crm:account-detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("crm:account-edit", args=[theirs.pk])).status_code == 404


def _grow_customer(company, account, owner, n):
    contact = ContactFactory(company=company, by=owner, account=account)
    for i in range(n):
        opportunity = opportunity_create(company=company, by=owner, name=f"商机{i}", account=account, amount="1000.00")
        if i % 2:
            opportunity_win(opportunity=opportunity, by=owner)
        activity_create(
            company=company,
            by=owner,
            kind="call",
            subject=f"电话{i}",
            account=account,
            contact=contact,
            done_at=timezone.now() - timedelta(days=i),
        )
        activity_create(
            company=company, by=owner, kind="task", subject=f"任务{i}", account=account, due_at=timezone.now()
        )
        ticket_for(company, account=account, subject=f"工单{i}")


def test_customer_360_shows_figures_and_one_timeline(company, admin, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="杭州明远科技")
    _grow_customer(company, account, sales_user, 4)
    client = browser(admin)

    response = client.get(reverse("crm:account-detail", args=[account.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'id="figure-open-deals">2<', html)
    assert re.search(r'id="figure-won-revenue">CN¥2,000.00<', html)
    assert re.search(r'id="figure-open-tickets">4<', html)
    for text in ("电话3", "任务0", "工单2", "商机1", "Won"):
        assert text in html
    assert html.count('class="timeline-item kind-ticket"') == 4
    assert html.count('class="timeline-item kind-stage"') == 6  # 4 created + 2 won
    assert_csp_clean(html)


def test_customer_360_query_count_does_not_grow_with_the_data(
    company, admin, sales_user, django_assert_max_num_queries
):
    account = AccountFactory(company=company, by=sales_user)
    _grow_customer(company, account, sales_user, 2)
    client = browser(admin)
    url = reverse("crm:account-detail", args=[account.pk])
    client.get(url)  # warm caches (content types, session)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url)
    _grow_customer(company, account, sales_user, 12)
    with django_assert_max_num_queries(len(few)) as many:
        response = client.get(url)

    assert response.status_code == 200
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]


def test_contact_page_shows_its_account_and_deals(company, sales, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="明远")
    contact = ContactFactory(company=company, by=sales_user, account=account, name="李娜", title="采购经理")
    opportunity_create(company=company, by=sales_user, name="年度采购", contact=contact, amount="88.00")

    html = browser(sales).get(reverse("crm:contact-detail", args=[contact.pk])).content.decode()

    assert "李娜" in html and "明远" in html and "年度采购" in html and "采购经理" in html


def test_create_account_with_an_invalid_phone_shows_the_error_next_to_the_field(company, sales):
    client = browser(sales)

    response = client.post(
        reverse("crm:account-create"), {"name": "新客户", "phone": "12345", "lifecycle_stage": "lead"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    field = re.search(r'<div class="field has-error">\s*<label for="id_phone">.*?</div>\s*</div>', html, re.S)
    assert field is not None and "errorlist" in field.group(0)
    assert not Account.objects.filter(name="新客户").exists()


def test_create_account_normalises_and_redirects_then_a_duplicate_needs_confirmation(company, sales):
    client = browser(sales)
    data = {"name": "宁波港务", "phone": "138 1234 5678", "city": "宁波", "lifecycle_stage": "prospect"}

    created = client.post(reverse("crm:account-create"), data)
    account = Account.objects.get(name="宁波港务")
    duplicate = client.post(reverse("crm:account-create"), {**data, "name": "宁波港务集团"})
    forced = client.post(reverse("crm:account-create"), {**data, "name": "宁波港务集团", "force": "on"})

    assert created.status_code == 302 and created["Location"] == reverse("crm:account-detail", args=[account.pk])
    assert account.phone == "+8613812345678" and account.owner == sales.user
    assert duplicate.status_code == 200
    html = duplicate.content.decode()
    assert "Possible duplicates" in html and "宁波港务" in html and 'name="force"' in html
    assert forced.status_code == 302
    assert Account.objects.filter(name__startswith="宁波港务").count() == 2


def test_edit_contact_keeps_unchanged_fields_and_reports_bad_email(company, sales, sales_user):
    contact = ContactFactory(company=company, by=sales_user, name="赵敏", phone="13900001111")
    client = browser(sales)
    url = reverse("crm:contact-edit", args=[contact.pk])

    form = client.get(url).content.decode()
    bad = client.post(url, {"name": "赵敏", "email": "not-mail", "lifecycle_stage": "lead"})
    good = client.post(url, {"name": "赵敏", "title": "总监", "phone": "+86 139 0000 1111", "lifecycle_stage": "lead"})

    assert 'value="+8613900001111"' in form
    assert bad.status_code == 200 and "Enter a valid email address." in bad.content.decode()
    assert good.status_code == 302
    contact.refresh_from_db()
    assert contact.title == "总监" and contact.phone == "+8613900001111"
    assert Contact.objects.filter(name="赵敏").count() == 1


def test_a_finance_user_may_not_create_customers(company, member):
    finance = member(company, Role.FINANCE)

    assert browser(finance).get(reverse("crm:account-create")).status_code == 403


def test_crm_pages_escape_stored_payloads(company, admin, sales_user):
    payload = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    account = AccountFactory(company=company, by=sales_user, name=payload, city="杭州")
    ticket_for(company, account=account, subject=payload)
    client = browser(admin)

    for url in (
        reverse("crm:account-list"),
        reverse("crm:account-detail", args=[account.pk]),
        reverse("crm:ticket-list"),
    ):
        html = client.get(url).content.decode()
        assert "<script>alert(1)" not in html and "<img src=x" not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url


def test_menu_lists_the_crm_pages_and_global_search_finds_customers(company, sales, sales_user):
    AccountFactory(company=company, by=sales_user, name="张伟贸易")
    client = browser(sales)

    html = client.get(reverse("crm:account-list")).content.decode()
    results = client.get(reverse("search"), {"q": "zw"}).content.decode()

    for label in ("My day", "Accounts", "Contacts", "Leads", "Pipeline board", "Opportunities", "Tickets"):
        assert f">{label}</a>" in html
    assert "张伟贸易" in results and reverse("crm:account-list") in html


def test_account_history_reads_like_the_page_money_exact_owner_by_name(company, sales, sales_user):
    sales_user.first_name, sales_user.last_name = "芳", "王"
    sales_user.save()
    account = AccountFactory(company=company, by=sales_user, name="远大机械有限公司", credit_limit="50000")
    account_update(account=account, by=sales_user, credit_limit="123456.78")

    html = browser(sales).get(reverse("record-history", args=["crm.account", account.pk])).content.decode()

    assert "50000.00" in html and "123456.78" in html  # the field's decimal places, not a float's "50000.0"
    assert "王芳" in html and f"#{sales_user.pk}" not in html
    assert "∅" not in html.split("created")[-1]  # the creation lists what it set, not each empty field
    assert "custom fields" not in html and "created at" not in html
