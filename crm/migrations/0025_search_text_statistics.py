"""A finer sample of ``search_text`` for the planner (docs/performance.md, "CRM at scale", crmfast).

With the default statistics target (100) PostgreSQL estimates ``search_text LIKE '%term%'`` from a histogram of
100 values: a brand name matching ~2.5 % of 100k accounts often matches none of them, is estimated at a handful of
rows, and the customer list's page is planned as a trigram bitmap scan of every match plus a sort (8–12 ms)
instead of the index-only walk of ``(company, -updated_at, id) INCLUDE (…, search_text)`` that stops after 50
hits (1–4 ms). With 1,000 values the estimates are right (measured on ``crm_bench``: every bench search then walks
the index; rare terms still use the trigram index). ``SET STATISTICS`` takes a SHARE UPDATE EXCLUSIVE lock (reads
and writes go on); the ANALYZE of the one column makes it effective at once.
"""

from django.db import migrations

TABLES = ("crm_account", "crm_contact")


class Migration(migrations.Migration):
    dependencies = [("crm", "0024_funnel_reach")]

    operations = [
        migrations.RunSQL(
            sql=[f"ALTER TABLE {table} ALTER COLUMN search_text SET STATISTICS 1000" for table in TABLES]
            + [f"ANALYZE {table} (search_text)" for table in TABLES],
            reverse_sql=[f"ALTER TABLE {table} ALTER COLUMN search_text SET STATISTICS -1" for table in TABLES],
        )
    ]
