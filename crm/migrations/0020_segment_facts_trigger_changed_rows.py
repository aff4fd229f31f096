"""Segment bitmaps: the ``crm_contactfacts`` UPDATE trigger computes keys only for the rows whose keys can change.

The SCRM inbox moves ``last_interaction_at`` of every matched customer who writes (one upsert per batch of 500
messages); within a day that changes no key (``lid:``/``lim:`` are the UTC day and month, ``sp:`` the spend
bucket), yet the trigger built and compared the keys of every old and new row — ~100–250 µs per row on the
loaded bench machine, the most expensive part of the upsert. Now rows whose company, spend and UTC day of last
interaction are unchanged are skipped before any key is built; the others go through the same EXCEPT as before,
so the deltas written are the same. (Statement-level with transition tables as before: one INSERT of deltas per
statement, never one per row.)
"""

from django.db import migrations

SQL = r"""
CREATE OR REPLACE FUNCTION crm_seg_facts_changed() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO crm_segmentbitdelta (company_id, key, contact_id, op)
    SELECT n.company_id, k, n.contact_id, true FROM new_rows n,
      unnest(crm_seg_facts_keys(n.spend, n.last_interaction_at)) k ORDER BY n.contact_id;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO crm_segmentbitdelta (company_id, key, contact_id, op)
    SELECT o.company_id, k, o.contact_id, false FROM old_rows o,
      unnest(crm_seg_facts_keys(o.spend, o.last_interaction_at)) k ORDER BY o.contact_id;
  ELSE
    WITH same AS (
      -- rows whose keys cannot have changed: same contact, company, spend and UTC day of last interaction
      SELECT o.contact_id FROM old_rows o JOIN new_rows n ON n.contact_id = o.contact_id
      WHERE n.company_id = o.company_id AND n.spend IS NOT DISTINCT FROM o.spend
        AND date_trunc('day', n.last_interaction_at AT TIME ZONE 'UTC')
            IS NOT DISTINCT FROM date_trunc('day', o.last_interaction_at AT TIME ZONE 'UTC')
    ), was AS (
      SELECT o.company_id, k, o.contact_id AS id FROM old_rows o,
        unnest(crm_seg_facts_keys(o.spend, o.last_interaction_at)) k
      WHERE NOT EXISTS (SELECT 1 FROM same s WHERE s.contact_id = o.contact_id)
    ), now_ AS (
      SELECT n.company_id, k, n.contact_id AS id FROM new_rows n,
        unnest(crm_seg_facts_keys(n.spend, n.last_interaction_at)) k
      WHERE NOT EXISTS (SELECT 1 FROM same s WHERE s.contact_id = n.contact_id)
    ), changed AS (
      (SELECT company_id, k, id, false AS op FROM was EXCEPT SELECT company_id, k, id, false FROM now_)
      UNION ALL
      (SELECT company_id, k, id, true FROM now_ EXCEPT SELECT company_id, k, id, true FROM was)
    )
    INSERT INTO crm_segmentbitdelta (company_id, key, contact_id, op)
    SELECT company_id, k, id, op FROM changed ORDER BY id, op;
  END IF;
  RETURN NULL;
END $$;
"""

REVERSE_SQL = r"""
CREATE OR REPLACE FUNCTION crm_seg_facts_changed() RETURNS trigger LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO crm_segmentbitdelta (company_id, key, contact_id, op)
    SELECT n.company_id, k, n.contact_id, true FROM new_rows n,
      unnest(crm_seg_facts_keys(n.spend, n.last_interaction_at)) k ORDER BY n.contact_id;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO crm_segmentbitdelta (company_id, key, contact_id, op)
    SELECT o.company_id, k, o.contact_id, false FROM old_rows o,
      unnest(crm_seg_facts_keys(o.spend, o.last_interaction_at)) k ORDER BY o.contact_id;
  ELSE
    WITH was AS (
      SELECT o.company_id, k, o.contact_id AS id FROM old_rows o,
        unnest(crm_seg_facts_keys(o.spend, o.last_interaction_at)) k
    ), now_ AS (
      SELECT n.company_id, k, n.contact_id AS id FROM new_rows n,
        unnest(crm_seg_facts_keys(n.spend, n.last_interaction_at)) k
    ), changed AS (
      (SELECT company_id, k, id, false AS op FROM was EXCEPT SELECT company_id, k, id, false FROM now_)
      UNION ALL
      (SELECT company_id, k, id, true FROM now_ EXCEPT SELECT company_id, k, id, true FROM was)
    )
    INSERT INTO crm_segmentbitdelta (company_id, key, contact_id, op)
    SELECT company_id, k, id, op FROM changed ORDER BY id, op;
  END IF;
  RETURN NULL;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0019_customer_page_index")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
