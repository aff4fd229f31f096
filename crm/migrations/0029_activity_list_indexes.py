"""Indexes of the activity list of a whole company (``/crm/activities/`` as an admin): open activities by due date
and done ones latest first. On the bench company's million activities a page of open ones took 0.6 s and of done
ones 3.4 s without them (docs/performance.md, "Activity list"). Built concurrently so a large table is not locked
for writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0028_lead_social_ref"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="activity",
            index=models.Index(
                condition=Q(done_at__isnull=True),
                fields=["company", "due_at", "id"],
                name="crm_activity_open_due_company",
            ),
        ),
        AddIndexConcurrently(
            model_name="activity",
            index=models.Index(
                condition=Q(done_at__isnull=False),
                fields=["company", "-done_at", "-id"],
                name="crm_activity_done_company",
            ),
        ),
    ]
