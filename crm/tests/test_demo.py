"""The CRM demo data of the three seed stories, made once (a second run adds nothing: suite/tests/test_seed_demo.py
counts every table)."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from crm.models import Lead, Opportunity, OpportunityLine, Quote, QuoteState, Ticket

pytestmark = pytest.mark.django_db


def test_demo_tells_the_three_stories():
    call_command("seed_demo", stdout=StringIO())
    counts = (Opportunity.objects.count(), OpportunityLine.objects.count(), Quote.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (Opportunity.objects.count(), OpportunityLine.objects.count(), Quote.objects.count()) == counts

    lathe = OpportunityLine.objects.get(company__code="ecm", sku="CNC-CK6140")
    assert lathe.unit_price == Decimal("118000.0000")  # the key-account price list of 苏州精工
    deal = lathe.opportunity
    assert deal.amount == sum(line.line_total for line in deal.lines.all())
    assert Quote.objects.get(opportunity=deal).state == QuoteState.SENT
    assert Quote.objects.filter(company__code="ecm", state=QuoteState.ACCEPTED).count() == 1
    assert OpportunityLine.objects.filter(company__code="sbev", sku="BEV-TEA-500").exists()
    assert Lead.objects.filter(company__code="qihang", source="douyin").count() == 3
    assert Ticket.objects.filter(company__code="ecm").count() == 2
