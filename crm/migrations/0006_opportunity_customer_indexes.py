"""Indexes on a deal's customer: the customer 360° page and the ?account= / ?contact= filters read a customer's
deals, and without these scanned the company's (200k deals: docs/performance.md, "CRM at scale"). Built
concurrently so a large table is not locked for writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0005_opportunity_lines_quotes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="opportunity",
            index=models.Index(fields=["account", "-updated_at"], name="crm_opportunity_account"),
        ),
        AddIndexConcurrently(
            model_name="opportunity",
            index=models.Index(fields=["contact", "-updated_at"], name="crm_opportunity_contact"),
        ),
    ]
