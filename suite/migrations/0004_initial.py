"""Empty on purpose: a migration of this name briefly held the outbox models (0005 has them now) and
crm.0001_initial depends on it. Keep it so the graph stays valid; it can be squashed before the first release."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("suite", "0003_audit_tenancy_idempotency")]
    operations = []
