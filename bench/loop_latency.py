"""``python -m bench loop_latency``: won opportunity → promised date in CRM through a real worker (issue #7 figure).

    python -m bench loop_latency                                 the issue's figure: 50 wins/s for 300 s
    python -m bench loop_latency --rate 50 --seconds 60          a shorter run
    python -m bench loop_latency --scenario profile --wins 500   cProfile of the handlers, in-process

Everything is real: Troika under gunicorn (2 sync workers, ``suite/gunicorn_conf.py``), a ``celery worker``
(``--concurrency 2``) and ``celery beat`` (the relay every second, as ``make run`` starts them), on the bench
database, company ``bench-loop`` (made once: a warehouse, stocked products, short products with a purchase
receipt expected in 14 days, customers — a tenth of them with a credit limit of 1.00 — and open deal templates
made through the CRM services; each run clones ``rate × seconds`` open deals from the templates in SQL).

Load: ``--clients`` threads POST ``/api/v1/crm/opportunities/<id>/win/`` (token of the deals' salesperson) at
``--rate`` wins/s. Each win then runs the loop of flow 1: ``crm.opportunity.won`` → relay →
``erp.sales_order_from_won_opportunity`` (partner, sales order, credit check; confirmed: reservation, ATP promise,
delivery order, MRP run queued for a shortage; over the limit: held) → ``erp.sales_order.confirmed`` / ``.held`` →
relay → ``crm.opportunity_order_confirmed`` / ``_held`` (order number, state, promised date or hold reason on the
deal; the owner notified) — what the deal's API and page show.

Per win: **accepted** = ``created_at`` of its ``crm.opportunity.won`` row (written in the API request's transaction);
**visible in CRM** = ``delivered_at`` of the ERP event the CRM handler applied (``_MARK_DONE``, the last write of the
relay batch's transaction that updated the deal: the deal's new fields become visible at that commit). Reported:
p50/p95/p99/max of visible − accepted, the rate achieved, the API's own response times, and the checks: every win
has exactly one sales order, exactly one ``erp.sales_order.confirmed``/``held`` event, one ``done`` run of each
handler (``HandlerRun``), one notification, and its status on the deal (none lost, none applied twice).

CPU ms per win by process (user + system from /proc): the celery worker (+ pool), beat, gunicorn, and the
PostgreSQL backends of those processes (``application_name``). 2 cores = 40 ms of CPU per win at 50 wins/s.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import http.client
import io
import os
import pstats
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import bench
from bench import processes

TARGET_RATE = 50.0
TARGET_P95 = 2.0
COMPANY_CODE = "bench-loop"
APP_NAME = "troika-bench-loop"  # PGAPPNAME of gunicorn, the worker and beat: their backends' CPU is counted
SALES_USER = "loop-bench-sales"
TEMPLATE_PREFIX = "LOOP-TEMPLATE"
STOCKED, SHORT, NORMAL_ACCOUNTS, CREDIT_ACCOUNTS = 40, 5, 300, 30
CONFIRMED, HELD = "erp.sales_order.confirmed", "erp.sales_order.held"
CRM_HANDLERS = ("crm.opportunity_order_confirmed", "crm.opportunity_order_held")
ERP_HANDLER = "erp.sales_order_from_won_opportunity"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench loop_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["live", "profile"], default="live")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="wins/s offered over the API (default 50)")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long wins arrive (default 300)")
    parser.add_argument("--wins", type=int, default=0, help="wins in all (overrides --seconds); profile: 300")
    parser.add_argument("--clients", type=int, default=16, help="client threads (default 16)")
    parser.add_argument("--concurrency", type=int, default=2, help="celery worker processes (default 2)")
    parser.add_argument("--gunicorn-workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--batch-size", type=int, default=50, help="profile: events per relay batch (default 50)")
    parser.add_argument("--sort", default="cumulative", help="profile: pstats sort key")
    parser.add_argument("--top", type=int, default=35, help="profile: functions listed")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting after the load (s)")
    return parser


# --------------------------------------------------------------------------- data


def _prepare() -> dict:
    """The bench company (made once): warehouse, products, customers, a salesperson and deal templates."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from crm.models import Account, Opportunity
    from crm.services.customers import account_create
    from crm.services.opportunities import opportunity_create
    from crm.services.quotes import opportunity_line_add
    from erp.models import Product, Warehouse
    from erp.services import inventory as inv
    from erp.services import invoicing
    from suite.models import Company, Membership, Role

    company, _ = Company.objects.get_or_create(
        code=COMPANY_CODE, defaults={"name": "闭环基准测试公司", "name_en": "Bench closed loop"}
    )
    user, _ = get_user_model().objects.get_or_create(username=SALES_USER, defaults={"email": "loop@example.com"})
    membership, _ = Membership.objects.get_or_create(company=company, user=user, defaults={"role": Role.SALES})
    warehouse = Warehouse.objects.filter(company=company, code="LOOP-WH").first()
    if warehouse is None:
        print("[loop_latency] preparing company bench-loop (once) …", flush=True)
        invoicing.taxes_install_defaults(company=company)
        warehouse = inv.warehouse_create(company=company, code="LOOP-WH", name="闭环基准仓")
        uom = inv.uom_defaults_ensure(company=company)["pcs"]
        for i in range(STOCKED):
            product = inv.product_create(
                company=company, sku=f"LOOP-S{i:03d}", name=f"现货产品{i}", uom=uom, list_price=Decimal(50 + i)
            )
            inv.stock_receive(
                product=product, warehouse=warehouse, quantity=Decimal("10000000"), unit_cost=Decimal("20")
            )
        for i in range(SHORT):
            product = inv.product_create(
                company=company, sku=f"LOOP-X{i:03d}", name=f"缺货产品{i}", uom=uom, list_price=Decimal(80 + i)
            )
            inv.incoming_supply_plan(
                product=product,
                warehouse=warehouse,
                quantity=Decimal("10000000"),
                expected_date=timezone.localdate() + dt.timedelta(days=14),
                reference=f"PO-LOOP-{i}",
            )
        for i in range(NORMAL_ACCOUNTS):
            account_create(company=company, by=user, name=f"闭环客户{i:04d}有限公司", force=True)
        for i in range(CREDIT_ACCOUNTS):
            account_create(
                company=company, by=user, name=f"限额客户{i:04d}有限公司", credit_limit=Decimal("1.00"), force=True
            )
        stocked = list(Product.objects.filter(company=company, sku__startswith="LOOP-S").order_by("sku"))
        short = list(Product.objects.filter(company=company, sku__startswith="LOOP-X").order_by("sku"))
        account = Account.objects.filter(company=company, name__startswith="闭环客户").order_by("pk").first()
        credit = Account.objects.filter(company=company, name__startswith="限额客户").order_by("pk").first()
        # 20 templates: 16 stocked (2 lines each), 2 with a short line (promise from the PO, MRP run), 2 held
        for t in range(20):
            kind = "stock" if t < 16 else ("short" if t < 18 else "credit")
            deal = opportunity_create(
                company=company,
                by=user,
                name=f"{TEMPLATE_PREFIX} {kind} {t}",
                account=credit if kind == "credit" else account,
            )
            first, second = stocked[(2 * t) % STOCKED], stocked[(2 * t + 1) % STOCKED]
            opportunity_line_add(opportunity=deal, by=user, product_id=first.pk, quantity=str(1 + t % 3))
            other = short[t % SHORT] if kind == "short" else second
            opportunity_line_add(opportunity=deal, by=user, product_id=other.pk, quantity=str(2 + t % 2))
    templates = list(
        Opportunity.objects.filter(company=company, name__startswith=TEMPLATE_PREFIX)
        .order_by("pk")
        .values_list("pk", "name")
    )
    accounts = Account.objects.filter(company=company).order_by("pk")
    normal = list(accounts.filter(name__startswith="闭环客户").values_list("pk", flat=True))
    credit = list(accounts.filter(name__startswith="限额客户").values_list("pk", flat=True))
    return {
        "company": company,
        "user": user,
        "membership": membership,
        "warehouse": warehouse,
        "templates": templates,
        "normal_accounts": normal,
        "credit_accounts": credit,
    }


