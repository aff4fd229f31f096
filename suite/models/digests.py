"""The managers' weekly dashboard digest (issue #7): who wants it in which language, and which weeks went out.

``DashboardDigestSent`` is the idempotency record: one row per membership and week, inserted in the same
transaction that sends the mail, so a task that runs twice (or two workers at once) sends one digest."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from suite.audit import audited

from .tenancy import Membership


@audited
class DashboardDigestSetting(models.Model):
    """A member's digest preference: on or off, and the language (the one they last used the dashboards in)."""

    membership = models.OneToOneField(
        Membership, on_delete=models.CASCADE, related_name="digest_setting", verbose_name=_("membership")
    )
    enabled = models.BooleanField(_("send the weekly digest"), default=True)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("dashboard digest setting")
        verbose_name_plural = _("dashboard digest settings")

    def __str__(self) -> str:
        return f"{self.membership}: {self.language or '-'} {'on' if self.enabled else 'off'}"


class DashboardDigestSent(models.Model):
    """One weekly digest sent to one member (``week``: the Monday of the week it was sent in)."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+", verbose_name=_("membership"))
    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+", verbose_name=_("company"))
    week = models.DateField(_("week"))
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    language = models.CharField(_("language"), max_length=10, blank=True)
    dashboards = models.JSONField(_("dashboards"), default=list, blank=True)

    class Meta:
        verbose_name = _("dashboard digest sent")
        verbose_name_plural = _("dashboard digests sent")
        ordering = ["-week", "membership_id"]
        constraints = [
            models.UniqueConstraint(fields=["membership", "week"], name="suite_digest_once_per_week"),
        ]

    def __str__(self) -> str:
        return f"{self.membership_id} {self.week}"
