"""Process-wide hooks: the audit context of Celery tasks."""
