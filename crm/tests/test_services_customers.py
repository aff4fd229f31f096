from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Account, Contact, LifecycleStage
from crm.services.custom_fields import custom_field_set_define
from crm.services.customers import (
    account_create,
    account_update,
    contact_create,
    contact_update,
    customer_delete,
    customer_tags_set,
)
from crm.tests.factories import AccountFactory, ContactFactory, TagFactory, TagGroupFactory
from suite.audit import history_of
from suite.models import Role
from suite.policy import Actor
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db

LEVEL_SCHEMA = {
    "type": "object",
    "properties": {
        "level": {"type": "string", "enum": ["A", "B", "C"]},
        "employees": {"type": "integer", "minimum": 0},
        "vip": {"type": "boolean"},
        "products": {"type": "array", "items": {"type": "string"}},
        "founded": {"type": "string", "format": "date"},
    },
    "required": ["level"],
}


def test_account_create_normalises_and_defaults(company, sales_user, team):
    # given a salesperson in one team
    # when they create an account with a national phone number and a mixed-case email
    account = account_create(
        company=company,
        by=sales_user,
        name=" 上海  恒通贸易有限公司 ",
        name_en="Shanghai Hengtong Trading Co., Ltd.",
        phone="021-6888 1234",
        email="Sales@HengTong.CN",
        province="上海市",
        city="上海",
        industry="retail",
        size="50-199",
        source="exhibition",
        credit_limit="200000.50",
        tax_id="91310000 ma1fl3xx2k",
    )
    # then everything is stored in its one normal form
    account.refresh_from_db()
    assert account.name == "上海 恒通贸易有限公司"
    assert account.phone == "+862168881234"
    assert account.email == "sales@hengtong.cn"
    assert account.tax_id == "91310000MA1FL3XX2K"
    assert account.credit_limit == Decimal("200000.50")
    assert account.owner == sales_user
    assert account.team == team
    assert account.lifecycle_stage == LifecycleStage.LEAD
    assert "shanghaihengtongmaoyiyouxiangongsi" in account.search_text
    assert "02168881234" in account.search_text


@pytest.mark.parametrize("phone", ["12345", "1381234567", "abc", "+86 999"])
def test_invalid_phone_is_a_field_error(company, sales_user, phone):
    with pytest.raises(ValidationError) as caught:
        contact_create(company=company, by=sales_user, name="李娜", phone=phone)
    assert set(caught.value.message_dict) == {"phone"}
    assert Contact.objects.count() == 0


def test_international_phone_is_kept_in_e164(company, sales_user):
    contact = contact_create(company=company, by=sales_user, name="Oliver Smith", phone="+44 20 7946 0958")
    assert contact.phone == "+442079460958"


def test_field_errors_are_collected_together(company, sales_user):
    with pytest.raises(ValidationError) as caught:
        account_create(
            company=company,
            by=sales_user,
            name="",
            phone="123",
            email="not-an-email",
            credit_limit="-1",
            industry="mining-on-mars",
        )
    assert set(caught.value.message_dict) == {"name", "phone", "email", "credit_limit", "industry"}


def test_credit_limit_cannot_be_negative_even_bypassing_services(company, sales_user):
    account = AccountFactory(company=company, by=sales_user)
    with pytest.raises(IntegrityError, match="credit_limit_not_negative"), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(credit_limit=Decimal("-0.01"))


def test_database_refuses_a_phone_that_is_not_e164(company, sales_user):
    account = AccountFactory(company=company, by=sales_user)
    with pytest.raises(IntegrityError, match="phone_e164"), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(phone="138 1234 5678")


def test_one_live_contact_per_unionid_even_when_forced(company, sales_user):
    contact_create(company=company, by=sales_user, name="王芳", unionid="oUnion-123")
    with pytest.raises(ValidationError) as caught:
        contact_create(company=company, by=sales_user, name="王芳芳", unionid="oUnion-123", force=True)
    assert list(caught.value.message_dict) == ["unionid"]


