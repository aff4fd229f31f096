"""A person's private calendar subscription (日程订阅): the secret iCalendar address that shows their CRM activities
in Outlook, Apple Calendar, Google Calendar or a phone (``crm.services.calendar_feeds``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import Company


@audited(exclude=["key_hash", "last_used_at"])
class CalendarFeed(models.Model):
    """The subscription address of one person in one company: ``/crm/calendar/feed/<prefix>.<key>.ics``. Only the
    SHA-256 of the key is kept (the address is shown once, when made); a new address replaces the old one, which
    stops working. At most one per person and company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", verbose_name=_("company"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    prefix = models.CharField(_("prefix"), max_length=12, unique=True)
    key_hash = models.CharField(_("key hash"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("calendar subscription")
        verbose_name_plural = _("calendar subscriptions")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["company", "user"], name="crm_calendarfeed_one_per_person")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.prefix}…)"
