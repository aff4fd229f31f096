"""Reply templates (快捷回复 / 话术库): the answers a service team writes once and inserts into a ticket's reply,
with the customer's and the agent's names filled in. Shared ones are the company's (managers and admins keep
them); anyone may keep their own."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

from .tickets import TicketCategory

PLACEHOLDERS = ("customer", "contact", "agent", "ticket", "company")


@audited(exclude=["usage_count", "last_used_at"])
class ReplyTemplate(TenantModel):
    """One prepared answer. ``owner`` empty: shared with the whole company; else one person's own."""

    title = models.CharField(_("title"), max_length=100)
    body = models.TextField(
        _("text"),
        max_length=5000,
        help_text=_("{customer}, {contact}, {agent}, {ticket} and {company} are filled in when it is used."),
    )
    category = models.ForeignKey(
        TicketCategory,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("ticket category"),
        help_text=_("Offered first on tickets of this category."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("empty: shared with the company"),
    )
    usage_count = models.PositiveIntegerField(_("times used"), default=0)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("reply template")
        verbose_name_plural = _("reply templates")
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "owner", "title"], nulls_distinct=False, name="crm_replytemplate_title_unique"
            ),
            models.CheckConstraint(condition=~Q(title=""), name="crm_replytemplate_title_not_empty"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def shared(self) -> bool:
        return self.owner_id is None