def test_unionid_may_repeat_across_companies(company, other_company, sales_user, member):
    other_sales = member(other_company, Role.SALES).user
    contact_create(company=company, by=sales_user, name="王芳", unionid="oUnion-123")
    contact_create(company=other_company, by=other_sales, name="王芳", unionid="oUnion-123")
    assert Contact.objects.filter(unionid="oUnion-123").count() == 2


def test_owner_must_be_a_member_and_team_of_the_company(company, other_company, sales_user, member):
    outsider = member(other_company, Role.SALES).user
    foreign_team = TeamFactory(company=other_company)
    with pytest.raises(ValidationError) as caught:
        account_create(company=company, by=sales_user, name="某公司", owner=outsider, team=foreign_team)
    assert set(caught.value.message_dict) == {"owner", "team"}


def test_contact_account_must_be_of_the_same_company(company, other_company, sales_user, member):
    foreign = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user)
    with pytest.raises(ValidationError) as caught:
        contact_create(company=company, by=sales_user, name="赵敏", account=foreign)
    assert list(caught.value.message_dict) == ["account"]


def test_update_changes_only_given_fields_and_keeps_search_key_current(company, sales_user):
    contact = ContactFactory(company=company, by=sales_user, name="李雷", phone="13900001111", title="采购经理")
    contact_update(contact=contact, by=sales_user, name="李磊", phone="+86 139 0000 2222")
    contact.refresh_from_db()
    assert (contact.name, contact.phone, contact.title) == ("李磊", "+8613900002222", "采购经理")
    assert "lilei" in contact.search_text
    assert "13900002222" in contact.search_text
    assert "13900001111" not in contact.search_text


def test_history_records_who_changed_what(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, credit_limit="1000")
    account_update(account=account, by=sales_user, credit_limit="5000.00")
    history = history_of(account)
    assert [entry.label for entry in history][:2] == ["update", "insert"]
    old, new = history[0].changes["credit_limit"]
    assert Decimal(str(old)) == Decimal("1000") and Decimal(str(new)) == Decimal("5000")


# ---------------------------------------------------------------- custom fields


def test_custom_field_schema_must_be_flat_and_valid(company, admin):
    with pytest.raises(ValidationError) as caught:
        custom_field_set_define(
            company=company,
            target="account",
            schema={"type": "object", "properties": {"Bad Name": {"type": "string"}, "nested": {"type": "object"}}},
            by=admin.user,
        )
    assert len(caught.value.message_dict["schema"]) == 2
    with pytest.raises(ValidationError):
        custom_field_set_define(company=company, target="account", schema={"type": 12}, by=admin.user)


def test_custom_values_are_validated_against_the_company_schema(company, admin, sales_user):
    custom_field_set_define(company=company, target="account", schema=LEVEL_SCHEMA, by=admin.user)
    account = account_create(
        company=company,
        by=sales_user,
        name="深圳华强电子",
        custom={"level": "A", "employees": 120, "products": ["PLC"], "founded": "2008-05-01"},
    )
    assert account.custom == {"level": "A", "employees": 120, "products": ["PLC"], "founded": "2008-05-01"}

    with pytest.raises(ValidationError) as caught:
        account_create(
            company=company,
            by=sales_user,
            name="广州某某",
            custom={"level": "Z", "employees": "many", "colour": "red", "founded": "yesterday"},
        )
    assert set(caught.value.message_dict) == {"custom.level", "custom.employees", "custom.colour", "custom.founded"}

    with pytest.raises(ValidationError) as caught:
        account_create(company=company, by=sales_user, name="缺等级公司", custom={"vip": True})
    assert set(caught.value.message_dict) == {"custom.level"}


def test_custom_update_merges_keys_and_null_removes(company, admin, sales_user):
    custom_field_set_define(company=company, target="account", schema=LEVEL_SCHEMA, by=admin.user)
    account = account_create(company=company, by=sales_user, name="杭州云栖", custom={"level": "B", "vip": True})
    account_update(account=account, by=sales_user, custom={"level": "A", "vip": None, "employees": 30})
    account.refresh_from_db()
    assert account.custom == {"level": "A", "employees": 30}


