"""The ERP's notifications are written in each reader's language (``Membership.language``), not in the language of
whoever caused them: an expense claim waiting for approval, then approved."""

from __future__ import annotations

import pytest
from django.utils import translation

from erp.services import expenses as svc
from suite.models import Membership, Notification, Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db


def test_an_expense_claim_is_announced_to_each_approver_and_the_employee_in_their_language(office):
    company = office.company
    chinese_manager = make_member(company, Role.MANAGER).user
    Membership.objects.filter(company=company, user__in=[office.manager, office.employee]).update(language="en")
    Membership.objects.filter(company=company, user=chinese_manager).update(language="zh-hans")
    claim = office.claim("100.00")  # one step: a manager

    with translation.override("zh-hans"):  # the employee and the approver work in Chinese
        claim = svc.expense_claim_submit(claim=claim, by=office.employee)
        claim = svc.expense_claim_approve(claim=claim, by=chinese_manager)

    assert claim.state == "approved"
    assert set(Notification.objects.filter(company=company).values_list("recipient_id", "title")) == {
        (office.manager.pk, f"Expense claim {claim.number} waits for your approval"),
        (chinese_manager.pk, f"报销单 {claim.number} 等待您审批"),
        (office.employee.pk, f"Expense claim {claim.number} was approved"),
    }
