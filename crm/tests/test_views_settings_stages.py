"""CRM settings → Pipelines: an existing pipeline's stages edited in the browser — renamed, re-weighted, moved up
and down, added, retired and deleted — and the pipeline renamed, given its nudge and made the default, through the
same services as the API; bad input and refusals are messages on the page and change nothing; the other roles
see it read-only (403 on a post), another company's records are 404."""

import pytest
from django.urls import reverse

from crm.models import Opportunity, Pipeline, Stage
from crm.services.opportunities import opportunity_create, opportunity_move, pipeline_create, pipeline_default_ensure
from crm.tests.factories import AccountFactory
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]
PAGE = "crm:settings-pipelines"


@pytest.fixture
def client(admin):
    return browser(admin)


@pytest.fixture
def pipeline(company):
    return pipeline_default_ensure(company=company)


def _stages(pipeline) -> list[tuple[str, int, bool]]:
    return list(pipeline.stages.order_by("sequence", "id").values_list("name", "probability", "is_active"))


def _names(pipeline) -> list[str]:
    return [name for name, _probability, _active in _stages(pipeline)]


def _stage(pipeline, name: str) -> Stage:
    return pipeline.stages.get(name=name)


def _messages(response) -> str:
    return response.content.decode()


def test_admin_renames_and_reweights_a_stage_in_its_row(client, pipeline):
    page = client.get(reverse(PAGE))
    html = page.content.decode()
    assert_csp_clean(html)
    stage = _stage(pipeline, "需求确认")
    assert f'id="stage-form-{stage.pk}"' in html and f'form="stage-form-{stage.pk}"' in html

    response = client.post(
        reverse("crm:settings-stage-edit", args=[stage.pk]),
        {"name": "需求调研", "name_en": "Discovery", "probability": "35"},
        follow=True,
    )

    assert "The stage was saved." in _messages(response)
    stage.refresh_from_db()
    assert (stage.name, stage.name_en, stage.probability) == ("需求调研", "Discovery", 35)
    assert "Discovery 35%" in client.get(reverse(PAGE)).content.decode()  # the summary line, in English


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "需求确认", "probability": "150"}, "probability", "Ensure this value is less than or equal to 100."),
        ({"name": "", "probability": "30"}, "name", "This field is required."),
        ({"name": "   ", "probability": "30"}, "name", "This field is required."),
        ({"name": "需求确认", "probability": "x"}, "probability", "Enter a whole number."),
        ({"name": "方案报价", "probability": "30"}, "name", "Another stage of this pipeline has this name."),
    ],
)
def test_bad_stage_input_is_a_message_on_its_row_and_changes_nothing(client, pipeline, data, field, message):
    stage = _stage(pipeline, "需求确认")
    before = _stages(pipeline)

    response = client.post(reverse("crm:settings-stage-edit", args=[stage.pk]), data)

    assert response.status_code == 200
    html = response.content.decode()
    row = html.split(f'data-testid="stage-{stage.pk}"')[1].split("</tr>")[0]
    assert message in row  # next to the field, in the stage's own row
    assert "Nothing was changed: see the messages on the form." in html
    assert _stages(pipeline) == before


def test_won_and_lost_stages_keep_their_probability(client, pipeline):
    won = pipeline.stages.get(is_won=True)
    response = client.post(reverse("crm:settings-stage-edit", args=[won.pk]), {"name": "签约", "probability": "40"})
    assert response.status_code == 302
    won.refresh_from_db()
    # the probability input is disabled: the posted value is ignored
    assert (won.name, won.probability) == ("签约", 100)
    html = client.get(reverse(PAGE)).content.decode()
    row = html.split(f'data-testid="stage-{won.pk}"')[1].split("</tr>")[0]
    assert "disabled" in row and "Retire" not in row and "Delete" not in row and "↑" not in row


