"""The UGC wall's "featured" filter (``/scrm/ugc/?featured=1``): a partial index of the featured posts, so its page
and count read those few posts instead of scanning the company's every post (240 ms of COUNT(*) on the bench
company's 931k posts, docs/performance.md "SCRM and ERP pages"). Built concurrently so a large table is not locked
for writes."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("scrm", "0016_webhook_nonces"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ugcpost",
            index=models.Index(
                condition=Q(is_featured=True),
                fields=["company", "-posted_at", "-id"],
                name="scrm_ugc_featured",
            ),
        ),
    ]