def _columns(model, *, skip=("id",)) -> list[str]:
    return [field.column for field in model._meta.concrete_fields if field.column not in skip]


def _clone_deals(data: dict, run: str, count: int) -> list[int]:
    """``count`` open deals named ``loop {run} #n``, cloned in SQL from the templates (round robin) with their
    lines; stocked and short templates get one of the ordinary customers, credit templates a limited one.
    Returns their ids in the order they are to be won."""
    from django.db import connection, transaction

    from crm.models import Opportunity, OpportunityLine

    opp_cols = _columns(Opportunity)
    line_cols = _columns(OpportunityLine)
    select_opp = []
    for column in opp_cols:
        if column == "name":
            select_opp.append("%(prefix)s || g.n")
        elif column == "account_id":
            select_opp.append(
                "CASE WHEN o.name LIKE '%%credit%%' THEN (%(credit)s::bigint[])[1 + g.n %% %(ncredit)s] "
                "ELSE (%(normal)s::bigint[])[1 + g.n %% %(nnormal)s] END"
            )
        elif column in ("created_at", "updated_at", "stage_entered_at"):
            select_opp.append("now()")
        else:
            select_opp.append(f"o.{column}")
    now_columns = ("created_at", "updated_at")
    select_line = [
        "pairs.id" if column == "opportunity_id" else ("now()" if column in now_columns else f"l.{column}")
        for column in line_cols
    ]
    templates = [pk for pk, _name in data["templates"]]
    sql = f"""
        WITH g AS (SELECT n, (%(templates)s::bigint[])[1 + n %% %(ntemplates)s] AS template_id
                     FROM generate_series(0, %(count)s - 1) AS n),
             new AS (
                INSERT INTO crm_opportunity ({", ".join(opp_cols)})
                SELECT {", ".join(select_opp)} FROM g JOIN crm_opportunity o ON o.id = g.template_id
                ORDER BY g.n
                RETURNING id, name
             ),
             pairs AS (
                SELECT new.id,
                       (%(templates)s::bigint[])[1 + substring(new.name FROM '#([0-9]+)$')::int %% %(ntemplates)s]
                           AS template_id
                  FROM new
             ),
             lines AS (
                INSERT INTO crm_opportunityline ({", ".join(line_cols)})
                SELECT {", ".join(select_line)}
                  FROM pairs JOIN crm_opportunityline l ON l.opportunity_id = pairs.template_id
             )
        SELECT id FROM pairs ORDER BY id
    """
    params = {
        "prefix": f"loop {run} #",
        "templates": templates,
        "ntemplates": len(templates),
        "count": count,
        "credit": data["credit_accounts"],
        "ncredit": len(data["credit_accounts"]),
        "normal": data["normal_accounts"],
        "nnormal": len(data["normal_accounts"]),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _token(data: dict) -> str:
    from suite.services.tokens import api_token_issue

    return api_token_issue(membership=data["membership"], name="bench loop_latency").secret


def _reset() -> None:
    """An empty bench queue and no relay flag left by an earlier run."""
    from django.conf import settings

    from suite.celery import app
    from suite.events.outbox import clear_relay_flag

    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    clear_relay_flag()


# --------------------------------------------------------------------------- processes


def _celery(kind: str, directory: Path, concurrency: int = 2) -> processes.CeleryProcess:
    return processes.CeleryProcess(kind, concurrency, directory, app_name=APP_NAME, name="bench-loop")


_gunicorn = functools.partial(processes.gunicorn, app_name=APP_NAME, name="bench-loop")


# --------------------------------------------------------------------------- load


def _load(port: int, token: str, deal_ids: list[int], rate: float, clients: int, seconds: float = 0.0) -> dict:
    """``clients`` threads POST the wins, the n-th due at start + n / rate (an open loop: a slow answer does
    not slow the arrivals down while a thread is free). With ``seconds``, no win is sent after that long: a
    server slower than the offered rate gets fewer wins, not a longer run. ``won``: the deals answered 200."""
    lock = threading.Lock()
    state = {"next": 0, "errors": 0, "statuses": {}, "latencies": [], "won": []}
    barrier = threading.Barrier(clients + 1)
    started = [0.0]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept-Language": "en"}

    def client() -> None:
        connection = None
        barrier.wait()
        while True:
            with lock:
                index = state["next"]
                state["next"] += 1
            if index >= len(deal_ids) or (seconds and time.time() > started[0] + seconds):
                return
            due = started[0] + index / rate if rate > 0 else 0
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            status, sent = 0, time.perf_counter()
            for _attempt in range(3):
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    connection.request("POST", f"/api/v1/crm/opportunities/{deal_ids[index]}/win/", body=b"{}",
                                       headers=headers)  # fmt: skip
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                    if response.getheader("Connection", "").lower() == "close":
                        connection.close()
                        connection = None
                    break
                except (OSError, http.client.HTTPException):
                    if connection is not None:
                        connection.close()
                    connection = None
            elapsed = time.perf_counter() - sent
            with lock:
                state["statuses"][status] = state["statuses"].get(status, 0) + 1
                state["latencies"].append(elapsed)
                if status == 200:
                    state["won"].append(deal_ids[index])
                else:
                    state["errors"] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    started[0] = time.time() + 0.05
    barrier.wait()
    for thread in threads:
        thread.join()
    return {"started": started[0], "ended": time.time(), **state}


def _wait_visible(deal_ids: list[int], timeout: float) -> None:
    """Until every deal shows what ERP did with it (order number and state)."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM crm_opportunity WHERE id = ANY(%s) AND erp_order_state <> ''", [deal_ids]
            )
            done = cursor.fetchone()[0]
        if done >= len(deal_ids):
            return
        if time.monotonic() > deadline:
            print(f"[loop_latency] timed out: {done} of {len(deal_ids)} deals show their order", flush=True)
            return
        time.sleep(0.5)


def _figures(company_id: int, deal_ids: list[int]) -> dict:
    """Latencies and the once-and-only-once checks of the run's wins, in SQL."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH won AS (
                SELECT w.id, w.correlation_id, w.created_at, (w.payload ->> 'opportunity_id')::bigint AS deal_id
                  FROM suite_outboxevent w
                 WHERE w.name = 'crm.opportunity.won' AND w.company_id = %(company)s
                   AND (w.payload ->> 'opportunity_id')::bigint = ANY(%(deals)s)
            ), answer AS (
                SELECT won.id AS won_id, count(e.id) AS events, min(e.delivered_at) AS visible_at,
                       min(e.name) AS kind
                  FROM won LEFT JOIN suite_outboxevent e
                    ON e.correlation_id = won.correlation_id AND e.company_id = %(company)s
                   AND e.name IN ('erp.sales_order.confirmed', 'erp.sales_order.held')
                 GROUP BY won.id
            )
            SELECT count(*), count(*) FILTER (WHERE answer.events = 1), count(*) FILTER (WHERE answer.events > 1),
                   count(*) FILTER (WHERE answer.kind = 'erp.sales_order.held'),
                   count(answer.visible_at),
                   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
                       ORDER BY extract(epoch FROM answer.visible_at - won.created_at)),
                   max(extract(epoch FROM answer.visible_at - won.created_at)),
                   extract(epoch FROM min(won.created_at)), extract(epoch FROM max(won.created_at)),
                   extract(epoch FROM max(answer.visible_at)),
                   count(DISTINCT won.deal_id)
              FROM won JOIN answer ON answer.won_id = won.id
            """,
            {"company": company_id, "deals": deal_ids},
        )
        (wins, answered_once, answered_twice, held, visible, pcts, worst, first_win, last_win, last_visible,
         distinct_deals) = cursor.fetchone()  # fmt: skip
        cursor.execute(
            """
            SELECT count(*), count(DISTINCT crm_opportunity_id), count(*) FILTER (WHERE state = 'held'),
                   count(*) FILTER (WHERE state = 'confirmed' AND promised_date IS NULL)
              FROM erp_salesorder WHERE company_id = %s AND crm_opportunity_id = ANY(%s)
            """,
            [company_id, deal_ids],
        )
        orders, order_deals, orders_held, undated = cursor.fetchone()
        cursor.execute(
            """
            SELECT r.handler, r.status, count(*), max(r.attempts)
              FROM suite_handlerrun r JOIN suite_outboxevent e ON e.id = r.event_id
             WHERE e.company_id = %s AND e.correlation_id IN (
                       SELECT correlation_id FROM suite_outboxevent
                        WHERE name = 'crm.opportunity.won' AND company_id = %s
                          AND (payload ->> 'opportunity_id')::bigint = ANY(%s))
               AND r.handler IN (%s, %s, %s)
             GROUP BY 1, 2
            """,
            [company_id, company_id, deal_ids, ERP_HANDLER, *CRM_HANDLERS],
        )
        runs = {(handler, status): (count, attempts) for handler, status, count, attempts in cursor.fetchall()}
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE promised_date IS NOT NULL),
                   count(*) FILTER (WHERE erp_order_state = 'held' AND erp_hold_reason <> '')
              FROM crm_opportunity WHERE id = ANY(%s) AND erp_order_number <> ''
            """,
            [deal_ids],
        )
        deals_shown, deals_dated, deals_held = cursor.fetchone()
        cursor.execute(
            """
            SELECT count(*), count(DISTINCT link) FROM suite_notification
             WHERE company_id = %s AND link = ANY(%s)
            """,
            [company_id, [f"/crm/opportunities/{pk}/" for pk in deal_ids]],
        )
        notes, noted_deals = cursor.fetchone()
    erp_done = runs.get((ERP_HANDLER, "done"), (0, 0))
    crm_done = sum(runs.get((name, "done"), (0, 0))[0] for name in CRM_HANDLERS)
    retried = sum(count for (_h, status), (count, _a) in runs.items() if status != "done")
    return {
        "wins": wins,
        "distinct_deals": distinct_deals,
        "answered_once": answered_once,
        "answered_twice": answered_twice,
        "held": held,
        "visible": visible,
        "p50": float(pcts[0] or 0) if pcts else 0.0,
        "p95": float(pcts[1] or 0) if pcts else 0.0,
        "p99": float(pcts[2] or 0) if pcts else 0.0,
        "max": float(worst or 0),
        "first_win": float(first_win or 0),
        "last_win": float(last_win or 0),
        "last_visible": float(last_visible or 0),
        "orders": orders,
        "order_deals": order_deals,
        "orders_held": orders_held,
        "undated": undated,
        "erp_runs": erp_done[0],
        "erp_max_attempts": erp_done[1],
        "crm_runs": crm_done,
        "not_done_runs": retried,
        "deals_shown": deals_shown,
        "deals_dated": deals_dated,
        "deals_held": deals_held,
        "notes": notes,
        "noted_deals": noted_deals,
    }


