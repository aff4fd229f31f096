"""Customers: accounts (organisations, B2B) and contacts (people, B2C or under an account), their tags and the
custom fields each company defines for them.

Identity and money are guarded by the database: phones are E.164 or empty, emails lower-case, a WeChat unionid
belongs to one live contact per company, a tax ID to one live account, credit limits are never negative.
``search_text`` is a denormalised, trigram-indexed key (names, pinyin, phones, email, WeChat ID) kept by the
services in ``crm.services.customers``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Upper
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.text import E164_PATTERN
from suite.audit import audited
from suite.models import OwnedModel, TenantModel

TAX_ID_PATTERN = r"^[0-9A-Z]{15,20}$"


class LifecycleStage(models.TextChoices):
    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    CHURNED = "churned", _("Churned")


class Source(models.TextChoices):
    """Where a customer or lead came from (also the key of by-source assignment rules)."""

    WEBSITE = "website", _("Website form")
    REFERRAL = "referral", _("Referral")
    EXHIBITION = "exhibition", _("Trade show")
    COLD_CALL = "cold_call", _("Cold call")
    ADVERTISING = "advertising", _("Advertising")
    WECHAT = "wechat", _("WeChat")
    WECOM = "wecom", _("WeCom")
    DOUYIN = "douyin", _("Douyin")
    XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu")
    WEIBO = "weibo", _("Weibo")
    PARTNER = "partner", _("Partner")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    OTHER = "other", _("Other")


class Industry(models.TextChoices):
    MANUFACTURING = "manufacturing", _("Manufacturing")
    RETAIL = "retail", _("Retail and e-commerce")
    FOOD = "food", _("Food and beverage")
    IT = "it", _("IT and software")
    FINANCE = "finance", _("Finance and insurance")
    EDUCATION = "education", _("Education")
    HEALTHCARE = "healthcare", _("Healthcare")
    REAL_ESTATE = "real_estate", _("Real estate and construction")
    LOGISTICS = "logistics", _("Logistics")
    ENERGY = "energy", _("Energy")
    GOVERNMENT = "government", _("Government and public sector")
    SERVICES = "services", _("Professional services")
    OTHER = "other", _("Other")


class CompanySize(models.TextChoices):
    MICRO = "1-9", _("1–9 employees")
    SMALL = "10-49", _("10–49 employees")
    MEDIUM = "50-199", _("50–199 employees")
    LARGE = "200-999", _("200–999 employees")
    ENTERPRISE = "1000+", _("1000+ employees")


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")


class CustomFieldTarget(models.TextChoices):
    ACCOUNT = "account", _("Account")
    CONTACT = "contact", _("Contact")
    LEAD = "lead", _("Lead")
    OPPORTUNITY = "opportunity", _("Opportunity")


@audited
class TagGroup(TenantModel):
    """A group of tags (客户等级, 兴趣 …); in an exclusive group a customer carries at most one tag."""

    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    is_exclusive = models.BooleanField(_("one tag per customer"), default=False)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["sort_order", "name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="crm_taggroup_name_unique")]

    def __str__(self) -> str:
        return self.name


@audited
class Tag(TenantModel):
    """A label on customers (and, later, SCRM followers); company-wide, optionally in a group."""

    group = models.ForeignKey(
        TagGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="tags", verbose_name=_("group")
    )
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    color = models.CharField(_("colour"), max_length=7, blank=True, help_text=_("#rrggbb"))

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["group__sort_order", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "group", "name"], name="crm_tag_name_unique_in_group", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=Q(color="") | Q(color__regex=r"^#[0-9a-fA-F]{6}$"), name="crm_tag_color_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group.name}: {self.name}" if self.group_id else self.name


@audited
class CustomFieldSet(TenantModel):
    """The custom fields a company adds to one kind of record, as a JSON Schema (``type: object``).

    Values live in the record's ``custom`` JSONB column, validated against this schema on every write.
    """

    target = models.CharField(_("applies to"), max_length=20, choices=CustomFieldTarget.choices)
    schema = models.JSONField(_("JSON schema"), default=dict)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("custom field set")
        verbose_name_plural = _("custom field sets")
        ordering = ["target"]
        constraints = [models.UniqueConstraint(fields=["company", "target"], name="crm_customfieldset_one_per_target")]

    def __str__(self) -> str:
        return str(self.get_target_display())


class Customer(OwnedModel):
    """What accounts and contacts share: names, reachability, address, stage, credit, custom fields."""

    name = models.CharField(_("name"), max_length=200, help_text=_("Chinese or primary name"))
    name_en = models.CharField(_("Latin name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("stored in E.164, e.g. +8613812345678"))
    email = models.EmailField(_("email"), max_length=254, blank=True)
    wechat_id = models.CharField(_("WeChat ID"), max_length=64, blank=True)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    district = models.CharField(_("district"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    credit_limit = models.DecimalField(_("credit limit"), max_digits=18, decimal_places=2, default=Decimal("0.00"))
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    search_text = models.TextField(_("search key"), default="", blank=True, editable=False)
    merged_at = models.DateTimeField(_("merged at"), null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.name_en})" if self.name_en else self.name

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None


def _customer_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(condition=Q(credit_limit__gte=0), name=f"{prefix}_credit_limit_not_negative"),
        models.CheckConstraint(condition=Q(phone="") | Q(phone__regex=E164_PATTERN), name=f"{prefix}_phone_e164"),
        models.CheckConstraint(condition=Q(email=Lower("email")), name=f"{prefix}_email_lower_case"),
        models.CheckConstraint(
            condition=Q(lifecycle_stage__in=LifecycleStage.values), name=f"{prefix}_lifecycle_stage_valid"
        ),
        models.CheckConstraint(
            condition=Q(merged_into__isnull=True) | ~Q(merged_into=models.F("pk")),
            name=f"{prefix}_not_merged_into_self",
        ),
        models.CheckConstraint(
            condition=Q(merged_into__isnull=True, merged_at__isnull=True)
            | Q(merged_into__isnull=False, merged_at__isnull=False),
            name=f"{prefix}_merged_at_with_survivor",
        ),
    ]


def _customer_indexes(prefix: str) -> list[models.Index]:
    return [
        GinIndex(fields=["search_text"], opclasses=["gin_trgm_ops"], name=f"{prefix}_search_trgm"),
        GinIndex(fields=["custom"], opclasses=["jsonb_path_ops"], name=f"{prefix}_custom_gin"),
        models.Index(fields=["company", "phone"], condition=~Q(phone=""), name=f"{prefix}_company_phone"),
        models.Index(fields=["company", "email"], condition=~Q(email=""), name=f"{prefix}_company_email"),
        # customer_duplicates_find compares names with iexact, i.e. UPPER(name) = UPPER(%s).
        models.Index(models.F("company"), Upper("name"), name=f"{prefix}_company_upper_name"),
        models.Index(fields=["company", "owner", "-updated_at"], name=f"{prefix}_company_owner"),
        # The list's page in index order: company, newest first, the id as tie-breaker (what the API orders by),
        # with the columns the list's default filters and scopes read, so the page's ids come from an index-only
        # walk (crm.api.rows.TwoStepPage; docs/performance.md "CRM at scale"). Replaces (company, -updated_at).
        models.Index(
            fields=["company", "-updated_at", "id"],
            include=["lifecycle_stage", "merged_into", "owner", "team", "search_text"],
            name=f"{prefix}_company_page",
        ),
    ]


@audited(exclude=["search_text", "pool_warned_at"])
class Account(Customer):
    """An organisation we sell to (B2B customer): 客户."""

    industry = models.CharField(_("industry"), max_length=20, choices=Industry.choices, blank=True)
    size = models.CharField(_("size"), max_length=10, choices=CompanySize.choices, blank=True)
    website = models.URLField(_("website"), blank=True)
    tax_id = models.CharField(
        _("unified social credit code"), max_length=20, blank=True, help_text=_("统一社会信用代码 / tax ID")
    )
    tags = models.ManyToManyField(
        Tag, through="AccountTag", blank=True, related_name="accounts", verbose_name=_("tags")
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subsidiaries",
        verbose_name=_("parent account"),
        help_text=_("The group or head office this company belongs to (上级客户)."),
    )
    pool_team = models.ForeignKey(
        "suite.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("team's pool"),
        help_text=_("An account in the customer pool is in this team's pool (部门公海); empty: the company's."),
        editable=False,
    )
    pool_warned_at = models.DateTimeField(
        _("owner warned of the pool at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When the sweep last told the owner the account goes back soon (once per idle spell)."),
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_duplicates",
        verbose_name=_("merged into"),
        editable=False,
    )

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["-updated_at", "-id"]
        constraints = [
            *_customer_constraints("crm_account"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="crm_account_not_its_own_parent"),
            models.CheckConstraint(
                condition=Q(tax_id="") | Q(tax_id__regex=TAX_ID_PATTERN), name="crm_account_tax_id_format"
            ),
            models.UniqueConstraint(
                fields=["company", "tax_id"],
                condition=~Q(tax_id="") & Q(merged_into__isnull=True),
                name="crm_account_tax_id_unique_live",
            ),
        ]
        indexes = [
            *_customer_indexes("crm_account"),
            # a group's subsidiaries (the 360 page, ?parent=): only the few accounts that have a parent
            models.Index(fields=["parent"], name="crm_account_parent", condition=Q(parent__isnull=False)),
        ]
        # (``pool_team`` has no index of its own: the pool page narrows the company's unowned accounts by it)

    def get_absolute_url(self) -> str:
        return reverse("crm:account-detail", args=[self.pk])


@audited(exclude=["search_text"])
class Contact(Customer):
    """A person: a B2C customer on their own, or someone at an account: 联系人."""

    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="contacts", verbose_name=_("account")
    )
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    department = models.CharField(_("department"), max_length=100, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    unionid = models.CharField(
        _("WeChat unionid"), max_length=64, blank=True, help_text=_("set by SCRM when the person is identified")
    )
    tags = models.ManyToManyField(
        Tag, through="ContactTag", blank=True, related_name="contacts", verbose_name=_("tags")
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_duplicates",
        verbose_name=_("merged into"),
        editable=False,
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-updated_at", "-id"]
        constraints = [
            *_customer_constraints("crm_contact"),
            models.UniqueConstraint(
                fields=["company", "unionid"],
                condition=~Q(unionid="") & Q(merged_into__isnull=True),
                name="crm_contact_unionid_unique_live",
            ),
        ]
        indexes = [
            *_customer_indexes("crm_contact"),
            models.Index(fields=["company", "account"], name="crm_contact_company_account"),
        ]


@audited
class AccountTag(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="account_links")

    class Meta:
        verbose_name = _("account tag")
        verbose_name_plural = _("account tags")
        constraints = [models.UniqueConstraint(fields=["account", "tag"], name="crm_accounttag_unique")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.tag_id}"


@audited
class ContactTag(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="contact_links")

    class Meta:
        verbose_name = _("contact tag")
        verbose_name_plural = _("contact tags")
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="crm_contacttag_unique")]
        # Segments ask "which contacts carry tag T": an index-only scan of (tag, contact).
        indexes = [models.Index(fields=["tag", "contact"], name="crm_contacttag_tag_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.tag_id}"
