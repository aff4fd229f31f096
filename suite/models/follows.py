"""Following a record (关注): a person asks to be told when something happens to a deal, a ticket or an account
they do not own — Salesforce's *Follow*, Odoo's followers. Which records can be followed, and what tells their
followers, is the owning app's choice (``suite.services.follows``)."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

from .tenancy import Company


class Follow(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", verbose_name=_("company"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("follower")
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, verbose_name=_("record type"))
    object_id = models.CharField(_("record id"), max_length=64)
    record = GenericForeignKey("content_type", "object_id")
    created_at = models.DateTimeField(_("followed since"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow")
        verbose_name_plural = _("follows")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "content_type", "object_id"], name="follow_once_per_record"),
        ]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="follow_record_idx"),
            models.Index(fields=["user", "company", "-created_at"], name="follow_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.content_type_id}:{self.object_id}"
