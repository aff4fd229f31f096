"""Service tickets (工单): categories, SLA policies per priority, the ticket with its SLA timers, its thread of
customer replies and internal notes, the satisfaction survey (CSAT) sent after resolution, and the per-company
tokens that let a mail gateway post inbound e-mail.

A ticket's ``owner`` is the customer's owner (the salesperson responsible for the account or contact, so the
policy layer's "own" scope shows a salesperson their customers' tickets); ``team`` is the service team working
it and ``assigned_agent`` the agent. Timers are wall-clock minutes from the moment the ticket was opened.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import OwnedModel, Team, TenantModel


class TicketPriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


PRIORITY_ORDER = (TicketPriority.LOW, TicketPriority.NORMAL, TicketPriority.HIGH, TicketPriority.URGENT)


class TicketStatus(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Waiting for customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


ACTIVE_STATUSES = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)


class TicketChannel(models.TextChoices):
    WEB = "web", _("Web form")
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    SOCIAL = "social", _("Social (SCRM)")


@audited
class TicketCategory(TenantModel):
    """What a ticket is about (installation, billing, complaint …); new tickets of a category go to its team."""

    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    default_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("default team")
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("ticket category")
        verbose_name_plural = _("ticket categories")
        ordering = ["sort_order", "name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="crm_ticketcategory_name_unique")]

    def __str__(self) -> str:
        return self.name


@audited
class SlaPolicy(TenantModel):
    """Service level targets of one priority in one company: first response and resolution, in minutes."""

    priority = models.CharField(_("priority"), max_length=10, choices=TicketPriority.choices)
    first_response_minutes = models.PositiveIntegerField(_("first response within (minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution within (minutes)"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["priority"]
        constraints = [
            models.UniqueConstraint(fields=["company", "priority"], name="crm_slapolicy_one_per_priority"),
            models.CheckConstraint(condition=Q(priority__in=TicketPriority.values), name="crm_slapolicy_priority"),
            models.CheckConstraint(condition=Q(first_response_minutes__gt=0), name="crm_slapolicy_first_response_pos"),
            models.CheckConstraint(
                condition=Q(resolution_minutes__gte=models.F("first_response_minutes")),
                name="crm_slapolicy_resolution_after_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_priority_display()}: {self.first_response_minutes} / {self.resolution_minutes} min"


@audited
class Ticket(OwnedModel):
    """A customer's service request, numbered per company (``#123``), worked by an agent against SLA timers."""

    number = models.PositiveIntegerField(_("number"), editable=False)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    account = models.ForeignKey(
        "crm.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("account"),
    )
    contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("contact"),
    )
    requester_name = models.CharField(_("requester name"), max_length=200, blank=True)
    requester_email = models.EmailField(_("requester e-mail"), max_length=254, blank=True)
    channel = models.CharField(_("channel"), max_length=10, choices=TicketChannel.choices, default=TicketChannel.WEB)
    category = models.ForeignKey(
        TicketCategory,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
        verbose_name=_("category"),
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=TicketPriority.choices, default=TicketPriority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW, editable=False
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned agent"),
    )
    sla_policy = models.ForeignKey(
        SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("SLA policy")
    )
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True, editable=False)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True, editable=False)
    first_responded_at = models.DateTimeField(_("first responded at"), null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    first_response_breached_at = models.DateTimeField(
        _("first response SLA breached at"), null=True, blank=True, editable=False
    )
    resolution_breached_at = models.DateTimeField(
        _("resolution SLA breached at"), null=True, blank=True, editable=False
    )
    escalated = models.BooleanField(_("escalated"), default=False, editable=False)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True, editable=False)
    escalation_reason = models.CharField(_("why escalated"), max_length=255, blank=True, editable=False)
    source_message_id = models.CharField(_("e-mail Message-ID"), max_length=255, blank=True, editable=False)
    # The delivered ERP lot the complaint is about (closed loop, flow 5): ERP opens a quality non-conformance on it.
    erp_lot_id = models.BigIntegerField(_("ERP lot id"), null=True, blank=True, editable=False)
    erp_lot_code = models.CharField(_("lot"), max_length=60, blank=True, editable=False)
    erp_product_id = models.BigIntegerField(_("ERP product id"), null=True, blank=True, editable=False)
    follow_up_activity = models.ForeignKey(
        "crm.Activity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("follow-up visit"),
        editable=False,
    )

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="crm_ticket_number_unique"),
            models.UniqueConstraint(
                fields=["company", "source_message_id"],
                condition=~Q(source_message_id=""),
                name="crm_ticket_source_message_unique",
            ),
            models.CheckConstraint(condition=Q(status__in=TicketStatus.values), name="crm_ticket_status_valid"),
            models.CheckConstraint(condition=Q(priority__in=TicketPriority.values), name="crm_ticket_priority_valid"),
            models.CheckConstraint(condition=Q(channel__in=TicketChannel.values), name="crm_ticket_channel_valid"),
            models.CheckConstraint(
                condition=~Q(status="resolved") | Q(resolved_at__isnull=False), name="crm_ticket_resolved_has_time"
            ),
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(closed_at__isnull=True)),
                name="crm_ticket_closed_at_iff_closed",
            ),
            models.CheckConstraint(condition=Q(number__gt=0), name="crm_ticket_number_positive"),
        ]
        indexes = [
            models.Index(fields=["company", "status", "-created_at"], name="crm_ticket_company_status"),
            models.Index(fields=["company", "assigned_agent", "status"], name="crm_ticket_agent_status"),
            models.Index(fields=["company", "owner", "status"], name="crm_ticket_owner_status"),
            models.Index(fields=["account", "-created_at"], name="crm_ticket_account"),
            models.Index(fields=["contact", "-created_at"], name="crm_ticket_contact"),
            models.Index(fields=["company", "-created_at"], name="crm_ticket_company_created"),
            # tickets_check_sla: active tickets by due time
            models.Index(
                fields=["first_response_due_at"],
                condition=Q(first_responded_at__isnull=True, first_response_breached_at__isnull=True),
                name="crm_ticket_response_due",
            ),
            models.Index(
                fields=["resolution_due_at"],
                condition=Q(resolved_at__isnull=True, resolution_breached_at__isnull=True),
                name="crm_ticket_resolution_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    def get_absolute_url(self) -> str:
        return reverse("crm:ticket-detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def sla_breached(self) -> bool:
        return bool(self.first_response_breached_at or self.resolution_breached_at)


class TicketMessageKind(models.TextChoices):
    REPLY = "reply", _("Reply to customer")
    NOTE = "note", _("Internal note")
    INBOUND = "inbound", _("From customer")


@audited
class TicketMessage(TenantModel):
    """One entry of a ticket's thread: a reply to the customer, an internal note (never shown to the customer),
    or a message from the customer (e.g. an inbound e-mail)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages", verbose_name=_("ticket"))
    kind = models.CharField(_("kind"), max_length=10, choices=TicketMessageKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("author"),
    )
    author_name = models.CharField(_("author name"), max_length=200, blank=True)
    author_email = models.EmailField(_("author e-mail"), max_length=254, blank=True)
    body = models.TextField(_("message"))
    email_message_id = models.CharField(_("e-mail Message-ID"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("ticket message")
        verbose_name_plural = _("ticket messages")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=TicketMessageKind.values), name="crm_ticketmessage_kind"),
            models.UniqueConstraint(
                fields=["company", "email_message_id"],
                condition=~Q(email_message_id=""),
                name="crm_ticketmessage_email_unique",
            ),
        ]
        indexes = [models.Index(fields=["ticket", "created_at"], name="crm_ticketmessage_ticket")]

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.get_kind_display()}"


@audited
class CsatSurvey(TenantModel):
    """The satisfaction survey sent when a ticket is resolved: a single-use link token, a score 1–5, a comment."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="csat", verbose_name=_("ticket"))
    token = models.CharField(_("token"), max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    submitted_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=1, score__lte=5), name="crm_csat_score_1_to_5"
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True, submitted_at__isnull=True)
                | Q(score__isnull=False, submitted_at__isnull=False),
                name="crm_csat_score_iff_submitted",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.score or '—'}"


@audited(exclude=["token_hash", "last_used_at"])
class TicketInboundToken(TenantModel):
    """A secret a mail gateway sends with inbound e-mail (``X-Troika-Inbound-Token``); it names the company the
    mail belongs to. Stored hashed (SHA-256), shown once when issued."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )

    class Meta:
        verbose_name = _("inbound e-mail token")
        verbose_name_plural = _("inbound e-mail tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
