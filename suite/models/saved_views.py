"""Saved list views (我的视图): a list's filters, search and sort kept under a name, private or shared.

A saved view is a person's preference, not a business record: it stores a query string, never rows. Opening it
runs the list as usual, so the policy layer decides what it shows; a shared view shows each colleague their own
scope of records.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .tenancy import Company


class SavedView(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", verbose_name=_("company"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("owner")
    )
    # The list's URL name (``crm:account-list``); only lists registered in ``suite.ui.saved_views`` are accepted.
    list_key = models.CharField(_("list"), max_length=60)
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filters"), max_length=1000, blank=True)
    shared = models.BooleanField(
        _("shared with the company"), default=False, help_text=_("Everyone in the company sees it in their views.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "company", "list_key", "name"], name="saved_view_name_unique"),
            models.CheckConstraint(condition=~Q(name=""), name="saved_view_has_name"),
        ]
        indexes = [models.Index(fields=["company", "list_key"], name="saved_view_list_idx")]

    def __str__(self) -> str:
        return self.name


class DefaultView(models.Model):
    """The view a person's list opens with when they come to it without filters (one per person and list)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", verbose_name=_("company"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    list_key = models.CharField(_("list"), max_length=60)
    view = models.ForeignKey(SavedView, on_delete=models.CASCADE, related_name="+", verbose_name=_("saved view"))

    class Meta:
        verbose_name = _("default view")
        verbose_name_plural = _("default views")
        constraints = [
            models.UniqueConstraint(fields=["user", "company", "list_key"], name="default_view_one_per_list"),
        ]

    def __str__(self) -> str:
        return f"{self.list_key}: {self.view_id}"
