"""Activity search on character pairs (bigrams): a GIN index answers "which activities contain 交期" — Chinese
search terms are mostly two characters, which trigram indexes cannot use (crm.selectors_activities)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION crm_bigrams(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(value, i, 2)), '{}')
    FROM generate_series(1, length(value) - 1) AS i
$$;
CREATE INDEX crm_activity_search_bigrams ON crm_activity
    USING gin (crm_bigrams(upper(subject || ' ' || body || ' ' || outcome)));
"""
REVERSE_SQL = """
DROP INDEX IF EXISTS crm_activity_search_bigrams;
DROP FUNCTION IF EXISTS crm_bigrams(text);
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0034_quote_approval")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
