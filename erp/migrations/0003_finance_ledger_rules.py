"""The ledger's rules, enforced by PostgreSQL so that no code path — service, admin, raw SQL — can break them.

1. ``erp_journal_entry_guard``: an entry is inserted as a draft; a posted entry can be neither updated nor
   deleted (corrections are reversing entries).
2. ``erp_journal_line_guard``: lines of a posted entry can be neither updated nor deleted, and no line can be
   added to a posted entry. The entry row is read ``FOR SHARE`` so a line cannot slip into an entry that a
   concurrent transaction is posting.
3. ``erp_journal_entry_balanced`` (constraint trigger, DEFERRABLE INITIALLY DEFERRED): when an entry becomes
   posted, at commit its lines must number at least two, balance (sum of debits = sum of credits) and belong,
   with their accounts, to the entry's company.
4. ``erp_journal_entries_posted`` (statement trigger with transition tables, once per UPDATE statement): for the
   entries the statement posted, the periods are locked ``FOR SHARE`` and must be open (a concurrent close
   waits); dates, company, journal and fiscal year must agree with the period; numbers continue each
   (journal, fiscal year) sequence without a gap; the hash chain positions continue without a gap or fork and
   ``previous_hash`` is the hash of the entry before; and ``erp_accountperiodbalance`` is upserted per
   (account, period) in the same transaction.
5. ``erp_account_period_balance_guard``: balances are written only by trigger 4 (``pg_trigger_depth()``), never
   directly.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION erp_journal_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'draft' THEN
            RAISE EXCEPTION 'erp_ledger: a journal entry is created as a draft and posted afterwards'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.state = 'posted' THEN
        RAISE EXCEPTION 'erp_ledger: journal entry % is posted and cannot be changed or deleted; post a reversing entry instead', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER erp_journal_entry_guard
    BEFORE INSERT OR UPDATE OR DELETE ON erp_journalentry
    FOR EACH ROW EXECUTE FUNCTION erp_journal_entry_guard();


CREATE OR REPLACE FUNCTION erp_journal_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_state text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT state INTO entry_state FROM erp_journalentry WHERE id = OLD.entry_id FOR SHARE;
        IF entry_state = 'posted' THEN
            RAISE EXCEPTION 'erp_ledger: line % belongs to posted journal entry % and cannot be changed or deleted; post a reversing entry instead', OLD.id, OLD.entry_id
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.entry_id <> OLD.entry_id) THEN
        SELECT state INTO entry_state FROM erp_journalentry WHERE id = NEW.entry_id FOR SHARE;
        IF entry_state = 'posted' THEN
            RAISE EXCEPTION 'erp_ledger: journal entry % is posted; no line can be added to it', NEW.entry_id
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER erp_journal_line_guard
    BEFORE INSERT OR UPDATE OR DELETE ON erp_journalline
    FOR EACH ROW EXECUTE FUNCTION erp_journal_line_guard();


CREATE OR REPLACE FUNCTION erp_journal_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total_debit numeric;
    total_credit numeric;
    line_count integer;
    foreign_lines integer;
BEGIN
    SELECT coalesce(sum(l.debit), 0), coalesce(sum(l.credit), 0), count(*),
           count(*) FILTER (WHERE l.company_id <> NEW.company_id OR a.company_id <> NEW.company_id)
      INTO total_debit, total_credit, line_count, foreign_lines
      FROM erp_journalline l
      JOIN erp_account a ON a.id = l.account_id
     WHERE l.entry_id = NEW.id;
    IF line_count < 2 THEN
        RAISE EXCEPTION 'erp_ledger: journal entry % cannot be posted with % line(s); it needs at least two', NEW.id, line_count
            USING ERRCODE = 'check_violation';
    END IF;
    IF total_debit <> total_credit THEN
        RAISE EXCEPTION 'erp_ledger: journal entry % is not balanced: debit % <> credit %', NEW.id, total_debit, total_credit
            USING ERRCODE = 'check_violation';
    END IF;
    IF foreign_lines > 0 THEN
        RAISE EXCEPTION 'erp_ledger: journal entry % has lines or accounts of another company', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER erp_journal_entry_balanced
    AFTER UPDATE ON erp_journalentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (OLD.state = 'draft' AND NEW.state = 'posted')
    EXECUTE FUNCTION erp_journal_entry_balanced();


CREATE OR REPLACE FUNCTION erp_journal_entries_posted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    previous bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {posted} n) THEN
        RETURN NULL;  -- a draft edit: nothing posted by this statement
    END IF;

    -- Nothing posts into a closed period. FOR SHARE: a concurrent period close (FOR UPDATE) waits for us.
    FOR r IN
        SELECT p.id, p.name, p.state FROM erp_fiscalperiod p
         WHERE p.id IN (SELECT n.period_id FROM {posted} n)
         ORDER BY p.id
           FOR SHARE
    LOOP
        IF r.state <> 'open' THEN
            RAISE EXCEPTION 'erp_ledger: period % is closed; nothing can be posted into it', r.name
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;

    SELECT n.id, n.date INTO r
      FROM {posted} n
      JOIN erp_fiscalperiod p ON p.id = n.period_id
      JOIN erp_journal j ON j.id = n.journal_id
     WHERE n.date < p.start_date OR n.date > p.end_date OR p.company_id <> n.company_id
        OR p.fiscal_year_id <> n.fiscal_year_id OR j.company_id <> n.company_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'erp_ledger: journal entry % (dated %) does not belong to its period, fiscal year or journal', r.id, r.date
            USING ERRCODE = 'check_violation';
    END IF;

    -- Numbers continue each (journal, fiscal year) sequence: unique (index) and without a gap (here).
    FOR r IN
        SELECT journal_id, fiscal_year_id, min(number) AS first_number, max(number) AS last_number,
               count(*) AS posted
          FROM {posted} n GROUP BY journal_id, fiscal_year_id
    LOOP
        SELECT max(e.number) INTO previous FROM erp_journalentry e
         WHERE e.journal_id = r.journal_id AND e.fiscal_year_id = r.fiscal_year_id AND e.number < r.first_number;
        IF coalesce(previous, 0) <> r.first_number - 1
           OR r.last_number - r.first_number + 1 <> r.posted
           OR EXISTS (SELECT 1 FROM erp_journalentry e
                       WHERE e.journal_id = r.journal_id AND e.fiscal_year_id = r.fiscal_year_id
                         AND e.number > r.last_number) THEN
            RAISE EXCEPTION 'erp_ledger: numbers % to % of journal % in fiscal year % do not continue its sequence without a gap', r.first_number, r.last_number, r.journal_id, r.fiscal_year_id
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;

    -- The hash chain of each journal continues without a gap or a fork, each link pointing at the one before.
    FOR r IN
        SELECT journal_id, min(chain_position) AS first_position, max(chain_position) AS last_position,
               count(*) AS posted
          FROM {posted} n GROUP BY journal_id
    LOOP
        SELECT max(e.chain_position) INTO previous FROM erp_journalentry e
         WHERE e.journal_id = r.journal_id AND e.chain_position < r.first_position;
        IF coalesce(previous, 0) <> r.first_position - 1
           OR r.last_position - r.first_position + 1 <> r.posted
           OR EXISTS (SELECT 1 FROM erp_journalentry e
                       WHERE e.journal_id = r.journal_id AND e.chain_position > r.last_position) THEN
            RAISE EXCEPTION 'erp_ledger: chain positions % to % of journal % do not continue its chain', r.first_position, r.last_position, r.journal_id
                USING ERRCODE = 'check_violation';
        END IF;
    END LOOP;
    SELECT n.id INTO r
      FROM {posted} n
      LEFT JOIN erp_journalentry prev ON prev.journal_id = n.journal_id AND prev.chain_position = n.chain_position - 1
     WHERE n.previous_hash IS DISTINCT FROM (CASE WHEN n.chain_position = 1 THEN '' ELSE prev.entry_hash END)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'erp_ledger: journal entry % does not link to the hash of the entry before it', r.id
            USING ERRCODE = 'check_violation';
    END IF;

    -- Period balances, in the posting transaction; rows in (account, period) order so concurrent postings
    -- lock them in the same order.
    INSERT INTO erp_accountperiodbalance AS b (company_id, account_id, period_id, debit, credit)
    SELECT n.company_id, l.account_id, n.period_id, sum(l.debit), sum(l.credit)
      FROM {posted} n
      JOIN erp_journalline l ON l.entry_id = n.id
     GROUP BY n.company_id, l.account_id, n.period_id
     ORDER BY l.account_id, n.period_id
    ON CONFLICT (account_id, period_id) DO UPDATE
       SET debit = b.debit + EXCLUDED.debit, credit = b.credit + EXCLUDED.credit;

    RETURN NULL;
END;
$$;

CREATE TRIGGER erp_journal_entries_posted
    AFTER UPDATE ON erp_journalentry
    REFERENCING OLD TABLE AS old_entries NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION erp_journal_entries_posted();


CREATE OR REPLACE FUNCTION erp_account_period_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'erp_ledger: account period balances are maintained by posting and cannot be written directly'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER erp_account_period_balance_guard
    BEFORE INSERT OR UPDATE OR DELETE ON erp_accountperiodbalance
    FOR EACH ROW EXECUTE FUNCTION erp_account_period_balance_guard();
""".replace(
    "{posted}",
    # the entries the UPDATE statement moved from draft to posted
    "(SELECT n.* FROM new_entries n JOIN old_entries o ON o.id = n.id WHERE o.state = 'draft' AND n.state = 'posted')",
)

BACKWARD = r"""
DROP TRIGGER IF EXISTS erp_account_period_balance_guard ON erp_accountperiodbalance;
DROP FUNCTION IF EXISTS erp_account_period_balance_guard();
DROP TRIGGER IF EXISTS erp_journal_entries_posted ON erp_journalentry;
DROP FUNCTION IF EXISTS erp_journal_entries_posted();
DROP TRIGGER IF EXISTS erp_journal_entry_balanced ON erp_journalentry;
DROP FUNCTION IF EXISTS erp_journal_entry_balanced();
DROP TRIGGER IF EXISTS erp_journal_line_guard ON erp_journalline;
DROP FUNCTION IF EXISTS erp_journal_line_guard();
DROP TRIGGER IF EXISTS erp_journal_entry_guard ON erp_journalentry;
DROP FUNCTION IF EXISTS erp_journal_entry_guard();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("erp", "0002_finance_ledger"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