def test_stages_move_up_and_down_among_the_open_ones(client, pipeline):
    quote = _stage(pipeline, "方案报价")
    assert client.post(reverse("crm:settings-stage-move", args=[quote.pk]), {"direction": "up"}).status_code == 302
    assert _names(pipeline) == ["初步接洽", "方案报价", "需求确认", "商务谈判", "赢单", "输单"]
    client.post(reverse("crm:settings-stage-move", args=[quote.pk]), {"direction": "down"})
    client.post(reverse("crm:settings-stage-move", args=[quote.pk]), {"direction": "down"})
    assert _names(pipeline) == ["初步接洽", "需求确认", "商务谈判", "方案报价", "赢单", "输单"]
    assert list(pipeline.stages.order_by("sequence").values_list("sequence", flat=True)) == [10, 20, 30, 40, 50, 60]

    # the last open stage goes no further down: the won and lost stages close the pipeline
    client.post(reverse("crm:settings-stage-move", args=[quote.pk]), {"direction": "down"})
    assert _names(pipeline)[3:] == ["方案报价", "赢单", "输单"]
    won = pipeline.stages.get(is_won=True)
    refused = client.post(reverse("crm:settings-stage-move", args=[won.pk]), {"direction": "up"}, follow=True)
    assert "The won and lost stages stay at the end of the pipeline." in _messages(refused)
    nonsense = client.post(reverse("crm:settings-stage-move", args=[quote.pk]), {"direction": "sideways"}, follow=True)
    assert "Move a stage up or down." in _messages(nonsense)
    assert _names(pipeline)[3:] == ["方案报价", "赢单", "输单"]


def test_a_stage_is_added_where_the_admin_puts_it(client, pipeline):
    url = reverse("crm:settings-stage-add", args=[pipeline.pk])
    assert client.post(url, {"name": "样品测试", "name_en": "Trial", "probability": "60"}).status_code == 302
    assert client.post(url, {"name": "线索", "probability": "5", "position": "0"}).status_code == 302
    assert client.post(url, {"name": "技术交流", "probability": "40", "position": "3"}).status_code == 302

    assert _stages(pipeline) == [
        ("线索", 5, True),
        ("初步接洽", 10, True),
        ("需求确认", 30, True),
        ("技术交流", 40, True),
        ("方案报价", 50, True),
        ("商务谈判", 70, True),
        ("样品测试", 60, True),
        ("赢单", 100, True),
        ("输单", 0, True),
    ]
    assert "Trial 60%" in client.get(reverse(PAGE)).content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "测试", "probability": "150"}, "Ensure this value is less than or equal to 100."),
        ({"name": "", "probability": "20"}, "This field is required."),
        ({"name": "商务谈判", "probability": "20"}, "Another stage of this pipeline has this name."),
        ({"name": "测试", "probability": "20", "position": "99"}, "Select a valid choice."),
    ],
)
def test_a_bad_new_stage_is_a_message_on_the_add_form(client, pipeline, data, message):
    before = _stages(pipeline)
    response = client.post(reverse("crm:settings-stage-add", args=[pipeline.pk]), data)
    assert response.status_code == 200
    form = response.content.decode().split('class="crm-form stage-add"')[1].split("</form>")[0]
    assert message in form
    assert _stages(pipeline) == before


def test_retire_and_use_again(client, pipeline):
    stage = _stage(pipeline, "商务谈判")
    url = reverse("crm:settings-stage-active", args=[stage.pk])
    response = client.post(url, {"active": "0"}, follow=True)
    assert "was retired" in _messages(response)
    assert _stage(pipeline, "商务谈判").is_active is False
    row = response.content.decode().split(f'data-testid="stage-{stage.pk}"')[1].split("</tr>")[0]
    assert "Retired" in row and "Use again" in row
    assert client.post(url, {"active": "1"}).status_code == 302
    assert _stage(pipeline, "商务谈判").is_active is True


