"""The Celery application. Settings come from Django's settings under the CELERY_ namespace."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "suite.settings")

app = Celery("troika")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes the database connection around every task unless this is set: 3.4x on small
# database tasks (PERFORMANCE-NOTES.md). The fix-up reads it under this exact, un-namespaced key.
app.conf.CELERY_DB_REUSE_MAX = 1000
app.autodiscover_tasks()
