"""The customer pool (客户公海): accounts nobody owns, which any salesperson may claim.

An account goes to the pool when its owner releases it or — with the company's ``PoolRule`` active — when its
owner has not followed it up for the rule's days (the beat sweep, ``crm.services.pool``). A salesperson claims it
back from the pool up to the rule's limit of accounts held; the one who let it go waits the rule's days before
taking it again (no parking an account by releasing and re-claiming it). Every move is a ``PoolMove``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

from .customers import Account, LifecycleStage


def default_pool_stages() -> list[str]:
    return [LifecycleStage.LEAD, LifecycleStage.PROSPECT]


@audited
class PoolRule(TenantModel):
    """How a company's customer pool works: one per company, edited by its admins."""

    is_active = models.BooleanField(
        _("return idle accounts to the pool"),
        default=False,
        help_text=_("Accounts without follow-up for the days below go back to the pool, every hour."),
    )
    idle_days = models.PositiveSmallIntegerField(
        _("days without follow-up"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    stages = ArrayField(
        models.CharField(max_length=20, choices=LifecycleStage.choices),
        default=default_pool_stages,
        verbose_name=_("lifecycle stages that go back"),
        help_text=_("Customers who bought usually stay with their owner."),
    )
    max_owned = models.PositiveIntegerField(
        _("most accounts one salesperson holds"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Claims beyond it are refused; empty: no limit."),
    )
    max_claims_per_day = models.PositiveSmallIntegerField(
        _("most claims per salesperson and day"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("So nobody empties the pool in one morning; empty: no limit."),
    )
    warn_days = models.PositiveSmallIntegerField(
        _("days' warning to the owner"),
        default=3,
        validators=[MaxValueValidator(60)],
        help_text=_("The owner is notified this many days before an account goes back; 0: no notification."),
    )
    by_team = models.BooleanField(
        _("each team keeps its own pool"),
        default=False,
        help_text=_(
            "An account let go stays in its team's pool (部门公海): the team's people see and claim it, admins see "
            "every pool. Off: one pool for the whole company."
        ),
    )
    reclaim_after_days = models.PositiveSmallIntegerField(
        _("days before a previous owner may claim it again"), default=7, validators=[MaxValueValidator(365)]
    )

    class Meta:
        verbose_name = _("customer pool rule")
        verbose_name_plural = _("customer pool rules")
        constraints = [
            models.UniqueConstraint(fields=["company"], name="crm_poolrule_one_per_company"),
            models.CheckConstraint(condition=Q(idle_days__gte=1), name="crm_poolrule_idle_days_positive"),
            models.CheckConstraint(condition=Q(warn_days__lt=F("idle_days")), name="crm_poolrule_warn_before_idle"),
        ]

    def __str__(self) -> str:
        return str(_("Customer pool rule"))

    def clean(self) -> None:
        if self.warn_days is not None and self.idle_days is not None and self.warn_days >= self.idle_days:
            raise ValidationError({"warn_days": _("The warning comes before the days without follow-up are over.")})


class PoolAccount(Account):
    """An account as the customer pool shows it: its own policy (every salesperson of the company sees the
    accounts nobody owns, without their contact details) on the same table."""

    class Meta:
        proxy = True
        verbose_name = _("pool account")
        verbose_name_plural = _("pool accounts")


class PoolMoveKind(models.TextChoices):
    RELEASED = "released", _("Released to the pool")
    CLAIMED = "claimed", _("Claimed")
    ASSIGNED = "assigned", _("Assigned from the pool")


class PoolMoveReason(models.TextChoices):
    MANUAL = "manual", _("By hand")
    IDLE = "idle", _("No follow-up")


class PoolMove(TenantModel):
    """One move of an account into or out of the pool (a log: written once, never changed)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="pool_moves", verbose_name=_("account"))
    kind = models.CharField(_("move"), max_length=10, choices=PoolMoveKind.choices)
    reason = models.CharField(_("reason"), max_length=10, choices=PoolMoveReason.choices, default=PoolMoveReason.MANUAL)
    note = models.CharField(_("note"), max_length=200, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("empty: the pool's rule"),
    )
    previous_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("previous owner"),
    )
    new_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("new owner"),
    )

    class Meta:
        verbose_name = _("pool move")
        verbose_name_plural = _("pool moves")
        indexes = [models.Index(fields=["account", "-created_at"], name="crm_poolmove_account_latest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.account_id}"