def test_refusals_show_the_services_reason_and_change_nothing(client, company, pipeline, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="常州恒力液压件厂")
    deal = opportunity_create(company=company, by=sales_user, name="液压站改造", account=account)
    first = deal.stage
    assert first.name == "初步接洽"

    deleted = client.post(reverse("crm:settings-stage-delete", args=[first.pk]), follow=True)
    assert "1 opportunity is in this stage: move it to another stage first, or retire the stage." in _messages(deleted)
    retired = client.post(reverse("crm:settings-stage-active", args=[first.pk]), {"active": "0"}, follow=True)
    assert "1 opportunity is in this stage: move it to another stage first." in _messages(retired)

    opportunity_move(opportunity=deal, stage=_stage(pipeline, "需求确认"), by=sales_user)
    went_through = client.post(reverse("crm:settings-stage-delete", args=[first.pk]), follow=True)
    assert "Opportunities went through this stage and their history keeps it: retire the stage instead." in _messages(
        went_through
    )
    won = pipeline.stages.get(is_won=True)
    closing = client.post(reverse("crm:settings-stage-delete", args=[won.pk]), follow=True)
    assert "The won and lost stages cannot be removed" in _messages(closing)
    assert pipeline.stages.count() == 6 and Opportunity.objects.get().stage.name == "需求确认"

    # the stage the deal went through can be retired (it is empty now) and stays in the deal's history
    assert client.post(reverse("crm:settings-stage-active", args=[first.pk]), {"active": "0"}).status_code == 302
    assert _stage(pipeline, "初步接洽").is_active is False


def test_an_unused_stage_is_deleted_but_the_last_open_one_stays(client, company, admin):
    pipeline = pipeline_create(
        company=company,
        by=None,
        name="项目",
        stages=[
            {"name": "立项", "probability": 10},
            {"name": "试用", "probability": 40},
            {"name": "签约", "probability": 100, "is_won": True},
            {"name": "丢单", "probability": 0, "is_lost": True},
        ],
    )
    trial = _stage(pipeline, "试用")
    response = client.post(reverse("crm:settings-stage-delete", args=[trial.pk]), follow=True)
    assert "试用 was removed." in _messages(response)
    assert _names(pipeline) == ["立项", "签约", "丢单"]

    last = _stage(pipeline, "立项")
    refused = client.post(reverse("crm:settings-stage-delete", args=[last.pk]), follow=True)
    assert "A pipeline needs at least one open stage in use." in _messages(refused)
    refused = client.post(reverse("crm:settings-stage-active", args=[last.pk]), {"active": "0"}, follow=True)
    assert "A pipeline needs at least one open stage in use." in _messages(refused)
    assert _stages(pipeline) == [("立项", 10, True), ("签约", 100, True), ("丢单", 0, True)]


def test_pipeline_renamed_nudged_made_default_and_retired(client, company, pipeline):
    other = pipeline_create(
        company=company,
        by=None,
        name="渠道",
        stages=[
            {"name": "报备", "probability": 20},
            {"name": "成交", "probability": 100, "is_won": True},
            {"name": "失败", "probability": 0, "is_lost": True},
        ],
    )
    edit = reverse("crm:settings-pipeline-edit", args=[other.pk])
    data = {"name": "渠道销售", "name_en": "Channel sales", "stale_after_days": "14", "is_active": "on"}
    assert client.post(edit, data).status_code == 302
    other.refresh_from_db()
    assert (other.name, other.name_en, other.stale_after_days) == ("渠道销售", "Channel sales", 14)
    assert other.is_active
    assert "Owners of open deals idle for 14 days are nudged." in client.get(reverse(PAGE)).content.decode()

    bad = client.post(edit, {**data, "stale_after_days": "400"})
    assert bad.status_code == 200 and "Ensure this value is less than or equal to 365." in bad.content.decode()
    taken = client.post(edit, {**data, "name": pipeline.name})
    assert taken.status_code == 200 and "A pipeline with this name exists." in taken.content.decode()
    other.refresh_from_db()
    assert (other.name, other.stale_after_days) == ("渠道销售", 14)

    made = client.post(reverse("crm:settings-pipeline-default", args=[other.pk]), follow=True)
    assert "is the default pipeline now." in _messages(made)
    assert list(Pipeline.objects.filter(is_default=True).values_list("name", flat=True)) == ["渠道销售"]

    # the default pipeline stays in use: the service's reason, next to the box
    kept = client.post(edit, {"name": "渠道销售", "stale_after_days": ""})
    assert kept.status_code == 200 and "The default pipeline stays active." in kept.content.decode()
    # the former default can be retired, and the nudge switched off
    retire = reverse("crm:settings-pipeline-edit", args=[pipeline.pk])
    assert client.post(retire, {"name": pipeline.name, "stale_after_days": ""}).status_code == 302
    pipeline.refresh_from_db()
    assert (pipeline.is_active, pipeline.stale_after_days) == (False, None)


