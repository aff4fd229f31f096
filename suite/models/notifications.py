"""In-app notifications: one row per recipient, read or unread, shown by the shell's bell."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .tenancy import Company


class Notification(models.Model):
    class Level(models.TextChoices):
        INFO = "info", _("Information")
        SUCCESS = "success", _("Success")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("recipient")
    )
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("company")
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    link = models.CharField(_("link"), max_length=500, blank=True)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices, default=Level.INFO)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    # Coalescing (``notifications_coalesce``): while unread, the one notification of a ``key`` (e.g. an inbox
    # conversation) is updated in place — ``count`` grows, ``created_at`` moves to the latest alert — instead
    # of a new row per event. Empty key: never coalesced.
    key = models.CharField(_("coalescing key"), max_length=100, blank=True, default="", db_default="")
    count = models.PositiveIntegerField(_("count"), default=1, db_default=1)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The bell's unread count and the list page: one index range per (recipient, company).
            models.Index(fields=["recipient", "company", "read_at"], name="notification_inbox_idx"),
        ]
        constraints = [
            # At most one unread notification per key and recipient: the row a coalesced alert updates.
            models.UniqueConstraint(
                fields=["recipient", "company", "key"],
                condition=models.Q(read_at__isnull=True) & ~models.Q(key=""),
                name="notification_unread_key",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
