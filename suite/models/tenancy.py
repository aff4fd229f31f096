"""Companies (tenants), memberships with a role per company, and teams.

Roles live on ``Membership`` rather than in Django groups because a person can be ``sales`` in one company and
``admin`` in another; groups are global (docs/decisions.md).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from suite.audit import audited


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Manager")
    SALES = "sales", _("Sales")
    SERVICE = "service", _("Service")
    MARKETING = "marketing", _("Marketing")
    FINANCE = "finance", _("Finance")
    WAREHOUSE = "warehouse", _("Warehouse")
    PRODUCTION = "production", _("Production")
    HR = "hr", _("Human resources")
    PAYROLL = "payroll", _("Payroll")


class Module(models.TextChoices):
    CRM = "crm", _("CRM")
    SCRM = "scrm", _("SCRM")
    ERP_FINANCE = "erp_finance", _("ERP finance")
    ERP_SUPPLY = "erp_supply", _("ERP supply chain")
    ERP_PRODUCTION = "erp_production", _("ERP production")
    ERP_HR = "erp_hr", _("ERP human resources")


@audited
class Company(models.Model):
    """A tenant: every business record belongs to exactly one company."""

    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    code = models.SlugField(_("code"), max_length=50, unique=True)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    require_2fa = models.BooleanField(_("require two-factor login for admins and finance"), default=False)
    enabled_modules = models.JSONField(_("enabled modules"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


@audited
class Team(models.Model):
    """A sales team or a department, with a manager; teams can nest."""

    class Kind(models.TextChoices):
        SALES = "sales", _("Sales team")
        SERVICE = "service", _("Service team")
        DEPARTMENT = "department", _("Department")

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="teams", verbose_name=_("company"))
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.SALES)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children", verbose_name=_("parent")
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
        verbose_name=_("manager"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="team_name_unique_per_company")]

    def __str__(self) -> str:
        return self.name


@audited(exclude=["language"])
class Membership(models.Model):
    """A user's place in one company: the role there and the teams they belong to."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("company")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    teams = models.ManyToManyField(Team, blank=True, related_name="memberships", verbose_name=_("teams"))
    is_active = models.BooleanField(_("active"), default=True)
    # The language the member last logged in with or switched to (``suite.auth.services.language_remember``):
    # notifications to them are written in it (``suite.services.notifications``). Empty: not known yet.
    language = models.CharField(_("language"), max_length=10, blank=True, default="", db_default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["company", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "company"], name="one_membership_per_company")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.get_role_display()})"


class TenantModel(models.Model):
    """Base of every business record: it belongs to one company and knows when it changed."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class OwnedModel(TenantModel):
    """A business record with an owner and a team: the policy layer scopes it own / team / company."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )

    class Meta:
        abstract = True
