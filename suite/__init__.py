"""The shared platform of Troika: companies and roles, the policy layer, events, audit, API base, UI shell."""

from .celery import app as celery_app

__all__ = ["celery_app"]
