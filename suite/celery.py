"""The Celery application. Settings come from Django's settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "suite.settings")

app = Celery("troika")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes the database connection around every task unless this is set: 3.4x on small
# database tasks (PERFORMANCE-NOTES.md). The fix-up reads it under this exact, un-namespaced key.
app.conf.CELERY_DB_REUSE_MAX = 1000
app.autodiscover_tasks()

# Periodic work (`celery -A suite beat`). The outbox relay runs every second even though publishing wakes it
# after each commit: if Redis was down at commit time, or a worker died with a relay task in hand (its message
# is only re-delivered after the visibility timeout), the next beat tick still delivers the events. Stale
# ticks expire instead of piling up while no worker runs.
app.conf.beat_schedule = {
    "outbox-relay": {"task": "suite.events.relay", "schedule": 1.0, "options": {"expires": 5}},
    "outbox-prune": {"task": "suite.events.prune", "schedule": crontab(hour=3, minute=17)},
    "webhooks-sweep": {"task": "suite.webhooks.sweep", "schedule": 30.0, "options": {"expires": 30}},
    # Idempotency-Key records live 24 h (suite.api.idempotency); the task is registered by importing it below.
    "idempotency-keys-purge": {"task": "suite.idempotency_keys_purge", "schedule": crontab(minute=41)},
    # CRM service tickets: mark first-response / resolution SLA breaches and notify (crm.tasks).
    "crm-tickets-check-sla": {"task": "crm.tickets_check_sla", "schedule": 60.0, "options": {"expires": 60}},
    # CRM activity reminders (each exactly once) and the daily stale-opportunity nudges (crm.tasks).
    "crm-activity-reminders": {"task": "crm.activity_reminders_send", "schedule": 60.0, "options": {"expires": 60}},
    "crm-opportunity-nudges": {"task": "crm.opportunity_nudges_send", "schedule": crontab(hour=8, minute=7)},
    # CRM segment bitmaps: fold the deltas the triggers append (counts apply pending ones themselves; crm.tasks).
    "crm-segment-bitmaps-compact": {
        "task": "crm.segment_bitmaps_compact",
        "schedule": 5.0,
        "options": {"expires": 5},
    },
    # CRM's weighted pipeline and intent tags → ERP's MRP forecasts, daily before planners start (crm.tasks, loop).
    "crm-demand-signals-publish": {"task": "crm.demand_signals_publish", "schedule": crontab(hour=5, minute=13)},
    # CRM customer pool (客户公海): accounts nobody followed up for the company's days go back (crm.tasks).
    "crm-pool-sweep": {"task": "crm.pool_sweep", "schedule": crontab(minute=29)},
    # CRM quotes past their validity date become "expired" (crm.tasks).
    "crm-quotes-expire": {"task": "crm.quotes_expire", "schedule": crontab(hour=0, minute=11)},
    # CRM imports without progress for 15 min (a dead worker) are marked failed so they can be resumed (crm.tasks).
    "crm-import-jobs-fail-stalled": {
        "task": "crm.import_jobs_fail_stalled",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # SCRM: poll every polling channel from its stored cursor, sweep deliveries a lost task left (scrm.tasks).
    "scrm-channels-poll": {"task": "scrm.channels_poll_due", "schedule": 10.0, "options": {"expires": 10}},
    # SCRM webhook nonces older than twice the replay window are forgotten (scrm.services.channels).
    "scrm-webhook-nonces-prune": {
        "task": "scrm.webhook_nonces_prune",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # SCRM push campaigns whose scheduled time has come start sending (scrm.tasks).
    "scrm-push-campaigns-due": {"task": "scrm.push_campaigns_due", "schedule": 30.0, "options": {"expires": 30}},
    # SCRM cadences: due follow-up steps (each exactly once); WeCom staff handover jobs: results polled.
    "scrm-cadences-run": {"task": "scrm.cadences_run_due", "schedule": 30.0, "options": {"expires": 30}},
    "scrm-handover-advance": {"task": "scrm.handover_jobs_advance_due", "schedule": 300.0, "options": {"expires": 300}},
    # SCRM pushes left "sending" by a killed worker are re-queued after the lease (scrm.services.push_sweep).
    "scrm-push-sends-sweep": {"task": "scrm.push_sends_sweep", "schedule": 60.0, "options": {"expires": 60}},
    # SCRM push campaigns of a product: warm-ups start on stock, others pause on low stock / expired price (loop).
    "scrm-push-campaigns-stock-sweep": {
        "task": "scrm.push_campaigns_stock_sweep",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    "scrm-qr-payouts-sweep": {"task": "scrm.qr_payouts_sweep", "schedule": 300.0, "options": {"expires": 300}},
    # SCRM coupons past their expiry become "expired" (scrm.tasks).
    "scrm-coupons-expire": {"task": "scrm.coupons_expire", "schedule": crontab(minute=23)},
    # ERP production: alert production staff of operations past their scheduled end (erp.tasks).
    "erp-production-alert-late": {"task": "erp.production_alert_late", "schedule": 300.0, "options": {"expires": 300}},
    # ERP receivables: customer invoices past due are announced to the CRM once each (erp.tasks, closed loop).
    "erp-invoices-overdue": {"task": "erp.invoices_overdue_publish", "schedule": crontab(minute=7)},
    # Managers' weekly dashboard digest: from Monday 08:00 company time, once per member and week
    # (suite.dashboards.digest; hourly so a run missed at 08:00 catches up).
    "dashboards-weekly-digest": {"task": "suite.dashboards.weekly_digest", "schedule": crontab(minute=3)},
}
# Lazily (when the worker imports its task modules): reading app.conf here would load Django's settings on
# `import suite`, before the launcher and the benchmarks have set up the environment they run in.
app.autodiscover_tasks(["suite.api"], related_name="idempotency")
app.autodiscover_tasks(["suite.dashboards"], related_name="tasks")
from suite.ops import heartbeat as _worker_heartbeat  # noqa: E402,F401  worker liveness + task counts (signals)
