"""The UI shell: workspace page, navigation registry, search registry, company switch, language, history."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from suite import policy
from suite.models import Membership, Module, Role, Team
from suite.services.notifications import notification_send
from suite.templatetags.troika import format_money
from suite.testing import TeamFactory
from suite.ui import menu, search, views

pytestmark = pytest.mark.django_db


def client_for(membership: Membership, *, language: str = "en") -> Client:
    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = language
    return client


def test_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_a_polled_partial_of_an_ended_session_redirects_the_whole_page(client):
    response = client.get(
        reverse("notifications-bell"), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/crm/"
    )

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?next=%2Fcrm%2F"


def test_workspace_shows_my_companies_role_teams_and_unread_notifications(company, other_company, member):
    team = TeamFactory(company=company, name="华东销售一组")
    membership = member(company, Role.SALES, teams=[team])
    Membership.objects.create(user=membership.user, company=other_company, role=Role.FINANCE)
    notification_send(recipients=[membership.user], company=company, title="Quote Q-17 approved", link="/crm/")
    notification_send(recipients=[membership.user], company=other_company, title="Other company news")

    response = client_for(membership).get(reverse("home"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "East China Machinery" in html or company.name in html
    assert other_company.name in html  # second company in the switcher and in "My companies"
    assert "华东销售一组" in html
    assert "Quote Q-17 approved" in html
    assert "Other company news" not in html  # notifications are per company acted in
    assert 'aria-label="Notifications, 1 unread"' in html


def test_workspace_query_count_stays_flat(company, member, django_assert_max_num_queries):
    teams = [TeamFactory(company=company) for _ in range(5)]
    membership = member(company, Role.MANAGER, teams=teams)
    for index in range(10):
        notification_send(recipients=[membership.user], company=company, title=f"n{index}")
    client = client_for(membership)
    client.get(reverse("home"))  # warm the content-type and session caches

    with django_assert_max_num_queries(10):
        response = client.get(reverse("home"))

    assert response.status_code == 200


def test_shell_has_skip_link_navigation_search_bell_and_menus(company, member):
    membership = member(company, Role.ADMIN)

    html = client_for(membership).get(reverse("home")).content.decode()

    assert '<a class="skip-link" href="#main">Skip to content</a>' in html
    assert 'id="main"' in html
    for label in ("CRM", "SCRM", "ERP", "Dashboards", "Admin"):
        assert f">{label}</a>" in html
    assert 'id="global-search"' in html
    assert 'hx-trigger="every 15s"' in html
    assert reverse("set_language") in html
    assert 'name="viewport"' in html
    assert "django_htmx/htmx-2.min.js" in html


def test_admin_section_is_only_for_administrators(company, member):
    sales = member(company, Role.SALES)

    html = client_for(sales).get(reverse("home")).content.decode()
    assert f'href="{reverse("app-landing", kwargs={"app": "admin"})}"' not in html
    assert client_for(sales).get(reverse("app-landing", kwargs={"app": "admin"})).status_code == 404


def test_app_landing_pages_say_which_modules_are_enabled(company, member):
    company.enabled_modules = [Module.CRM, Module.ERP_FINANCE]
    company.save()
    membership = member(company, Role.MANAGER)
    client = client_for(membership)

    crm = client.get(reverse("app-landing", kwargs={"app": "crm"})).content.decode()
    erp = client.get(reverse("app-landing", kwargs={"app": "erp"})).content.decode()

    assert "CRM" in crm and 'class="pill on">enabled' in crm
    assert "ERP finance" in erp and "ERP supply chain" in erp
    assert erp.count('class="pill on">enabled') == 1
    assert client.get(reverse("app-landing", kwargs={"app": "nope"})).status_code == 404


def test_menu_registry_filters_entries_by_role_module_and_check(company, member):
    item_all = menu.MenuItem("crm", "Leads for everyone", "home", url_kwargs={}, order=1)
    item_sales = menu.MenuItem("crm", "Sales only", "search", roles=frozenset({Role.SALES}))
    item_module = menu.MenuItem("scrm", "Needs SCRM", "directory", module=Module.SCRM)
    item_check = menu.MenuItem("dashboards", "Checked", "notifications", check=lambda actor: False)
    before = menu.items()
    company.enabled_modules = [Module.CRM]  # an empty list means every module (suite.modules)
    company.save()
    try:
        menu.register(item_all, item_sales, item_module, item_check, item_all)
        sales = member(company, Role.SALES)
        hr = member(company, Role.HR)

        def labels(membership):
            return {str(link.label) for view in menu.menu_for(policy.Actor(membership)) for link in view.links}

        assert {"Leads for everyone", "Sales only"} <= labels(sales)
        assert "Sales only" not in labels(hr)
        assert "Needs SCRM" not in labels(hr)
        assert "Checked" not in labels(sales)
        company.enabled_modules = [Module.SCRM]
        company.save()
        hr.refresh_from_db()
        assert "Needs SCRM" in labels(Membership.objects.select_related("company", "user").get(pk=hr.pk))
        assert sum(1 for item in menu.items() if str(item.label) == "Leads for everyone") == 1
        with pytest.raises(ValueError):
            menu.register(menu.MenuItem("nowhere", "x", "home"))
    finally:
        menu._items[:] = before


def test_search_finds_teams_and_members_of_my_company_only(company, other_company, member):
    TeamFactory(company=company, name="华东销售一组", name_en="East sales 1")
    TeamFactory(company=other_company, name="华东销售二组", name_en="East sales 2")
    me = member(company, Role.SALES, username="zhang.wei")
    member(other_company, Role.SALES, username="zhang.san")

    response = client_for(me).get(reverse("search"), {"q": "zhang"})
    html = response.content.decode()
    assert "zhang.wei" in html
    assert "zhang.san" not in html

    teams = client_for(me).get(reverse("search"), {"q": "East sales"}).content.decode()
    assert "华东销售一组" in teams
    assert "华东销售二组" not in teams


def test_search_hides_emails_from_roles_that_may_not_see_them(company, member):
    member(company, Role.SALES, username="li.na", email="li.na@secret.example")
    sales = member(company, Role.SALES)
    hr = member(company, Role.HR)

    assert "li.na@secret.example" not in client_for(sales).get(reverse("search"), {"q": "li.na"}).content.decode()
    assert "li.na@secret.example" in client_for(hr).get(reverse("search"), {"q": "li.na"}).content.decode()
    # nor can a sales user find someone by guessing their e-mail address
    found = search.search(policy.Actor(sales), "secret.example")
    assert found == []


def test_search_registry_runs_registered_providers_through_the_actor(company, member):
    calls = []

    @search.provider("tests.echo", "Echo", module=Module.CRM)
    def echo(actor, query, limit):
        calls.append((actor.company_id, query, limit))
        return [search.SearchResult(f"echo {query}", "/")]

    try:
        company.enabled_modules = [Module.SCRM]  # an empty list means every module (suite.modules)
        company.save()
        membership = member(company, Role.SALES)
        html = client_for(membership).get(reverse("search"), {"q": "  hello   world "}).content.decode()
        assert "echo hello world" not in html  # CRM not enabled: the provider is not asked
        assert calls == []
        company.enabled_modules = [Module.CRM]
        company.save()
        html = client_for(membership).get(reverse("search"), {"q": "  hello   world "}).content.decode()
        assert "echo hello world" in html
        assert calls == [(company.pk, "hello world", 8)]
    finally:
        search._providers.pop("tests.echo")


def test_company_switch_changes_the_company_acted_in(company, other_company, member):
    membership = member(company, Role.SALES)
    Membership.objects.create(user=membership.user, company=other_company, role=Role.MANAGER)
    client = client_for(membership)

    response = client.post(reverse("company-switch"), {"company": other_company.pk, "next": "/directory/"})

    assert response.status_code == 302
    assert response["Location"] == "/directory/"
    html = client.get(reverse("home")).content.decode()
    assert f"You are working in {other_company.name} as Manager." in html


def test_company_switch_refuses_a_company_i_am_not_in(company, other_company, member):
    membership = member(company, Role.SALES)
    client = client_for(membership)

    response = client.post(reverse("company-switch"), {"company": other_company.pk, "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response["Location"] == "/"  # never an off-site redirect
    assert client.session.get("troika_company_id") is None
    assert "You are working in 华东机械装备有限公司" in client.get("/").content.decode()


def test_language_switch_sticks_for_the_following_pages(company, member):
    membership = member(company, Role.SALES)
    client = Client()
    client.force_login(membership.user)

    assert "我的工作台</a>" in client.get(reverse("home")).content.decode()  # zh-hans is the default

    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert "My workspace</a>" in client.get(reverse("home")).content.decode()
    assert "My workspace</a>" in client.get(reverse("directory")).content.decode()

    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "我的工作台</a>" in client.get(reverse("home")).content.decode()


def test_money_is_localised_with_cny_by_default():
    with translation.override("zh-hans"):
        assert format_money(Decimal("1234567.5")) == "¥1,234,567.50"
        assert format_money(Decimal("-12.345")) == "-¥12.35"
        assert format_money(Decimal("99"), "USD") == "US$99.00"
    with translation.override("en"):
        assert format_money(Decimal("1234567.5")) == "CN¥1,234,567.50"
        assert format_money("1000", "JPY") == "¥1,000"
        assert format_money(Decimal("5"), "CHF") == "5.00 CHF"
    assert format_money(None) == ""
    assert format_money("not a number") == ""


def test_directory_and_team_page_show_members_through_the_policy(company, other_company, member):
    team = TeamFactory(company=company, name="售后服务部", kind=Team.Kind.SERVICE)
    sales = member(company, Role.SALES, teams=[team], username="wang.fang")
    foreign = TeamFactory(company=other_company)
    client = client_for(sales)

    directory = client.get(reverse("directory")).content.decode()
    page = client.get(reverse("team-page", args=[team.pk])).content.decode()

    assert "wang.fang" in directory and "售后服务部" in directory
    assert "wang.fang" in page
    assert client.get(reverse("team-page", args=[foreign.pk])).status_code == 404


def test_record_history_page_shows_changes_of_records_i_may_see(company, other_company, member):
    admin = member(company, Role.ADMIN)
    client = client_for(admin)
    team = TeamFactory(company=company, name="旧名字")
    Team.objects.filter(pk=team.pk).update(name="新名字")  # a queryset update is recorded too (trigger)
    foreign = TeamFactory(company=other_company)

    page = client.get(reverse("record-history", args=["suite.team", team.pk]))
    partial = client.get(reverse("record-history", args=["suite.team", team.pk]), HTTP_HX_REQUEST="true")

    assert page.status_code == 200
    html = page.content.decode()
    assert "旧名字" in html and "新名字" in html
    assert "changed" in html and "created" in html
    assert "<html" not in partial.content.decode()
    assert client.get(reverse("record-history", args=["suite.team", foreign.pk])).status_code == 404
    assert client.get(reverse("record-history", args=["suite.nomodel", 1])).status_code == 404
    assert client.get(reverse("record-history", args=["auth.user", admin.user.pk])).status_code == 404  # no policy


def test_record_history_names_linked_records_and_a_creation_lists_only_what_it_set(company, other_company, member):
    admin = member(company, Role.ADMIN)
    boss = member(company, Role.MANAGER, first_name="伟", last_name="张")
    region = TeamFactory(company=company, name="华东大区")
    team = TeamFactory(company=company, name="上海组", parent=region, manager=boss.user)
    foreign = TeamFactory(company=other_company, name="别家大区")
    # a link to another company's record (only a raw write could make one): its name must not show
    Team.objects.filter(pk=team.pk).update(parent=foreign)

    rows = views.history_rows(policy.actor_for(admin.user, company), team)
    html = client_for(admin).get(reverse("record-history", args=["suite.team", team.pk])).content.decode()

    changed, created = rows
    assert {change.field: change.new for change in created.changes} == {
        "name": "上海组",
        "kind": "Sales team",
        "parent": "华东大区",
        "manager": "张伟",
    }  # no empty fields, no company, no automatic timestamp; links by name
    assert [(change.field, change.old, change.new) for change in changed.changes] == [
        ("parent", "华东大区", f"#{foreign.pk}")
    ]
    assert "张伟" in html and "华东大区" in html
    assert "别家大区" not in html and "∅" not in html


def test_team_page_carries_the_history_panel(company, member):
    team = TeamFactory(company=company)
    html = client_for(member(company, Role.SALES)).get(reverse("team-page", args=[team.pk])).content.decode()

    assert f'hx-get="{reverse("record-history", args=["suite.team", team.pk])}"' in html


def test_admin_change_form_links_the_record_history(company, member, admin_client):
    team = TeamFactory(company=company)

    change = admin_client.get(reverse("admin:suite_team_change", args=[team.pk])).content.decode()
    events = admin_client.get(
        reverse("admin:pghistory_events_changelist"), {"method": "tracks", "obj": f"suite.team:{team.pk}"}
    )

    assert 'class="events-admin"' in change
    assert events.status_code == 200
    assert "suite.TeamEvent" in events.content.decode() or "insert" in events.content.decode()


def test_error_pages_are_ours(company, member, client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Troika" in response.content.decode()


def test_a_nul_byte_in_a_page_query_or_form_is_a_400_before_any_view(company, member):
    """Views that read ``request.POST`` by hand would pass the NUL to PostgreSQL (a 500: "text fields cannot
    contain NUL"); the API answers the same with a field error of its own."""
    from suite.testing import api_client_for

    admin = member(company, Role.ADMIN)
    client = client_for(admin)
    team_count = Team.objects.count()

    searched = client.get(reverse("directory"), {"q": "张\x00伟"})
    posted = client.post(reverse("company-switch"), {"company": company.pk, "next": "/\x00"})

    assert (searched.status_code, posted.status_code) == (400, 400)
    assert "NUL" in searched.content.decode() and "Nothing was saved" in posted.content.decode()
    assert client.get(reverse("directory"), {"q": "张伟"}).status_code == 200
    refused = api_client_for(admin).post("/api/v1/suite/teams/", {"name": "a\x00b"}, format="json")
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (400, "name")
    assert Team.objects.count() == team_count


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12), (" 12 ", 12), (7, 7), ("", None), (None, None), ("abc", None), ("²", None), ("١٢", None),
     ("0", None), ("-1", None), ("1.5", None), (str(2**63 - 1), 2**63 - 1), (str(2**63), None)],
)  # fmt: skip
def test_an_id_read_from_a_page_is_a_positive_bigint_in_ascii_digits_or_nothing(value, expected):
    """``str.isdigit()`` accepts "²" and Arabic-Indic digits; ``int("²")`` raises (the 500s the crawl found)."""
    from suite.ui.choices import chosen_id

    assert chosen_id(value) == expected


def test_chosen_looks_up_only_within_the_queryset(company, other_company, member):
    from suite.ui.choices import chosen, chosen_many

    mine, theirs = TeamFactory(company=company), TeamFactory(company=other_company)
    own_teams = Team.objects.filter(company=company)

    assert chosen(own_teams, str(mine.pk)) == mine
    assert chosen(own_teams, str(theirs.pk)) is None
    assert chosen(own_teams, "x") is None
    assert chosen_many(own_teams, [str(mine.pk), str(theirs.pk), "²", ""]) == [mine]
