"""Celery task of the weekly dashboard digest (beat: hourly; it sends from Monday 08:00 company time, once a
week per member — ``suite.dashboards.digest``)."""

from celery import shared_task


@shared_task(name="suite.dashboards.weekly_digest", ignore_result=True)
def weekly_digest() -> int:
    from suite.dashboards.digest import weekly_digest_send

    return weekly_digest_send()
