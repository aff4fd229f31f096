import threading
import time

import pghistory.models
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from crm import selectors
from crm.errors import CustomerMergeError, DuplicateCustomerError
from crm.models import Account, AccountTag, Contact, ContactTag
from crm.services.customers import _crm_relations, account_create, contact_create, customer_merge
from crm.tests.factories import AccountFactory, ContactFactory, TagFactory
from suite.models.outbox import OutboxEvent

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- detection on create


def test_same_phone_in_another_form_is_a_duplicate(company, sales_user):
    existing = contact_create(company=company, by=sales_user, name="张伟", phone="13812345678")
    with pytest.raises(DuplicateCustomerError) as caught:
        contact_create(company=company, by=sales_user, name="张大伟", phone="+86 138-1234-5678")
    assert [(c.customer, c.matched_on) for c in caught.value.candidates] == [(existing, ("phone",))]
    assert caught.value.field == "phone"
    assert Contact.objects.count() == 1


def test_email_is_compared_case_blind(company, sales_user):
    AccountFactory(company=company, by=sales_user, name="甲", email="info@acme.cn")
    with pytest.raises(DuplicateCustomerError) as caught:
        account_create(company=company, by=sales_user, name="乙", email="INFO@Acme.cn")
    assert caught.value.candidates[0].matched_on == ("email",)


def test_unionid_and_tax_id_are_identities(company, sales_user):
    contact_create(company=company, by=sales_user, name="小红", unionid="oU-1")
    with pytest.raises(DuplicateCustomerError) as caught:
        contact_create(company=company, by=sales_user, name="Xiaohong", unionid="oU-1")
    assert caught.value.candidates[0].matched_on == ("unionid",)
    account_create(company=company, by=sales_user, name="恒通", tax_id="91310000MA1FL3XX2K")
    with pytest.raises(DuplicateCustomerError) as caught:
        account_create(company=company, by=sales_user, name="恒通贸易", tax_id="91310000ma1fl3xx2k")
    assert caught.value.candidates[0].matched_on == ("tax_id",)


def test_name_and_city(company, sales_user):
    existing = contact_create(company=company, by=sales_user, name="张伟", city="北京市")
    with pytest.raises(DuplicateCustomerError) as caught:
        contact_create(company=company, by=sales_user, name="张伟", city="北京")
    assert caught.value.candidates[0].customer == existing
    assert caught.value.candidates[0].matched_on == ("name_city",)
    assert caught.value.field is None
    # a common name alone, or in another city, is not a duplicate person
    contact_create(company=company, by=sales_user, name="张伟")
    contact_create(company=company, by=sales_user, name="张伟", city="上海")
    # for organisations the same name without a city is
    account_create(company=company, by=sales_user, name="华为技术有限公司", city="")
    with pytest.raises(DuplicateCustomerError):
        account_create(company=company, by=sales_user, name="华为技术有限公司")


def test_several_matches_are_all_reported(company, sales_user):
    a = contact_create(company=company, by=sales_user, name="甲", phone="13900000001")
    b = contact_create(company=company, by=sales_user, name="乙", email="b@example.com")
    with pytest.raises(DuplicateCustomerError) as caught, translation.override("en"):
        contact_create(company=company, by=sales_user, name="丙", phone="13900000001", email="b@example.com")
    assert {(c.customer.pk, c.matched_on) for c in caught.value.candidates} == {(a.pk, ("phone",)), (b.pk, ("email",))}
    assert "phone" in str(caught.value.message) and "email" in str(caught.value.message)


def test_force_creates_anyway(company, sales_user):
    contact_create(company=company, by=sales_user, name="张伟", phone="13812345678")
    forced = contact_create(company=company, by=sales_user, name="张伟", phone="13812345678", force=True)
    assert Contact.objects.filter(phone="+8613812345678").count() == 2
    assert forced.pk


def test_duplicates_are_found_past_the_salespersons_scope(company, member, sales_user):
    from suite.models import Role

    colleague = member(company, Role.SALES).user
    theirs = contact_create(company=company, by=colleague, name="钱七", phone="13700000007")
    with pytest.raises(DuplicateCustomerError) as caught:
        contact_create(company=company, by=sales_user, name="钱七", phone="13700000007")
    assert caught.value.candidates[0].customer == theirs


