"""Indexes of the customer 360° page: a customer's open activities by due time and its last call or meeting
(without them the biggest bench account's page intersected the company's 110k open activities, and read all
3k of its activities for the last contact: docs/performance.md, "Customer 360"). Built concurrently so a large
table is not locked for writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0008_segments_tag_history"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="activity",
            index=models.Index(
                fields=["account", "due_at"], condition=Q(done_at__isnull=True), name="crm_activity_account_open"
            ),
        ),
        AddIndexConcurrently(
            model_name="activity",
            index=models.Index(
                fields=["contact", "due_at"], condition=Q(done_at__isnull=True), name="crm_activity_contact_open"
            ),
        ),
        AddIndexConcurrently(
            model_name="activity",
            index=models.Index(
                fields=["account", "-done_at"],
                condition=Q(kind__in=["call", "meeting"], done_at__isnull=False),
                name="crm_activity_account_contacted",
            ),
        ),
        AddIndexConcurrently(
            model_name="activity",
            index=models.Index(
                fields=["contact", "-done_at"],
                condition=Q(kind__in=["call", "meeting"], done_at__isnull=False),
                name="crm_activity_contact_contacted",
            ),
        ),
    ]