def test_other_roles_see_the_stages_read_only_and_may_not_post(company, member, pipeline, sales):
    stage = _stage(pipeline, "需求确认")
    for who in (sales, member(company, Role.MANAGER, username="manager1")):
        client = browser(who)
        page = client.get(reverse(PAGE))
        assert page.status_code == 200
        html = page.content.decode()
        assert "需求确认" in html and "stage-form-" not in html and "Add a stage" not in html
        assert reverse("crm:settings-stage-delete", args=[stage.pk]) not in html
        posts = [
            (reverse("crm:settings-stage-edit", args=[stage.pk]), {"name": "x", "probability": "10"}),
            (reverse("crm:settings-stage-move", args=[stage.pk]), {"direction": "up"}),
            (reverse("crm:settings-stage-active", args=[stage.pk]), {"active": "0"}),
            (reverse("crm:settings-stage-delete", args=[stage.pk]), {}),
            (reverse("crm:settings-stage-add", args=[pipeline.pk]), {"name": "x", "probability": "10"}),
            (reverse("crm:settings-pipeline-edit", args=[pipeline.pk]), {"name": "x", "is_active": "on"}),
            (reverse("crm:settings-pipeline-default", args=[pipeline.pk]), {}),
        ]
        for url, data in posts:
            assert client.post(url, data).status_code == 403, url
    assert _stages(pipeline)[1] == ("需求确认", 30, True) and pipeline.stages.count() == 6


def test_another_companys_stages_and_pipelines_are_not_found(client, other_company, pipeline):
    theirs = pipeline_default_ensure(company=other_company)
    stage = theirs.stages.order_by("sequence").first()
    posts = [
        (reverse("crm:settings-stage-edit", args=[stage.pk]), {"name": "x", "probability": "10"}),
        (reverse("crm:settings-stage-move", args=[stage.pk]), {"direction": "down"}),
        (reverse("crm:settings-stage-active", args=[stage.pk]), {"active": "0"}),
        (reverse("crm:settings-stage-delete", args=[stage.pk]), {}),
        (reverse("crm:settings-stage-add", args=[theirs.pk]), {"name": "x", "probability": "10"}),
        (reverse("crm:settings-pipeline-edit", args=[theirs.pk]), {"name": "x", "is_active": "on"}),
        (reverse("crm:settings-pipeline-default", args=[theirs.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    assert client.get(reverse("crm:settings-stage-edit", args=[stage.pk])).status_code == 405
    stage.refresh_from_db()
    assert (stage.name, stage.sequence, stage.is_active) == ("初步接洽", 10, True)
    assert theirs.stages.count() == 6


def test_pipelines_page_query_count_does_not_grow(client, company, pipeline, django_assert_max_num_queries):
    def grow(n):
        for i in range(n):
            pipeline_create(
                company=company,
                by=None,
                name=f"流程{Pipeline.objects.count()}-{i}",
                stages=[
                    {"name": "甲", "probability": 10},
                    {"name": "乙", "probability": 50},
                    {"name": "赢", "probability": 100, "is_won": True},
                    {"name": "输", "probability": 0, "is_lost": True},
                ],
            )

    grow(1)
    with django_assert_max_num_queries(30) as few:
        assert client.get(reverse(PAGE)).status_code == 200
    grow(5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse(PAGE)).status_code == 200
