import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from crm.models import Account, Activity, Lead
from crm.services.activities import activity_create
from crm.services.leads import assignment_rule_create, lead_create
from crm.tests.factories import AccountFactory, ContactFactory
from suite.models import Role
from suite.testing import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    return client


def test_every_crm_model_is_in_admin_and_its_pages_load(admin_client, company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="管理后台测试")
    ContactFactory(company=company, by=sales_user, account=account)
    crm_models = [model for model in site._registry if model._meta.app_label == "crm"]
    business = {
        "account",
        "contact",
        "tag",
        "taggroup",
        "customfieldset",
        "lead",
        "assignmentrule",
        "leadscoringrule",
        "pipeline",
        "stage",
        "lostreason",
        "opportunity",
        "opportunitystagechange",
        "activity",
    }
    assert business <= {model._meta.model_name for model in crm_models}
    for model in crm_models:
        url = reverse(f"admin:crm_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
    detail = admin_client.get(reverse("admin:crm_account_change", args=[account.pk]))
    assert detail.status_code == 200 and "管理后台测试" in detail.content.decode()


def test_admin_search_uses_pinyin(admin_client, company, sales_user):
    AccountFactory(company=company, by=sales_user, name="长城汽车")
    AccountFactory(company=company, by=sales_user, name="比亚迪")
    page = admin_client.get(reverse("admin:crm_account_changelist"), {"q": "ccqc"}).content.decode()
    assert "长城汽车" in page and "比亚迪" not in page


def test_admin_actions_call_services(admin_client, company, sales_user, member):
    a, b = AccountFactory(company=company, by=sales_user), AccountFactory(company=company, by=sales_user)
    response = admin_client.post(
        reverse("admin:crm_account_changelist"),
        {"action": "merge_into_oldest", "_selected_action": [a.pk, b.pk]},
    )
    assert response.status_code == 302
    assert Account.objects.get(pk=b.pk).merged_into_id == a.pk

    rep = member(company, Role.SALES).user
    assignment_rule_create(company=company, by=None, name="轮询", kind="round_robin", assignees=[rep])
    lead = lead_create(company=company, by=sales_user, name="待分配", owner=sales_user)
    admin_client.post(
        reverse("admin:crm_lead_changelist"), {"action": "assign_by_rules", "_selected_action": [lead.pk]}
    )
    assert Lead.objects.get(pk=lead.pk).owner == rep

    task = activity_create(company=company, by=sales_user, kind="task", subject="后台完成", account=a)
    admin_client.post(reverse("admin:crm_activity_changelist"), {"action": "mark_done", "_selected_action": [task.pk]})
    assert Activity.objects.get(pk=task.pk).done_at is not None


def test_admin_cannot_edit_records_directly(admin_client, company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="只读")
    response = admin_client.post(reverse("admin:crm_account_change", args=[account.pk]), {"name": "改了"})
    assert response.status_code == 403
    assert Account.objects.get(pk=account.pk).name == "只读"