def test_other_companies_and_merged_records_are_not_duplicates(company, other_company, member, sales_user):
    from suite.models import Role

    contact_create(company=other_company, by=member(other_company, Role.SALES).user, name="甲", phone="13600000001")
    contact_create(company=company, by=sales_user, name="甲", phone="13600000001")  # no error

    survivor = contact_create(company=company, by=sales_user, name="乙", email="yi@example.com")
    duplicate = contact_create(company=company, by=sales_user, name="乙2", phone="13600000002", force=True)
    customer_merge(survivor=survivor, duplicate=duplicate, by=sales_user)
    found = selectors.customer_duplicates_find(model=Contact, company_id=company.pk, phone="+8613600000002")
    assert [c.customer for c in found] == [survivor]  # the survivor took the phone; the tombstone is ignored


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_of_one_customer_serialise(company, sales_user):
    """Two connections create the same phone at once: the second waits for the first and is refused."""
    from django.db import transaction

    created, release = threading.Event(), threading.Event()
    outcome = {}

    def first():
        try:
            with transaction.atomic():
                account_create(company=company, by=sales_user, name="先到公司", phone="13512345678")
                created.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        created.wait(10)
        try:
            account_create(company=company, by=sales_user, name="后到公司", phone="135 1234 5678")
            outcome["second"] = "created"
        except DuplicateCustomerError as exc:
            outcome["second"] = [c.customer.name for c in exc.candidates]
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    created.wait(10)
    time.sleep(0.5)
    assert threads[1].is_alive(), "the second create should wait for the first transaction"
    release.set()
    for t in threads:
        t.join(10)
    assert outcome["second"] == ["先到公司"]
    assert Account.objects.filter(phone="+8613512345678").count() == 1


# ---------------------------------------------------------------- merge


def _related_counts(customer) -> dict[str, int]:
    counts = {}
    for relation in _crm_relations(type(customer)):
        manager = relation.related_model._default_manager
        counts[f"{relation.related_model._meta.label_lower}.{relation.field.name}"] = manager.filter(
            **{relation.field.name: customer}
        ).count()
    return counts


def test_account_merge_moves_contacts_and_tags_and_fills_blanks(company, sales_user, admin):
    vip, grade = TagFactory(company=company, name="VIP"), TagFactory(company=company, name="A级")
    survivor = AccountFactory(company=company, by=sales_user, name="恒通贸易", tags=[vip], lifecycle_stage="prospect")
    duplicate = AccountFactory(
        company=company,
        by=sales_user,
        name="恒通贸易有限公司",
        phone="021-68881234",
        tax_id="91310000MA1FL3XX2K",
        tags=[vip, grade],
        lifecycle_stage="customer",
        credit_limit="50000",
    )
    contacts = [ContactFactory(company=company, by=sales_user, account=duplicate) for _ in range(3)]
    before = {k: v + _related_counts(survivor)[k] for k, v in _related_counts(duplicate).items()}

    result = customer_merge(survivor=survivor, duplicate=duplicate, by=admin.user)

    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    assert result == survivor
    assert _related_counts(survivor) == before
    assert all(v == 0 for v in _related_counts(duplicate).values())
    assert {c.account_id for c in Contact.objects.filter(pk__in=[c.pk for c in contacts])} == {survivor.pk}
    assert set(survivor.tags.all()) == {vip, grade}
    assert AccountTag.objects.filter(account=duplicate).count() == 0
    assert (survivor.name, survivor.phone, survivor.tax_id) == ("恒通贸易", "+862168881234", "91310000MA1FL3XX2K")
    assert survivor.lifecycle_stage == "customer"
    assert survivor.credit_limit == 0  # money is never taken over silently
    assert duplicate.merged_into == survivor and duplicate.merged_at is not None
    assert "02168881234" in survivor.search_text


def test_contact_merge_takes_over_unionid_and_publishes(company, sales_user, admin):
    survivor = ContactFactory(company=company, by=sales_user, name="李娜", phone="13812345678")
    duplicate = ContactFactory(company=company, by=sales_user, name="Li Na", unionid="oU-LN", email="ln@example.com")
    tag = TagFactory(company=company, name="老客户")
    from crm.services.customers import customer_tags_set

    customer_tags_set(customer=duplicate, tags=[tag], by=sales_user)

    customer_merge(survivor=survivor, duplicate=duplicate, by=admin.user)

    survivor.refresh_from_db()
    assert (survivor.unionid, survivor.email, survivor.name_en) == ("oU-LN", "ln@example.com", "")
    assert list(survivor.tags.all()) == [tag]
    assert ContactTag.objects.filter(contact=duplicate).count() == 0
    event = OutboxEvent.objects.get(name="crm.customer.merged")
    assert event.company_id == company.pk
    assert event.created_by_id == admin.user.pk
    assert event.payload == {
        "kind": "contact",
        "survivor_id": survivor.pk,
        "duplicate_id": duplicate.pk,
        # the tag and its history row (crm.TagChange) follow the person to the survivor
        "moved": {"crm.contacttag.contact": 1, "crm.tagchange.contact": 1},
    }


def test_merge_is_audited_with_its_context(company, sales_user, admin):
    survivor = AccountFactory(company=company, by=sales_user)
    duplicate = AccountFactory(company=company, by=sales_user)
    moved = ContactFactory(company=company, by=sales_user, account=duplicate)
    customer_merge(survivor=survivor, duplicate=duplicate, by=admin.user)
    contact_events = pghistory.models.Events.objects.tracks(moved).filter(pgh_label="update")
    assert [e.pgh_context.get("merge") for e in contact_events] == [
        {"kind": "account", "survivor_id": survivor.pk, "duplicate_id": duplicate.pk}
    ]
    account_event = pghistory.models.Events.objects.tracks(duplicate).filter(pgh_label="update").get()
    assert account_event.pgh_diff["merged_into_id"] == [None, survivor.pk]


