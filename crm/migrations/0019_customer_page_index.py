"""The customer list's page in index order with the columns its default filters read (docs/performance.md, "CRM
at scale"): ``(company, -updated_at, id) INCLUDE (lifecycle_stage, merged_into, owner, team, search_text)``
replaces ``(company, -updated_at)``, so the page's ids come from an index-only walk instead of a heap fetch per
row. Built and dropped concurrently so a large table is not locked for writes; the new one first."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0018_sales_targets"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="account",
            index=models.Index(
                fields=["company", "-updated_at", "id"],
                include=("lifecycle_stage", "merged_into", "owner", "team", "search_text"),
                name="crm_account_company_page",
            ),
        ),
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                fields=["company", "-updated_at", "id"],
                include=("lifecycle_stage", "merged_into", "owner", "team", "search_text"),
                name="crm_contact_company_page",
            ),
        ),
        RemoveIndexConcurrently(model_name="account", name="crm_account_company_updated"),
        RemoveIndexConcurrently(model_name="contact", name="crm_contact_company_updated"),
    ]
