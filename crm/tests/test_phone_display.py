"""Stored phone numbers (E.164) shown as people write them, as tap-to-call links, on the CRM pages."""

import pytest
from django.urls import reverse

from crm.templatetags.crm_ui import phone_link
from crm.tests.factories import AccountFactory
from crm.text import display_phone


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+8613812345678", "138 1234 5678"),  # a Chinese mobile: national form
        ("+861012345678", "010 1234 5678"),  # a Beijing landline with its trunk prefix
        ("+442079460958", "+44 20 7946 0958"),  # abroad: international form
        ("not a number", "not a number"),  # whatever cannot be read is shown as stored
    ],
)
def test_a_stored_number_is_shown_as_people_write_it(stored, shown):
    assert display_phone(stored) == shown


def test_the_link_calls_the_stored_number_and_escapes_it():
    assert phone_link("+8613812345678") == '<a class="mono" href="tel:+8613812345678">138 1234 5678</a>'
    assert phone_link("") == "—" and phone_link(None) == "—"
    assert "<script>" not in phone_link("<script>")


@pytest.mark.django_db
@pytest.mark.usefixtures("crm_enabled")
def test_the_account_list_and_page_show_the_number_to_call(client, company, sales_user):
    account = AccountFactory(company=company, owner=sales_user, phone="+8613812345678")
    client.force_login(sales_user)

    listing = client.get(reverse("crm:account-list")).content.decode()
    page = client.get(reverse("crm:account-detail", args=[account.pk])).content.decode()

    for html in (listing, page):
        assert 'href="tel:+8613812345678">138 1234 5678</a>' in html