def test_merge_chains_earlier_duplicates_to_the_survivor(company, sales_user):
    a, b, c = (AccountFactory(company=company, by=sales_user) for _ in range(3))
    customer_merge(survivor=b, duplicate=c, by=sales_user)
    customer_merge(survivor=a, duplicate=b, by=sales_user)
    c.refresh_from_db()
    assert c.merged_into == a


def test_merge_refusals(company, other_company, member, sales_user):
    from suite.models import Role

    a, b = AccountFactory(company=company, by=sales_user), AccountFactory(company=company, by=sales_user)
    contact = ContactFactory(company=company, by=sales_user)
    foreign = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user)
    with pytest.raises(ValidationError):
        customer_merge(survivor=a, duplicate=a, by=sales_user)
    with pytest.raises(ValidationError):
        customer_merge(survivor=a, duplicate=contact, by=sales_user)
    with pytest.raises(ValidationError):
        customer_merge(survivor=a, duplicate=foreign, by=sales_user)
    customer_merge(survivor=a, duplicate=b, by=sales_user)
    with pytest.raises(CustomerMergeError):
        customer_merge(survivor=a, duplicate=b, by=sales_user)
    with pytest.raises(CustomerMergeError):
        customer_merge(survivor=b, duplicate=a, by=sales_user)
    assert OutboxEvent.objects.filter(name="crm.customer.merged").count() == 1


def test_a_merge_keeps_every_related_record(company, sales_user, admin):
    """Every kind of CRM record that can point at a customer is created on the duplicate, then merged."""
    from crm.models import Activity, Lead, Opportunity
    from crm.services.activities import activity_create
    from crm.services.leads import lead_convert, lead_create
    from crm.services.opportunities import opportunity_create

    survivor_account = AccountFactory(company=company, by=sales_user, name="幸存公司")
    duplicate_account = AccountFactory(company=company, by=sales_user, name="重复公司")
    survivor_contact = ContactFactory(company=company, by=sales_user, name="幸存联系人", account=survivor_account)
    duplicate_contact = ContactFactory(company=company, by=sales_user, name="重复联系人", account=duplicate_account)
    lead = lead_create(company=company, by=sales_user, name="线索人", company_name="线索公司")
    conversion = lead_convert(lead=lead, by=sales_user, account=duplicate_account, contact=duplicate_contact)
    deals = [
        opportunity_create(
            company=company, by=sales_user, name=f"商机{i}", account=duplicate_account, contact=duplicate_contact
        )
        for i in range(2)
    ]
    activities = [
        activity_create(company=company, by=sales_user, kind="call", subject="电话", contact=duplicate_contact),
        activity_create(company=company, by=sales_user, kind="note", subject="备注", account=duplicate_account),
        activity_create(company=company, by=sales_user, kind="task", subject="任务", opportunity=deals[0]),
    ]
    account_rows = _related_counts(duplicate_account)
    contact_rows = _related_counts(duplicate_contact)
    assert all(
        account_rows[k] > 0
        for k in (
            "crm.contact.account",
            "crm.lead.converted_account",
            "crm.opportunity.account",
            "crm.activity.account",
        )
    )
    assert all(
        contact_rows[k] > 0 for k in ("crm.lead.converted_contact", "crm.opportunity.contact", "crm.activity.contact")
    )
    totals_before = (Activity.objects.count(), Opportunity.objects.count(), Lead.objects.count())

    customer_merge(survivor=survivor_account, duplicate=duplicate_account, by=admin.user)
    customer_merge(survivor=survivor_contact, duplicate=duplicate_contact, by=admin.user)

    assert all(v == 0 for v in _related_counts(duplicate_account).values())
    assert all(v == 0 for v in _related_counts(duplicate_contact).values())
    assert (Activity.objects.count(), Opportunity.objects.count(), Lead.objects.count()) == totals_before
    for deal in [*deals, conversion.opportunity]:
        deal.refresh_from_db()
        assert (deal.account, deal.contact) == (survivor_account, survivor_contact)
    for activity in activities:
        activity.refresh_from_db()
        assert activity.account == survivor_account
    assert activities[0].contact == survivor_contact
    lead.refresh_from_db()
    assert (lead.converted_account, lead.converted_contact) == (survivor_account, survivor_contact)
    assert set(survivor_account.contacts.all()) == {survivor_contact, duplicate_contact}
    payload = OutboxEvent.objects.filter(name="crm.customer.merged").order_by("id").first().payload
    assert payload["moved"] == {
        "crm.contact.account": 1,
        "crm.lead.converted_account": 1,
        "crm.opportunity.account": 3,
        "crm.activity.account": 3,
    }