def test_without_a_schema_no_custom_values_are_accepted(company, sales_user):
    with pytest.raises(ValidationError) as caught:
        contact_create(company=company, by=sales_user, name="周杰", custom={"anything": 1})
    assert list(caught.value.message_dict) == ["custom"]


def test_filter_by_custom_fields(company, admin, sales_user, admin_actor):
    custom_field_set_define(company=company, target="account", schema=LEVEL_SCHEMA, by=admin.user)
    a = account_create(company=company, by=sales_user, name="甲公司", custom={"level": "A", "employees": 10})
    account_create(company=company, by=sales_user, name="乙公司", custom={"level": "B", "employees": 10})
    c = account_create(company=company, by=sales_user, name="丙公司", custom={"level": "A", "products": ["PLC"]})

    def names(values):
        return sorted(x.name for x in selectors.accounts_visible_to(admin_actor, custom=values))

    assert names({"level": "A"}) == sorted([a.name, c.name])
    assert names({"level": "A", "employees": "10"}) == [a.name]
    assert names({"products": "PLC"}) == [c.name]
    with pytest.raises(ValidationError):
        names({"unknown": "x"})
    with pytest.raises(ValidationError):
        names({"employees": "ten"})


# ---------------------------------------------------------------- tags


def test_tags_set_replaces_and_respects_exclusive_groups(company, sales_user, other_company):
    grade = TagGroupFactory(company=company, name="客户等级", is_exclusive=True)
    grade_a = TagFactory(company=company, group=grade, name="A级")
    grade_b = TagFactory(company=company, group=grade, name="B级")
    vip = TagFactory(company=company, name="VIP")
    foreign = TagFactory(company=other_company, name="外部")
    account = AccountFactory(company=company, by=sales_user, tags=[grade_a, vip])
    assert set(account.tags.all()) == {grade_a, vip}

    customer_tags_set(customer=account, tags=[grade_b], by=sales_user)
    assert set(account.tags.all()) == {grade_b}

    with pytest.raises(ValidationError) as caught:
        customer_tags_set(customer=account, tags=[grade_a, grade_b], by=sales_user)
    assert list(caught.value.message_dict) == ["tags"]
    with pytest.raises(ValidationError):
        customer_tags_set(customer=account, tags=[foreign], by=sales_user)
    assert set(account.tags.all()) == {grade_b}


def test_tag_names_unique_within_group(company):
    TagFactory(company=company, name="重点")
    with pytest.raises(ValidationError):
        TagFactory(company=company, name="重点")
    group = TagGroupFactory(company=company, name="兴趣")
    TagFactory(company=company, group=group, name="重点")  # another group: allowed


# ---------------------------------------------------------------- delete and scope


def test_delete_refuses_a_customer_with_contacts(company, sales_user):
    account = AccountFactory(company=company, by=sales_user)
    ContactFactory(company=company, by=sales_user, account=account)
    with pytest.raises(CrmConflict):
        customer_delete(customer=account, by=sales_user)
    lonely = AccountFactory(company=company, by=sales_user)
    customer_delete(customer=lonely, by=sales_user)
    assert not Account.objects.filter(pk=lonely.pk).exists()


def test_scope_sales_see_own_managers_their_team(company, member, team, sales, sales_actor):
    colleague = member(company, Role.SALES, teams=[team])
    outsider = member(company, Role.SALES)
    manager = member(company, Role.MANAGER)
    team.manager = manager.user
    team.save()
    mine = AccountFactory(company=company, by=sales.user)
    colleagues = AccountFactory(company=company, by=colleague.user)
    AccountFactory(company=company, by=outsider.user)

    assert list(selectors.accounts_visible_to(sales_actor)) == [mine]
    assert set(selectors.accounts_visible_to(Actor(manager))) == {mine, colleagues}
    assert selectors.accounts_visible_to(None).count() == 0