def _ms(seconds: float, wins: int) -> str:
    return f"{seconds / wins * 1e3:.1f}" if wins else "—"


# --------------------------------------------------------------------------- scenarios


def run_live(args, data: dict, directory: Path) -> tuple[int, str]:
    total = args.wins or int(args.rate * args.seconds)
    run = uuid.uuid4().hex[:8]
    warmup_ids = _clone_deals(data, f"w{run}", 40)
    deal_ids = _clone_deals(data, run, total)
    token = _token(data)
    _reset()
    worker, beat = _celery("worker", directory, args.concurrency), _celery("beat", directory)
    with _gunicorn(args.gunicorn_workers) as (port, gunicorn_pid):
        worker.start()
        beat.start()
        try:
            # Warm-up off the clock: every gunicorn worker and pool process loads its code and connects.
            _load(port, token, warmup_ids, 10.0, 4)
            _wait_visible(warmup_ids, 120)
            meter = processes.CpuMeter(
                {"worker": worker.process.pid, "beat": beat.process.pid, "gunicorn": gunicorn_pid}, app_name=APP_NAME
            )
            meter.sample()
            print(f"[loop_latency] {total:,} wins at {args.rate:,.0f}/s offered over the API, "
                  f"{args.clients} client threads …", flush=True)  # fmt: skip
            client_cpu = time.process_time()
            stop_sampling = threading.Event()

            def sampler() -> None:  # short-lived backends are caught by sampling every second
                while not stop_sampling.wait(1.0):
                    with contextlib.suppress(Exception):
                        meter.sample()

            thread = threading.Thread(target=sampler, daemon=True)
            thread.start()
            load = _load(port, token, deal_ids, args.rate, args.clients, 0 if args.wins else args.seconds)
            client_cpu = time.process_time() - client_cpu
            won_ids = sorted(load["won"])
            print(f"[loop_latency] {len(won_ids):,} wins accepted in {load['ended'] - load['started']:.0f} s; "
                  f"waiting for the loop …", flush=True)  # fmt: skip
            _wait_visible(won_ids, args.timeout)
            stop_sampling.set()
            thread.join()
            meter.sample()
        finally:
            beat.stop()
            worker.stop()
    from django.db import connection

    connection.close()
    f = _figures(data["company"].pk, won_ids)
    api = sorted(load["latencies"])
    sent = len(api)
    total = len(won_ids)
    intake = total / max(load["ended"] - load["started"], 1e-9)
    achieved = f["visible"] / max(f["last_visible"] - f["first_win"], 1e-9)
    ok = (
        load["errors"] == 0
        and f["wins"] == f["distinct_deals"] == total
        and f["answered_once"] == total
        and f["answered_twice"] == 0
        and f["orders"] == f["order_deals"] == total
        and f["erp_runs"] == total
        and f["crm_runs"] == total
        and f["deals_shown"] == total
        and f["noted_deals"] == f["notes"] == total
    )
    bench.print_table(
        ["wins sent / offered", "offered", "API intake", "end to end", "p50 s", "p95 s", "p99 s", "max s",
         "API p50 / p95 ms", "held", "each once, none lost"],
        [[f"{sent:,} / {len(deal_ids):,}", f"{args.rate:,.0f}/s", f"{intake:,.1f}/s", f"{achieved:,.1f}/s",
          f"{f['p50']:.2f}", f"**{f['p95']:.2f}**", f"{f['p99']:.2f}", f"{f['max']:.2f}",
          f"{bench.percentile(api, 0.5) * 1e3:.0f} / {bench.percentile(api, 0.95) * 1e3:.0f}", f"{f['held']:,}",
          "yes" if ok else "NO"]],
    )  # fmt: skip
    print(
        f"checks: {f['wins']:,} won events for {f['distinct_deals']:,} deals; {f['orders']:,} sales orders for "
        f"{f['order_deals']:,} deals ({f['orders_held']:,} held, {f['undated']:,} confirmed without a date); "
        f"{f['answered_once']:,} wins answered by exactly one confirmed/held event ({f['answered_twice']} twice); "
        f"HandlerRun done: {f['erp_runs']:,} ERP (max attempts {f['erp_max_attempts']}), {f['crm_runs']:,} CRM, "
        f"{f['not_done_runs']} not done; deals showing their order {f['deals_shown']:,} (dated {f['deals_dated']:,}, "
        f"held with reason {f['deals_held']:,}); notifications {f['notes']:,} for {f['noted_deals']:,} deals; "
        f"HTTP {load['statuses']}",
        flush=True,
    )
    server = sum(meter.used(label) for label in ("worker", "beat", "gunicorn", "postgres"))
    bench.print_table(
        ["CPU ms per win", "celery worker", "beat", "gunicorn", "PostgreSQL backends (ours)", "total", "load client",
         "wins/s 2 idle cores could take"],
        [["", _ms(meter.used("worker"), total), _ms(meter.used("beat"), total), _ms(meter.used("gunicorn"), total),
          _ms(meter.used("postgres"), total), _ms(server, total), _ms(client_cpu, total),
          f"{2 * total / server:,.0f}/s" if server else "—"]],
    )  # fmt: skip
    met = ok and f["p95"] < TARGET_P95 and achieved >= args.rate * 0.97
    note = f"live: {'target met' if met else 'target NOT met'} (p95 {f['p95']:.2f} s, target < {TARGET_P95:.0f} s)"
    return (0 if ok else 1), note


def run_profile(args, data: dict) -> tuple[int, str]:
    """``--wins`` deals won through the service in this process, then the relay run here under cProfile."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Opportunity
    from crm.services.opportunities import opportunity_win
    from suite.events.relay import relay_batch

    count = args.wins or 300
    run = uuid.uuid4().hex[:8]
    deal_ids = _clone_deals(data, run, count)
    _reset()
    profiler = cProfile.Profile()
    cpu, wall = time.process_time(), time.perf_counter()
    with CaptureQueriesContext(connection) as win_queries:
        for deal in Opportunity.objects.filter(pk__in=deal_ids).order_by("pk"):
            opportunity_win(opportunity=deal, by=data["user"])
    win_cpu = time.process_time() - cpu
    cpu, wall = time.process_time(), time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        profiler.enable()
        while relay_batch(batch_size=args.batch_size).claimed:
            pass
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    kinds: dict[str, list[float]] = {}
    for query in queries.captured_queries:
        key = " ".join(query["sql"].split())[:100]
        kinds.setdefault(key, []).append(float(query["time"]))
    print(f"win (service, no HTTP): {len(win_queries) / count:.1f} queries and {win_cpu / count * 1e3:.1f} ms "
          f"Python CPU per win")  # fmt: skip
    print(f"relay: {len(queries)} queries for {count} wins ({len(queries) / count:.1f} per win); the most "
          f"expensive kinds (count, total s):")  # fmt: skip
    for key, times in sorted(kinds.items(), key=lambda item: -sum(item[1]))[:20]:
        print(f"  {len(times):6d} {sum(times):7.2f}  {key}")
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats(args.sort).print_stats(args.top)
    print(stream.getvalue())
    print(f"profile: {count} wins relayed in-process in {wall:.1f} s, {cpu / count * 1e3:.1f} ms Python CPU per "
          f"win in the handlers (inflated by cProfile; PostgreSQL's own CPU not counted)", flush=True)  # fmt: skip
    return 0, f"profile: {cpu / count * 1e3:.1f} ms handler CPU per win"


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except SystemExit as exc:
        if exc.code not in (None, 0) and not isinstance(exc.code, int):
            print(f"[loop_latency] {exc.code}", file=sys.stderr, flush=True)
        raise


def _main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup(seed=False)
    data = _prepare()
    with tempfile.TemporaryDirectory(prefix="troika-bench-loop-") as tmp:
        if args.scenario == "profile":
            status, note = run_profile(args, data)
        else:
            status, note = run_live(args, data, Path(tmp))
    load = os.getloadavg()
    print(f"{note}. Machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the "
          f"end (shared with other work: it slows latencies and rates, much less the CPU per win).",
          flush=True)  # fmt: skip
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
