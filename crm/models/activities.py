"""Activities: calls, meetings, tasks and notes on any CRM record (an account, contact, lead or opportunity)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import OwnedModel


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    TASK = "task", _("Task")
    NOTE = "note", _("Note")
    EMAIL = "email", _("E-mail")


# Kinds that count as being in touch with the customer (the 360 page's "last contact")
CONTACT_KINDS = ("call", "meeting", "email")


@audited
class Activity(OwnedModel):
    """Something done or to do with a customer. The owner is who does it; ``due_at`` is when it is due (tasks,
    planned calls and meetings), ``done_at`` when it was done. A note is done when written."""

    kind = models.CharField(_("kind"), max_length=10, choices=ActivityKind.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("details"), blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminder sent at"), null=True, blank=True, editable=False)
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True, blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    outcome = models.CharField(_("outcome"), max_length=255, blank=True)
    # an e-mail sent from the CRM (``crm.services.customer_mail``) or logged: to whom, addresses by commas
    email_to = models.CharField(_("e-mail to"), max_length=1000, blank=True)
    email_cc = models.CharField(_("e-mail cc"), max_length=1000, blank=True)
    # an e-mail logged from a copy sent to the CRM (``crm.services.email_log``): its Message-ID, so a copy
    # delivered twice is logged once
    email_message_id = models.CharField(_("e-mail message id"), max_length=255, blank=True, editable=False)
    account = models.ForeignKey(
        "crm.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activities",
        verbose_name=_("account"),
    )
    contact = models.ForeignKey(
        "crm.Contact",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activities",
        verbose_name=_("contact"),
    )
    lead = models.ForeignKey(
        "crm.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="activities", verbose_name=_("lead")
    )
    opportunity = models.ForeignKey(
        "crm.Opportunity",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
        verbose_name=_("opportunity"),
    )
    ticket = models.ForeignKey(
        "crm.Ticket",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
        verbose_name=_("ticket"),
    )

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ActivityKind.values), name="crm_activity_kind_valid"),
            models.CheckConstraint(
                condition=Q(account__isnull=False)
                | Q(contact__isnull=False)
                | Q(lead__isnull=False)
                | Q(opportunity__isnull=False)
                | Q(ticket__isnull=False),
                name="crm_activity_linked_to_a_record",
            ),
            models.CheckConstraint(
                condition=~Q(kind="note") | Q(done_at__isnull=False), name="crm_activity_note_is_done"
            ),
        ]
        indexes = [
            # "my day": open activities of an owner by due time
            models.Index(
                fields=["company", "owner", "due_at"], condition=Q(done_at__isnull=True), name="crm_activity_open_due"
            ),
            models.Index(fields=["account", "-created_at"], name="crm_activity_account"),
            models.Index(fields=["contact", "-created_at"], name="crm_activity_contact"),
            models.Index(fields=["lead", "-created_at"], name="crm_activity_lead"),
            models.Index(fields=["opportunity", "-created_at"], name="crm_activity_opportunity"),
            models.Index(fields=["company", "-created_at"], name="crm_activity_company_created"),
            # the activity list of a whole company (admins): open ones by due date, done ones latest first
            models.Index(
                fields=["company", "due_at", "id"],
                condition=Q(done_at__isnull=True),
                name="crm_activity_open_due_company",
            ),
            models.Index(
                fields=["company", "-done_at", "-id"],
                condition=Q(done_at__isnull=False),
                name="crm_activity_done_company",
            ),
            # the customer 360 page: a customer's open activities by due time, and its last call, meeting or e-mail
            models.Index(
                fields=["account", "due_at"], condition=Q(done_at__isnull=True), name="crm_activity_account_open"
            ),
            models.Index(
                fields=["contact", "due_at"], condition=Q(done_at__isnull=True), name="crm_activity_contact_open"
            ),
            models.Index(
                fields=["account", "-done_at"],
                condition=Q(kind__in=CONTACT_KINDS, done_at__isnull=False),
                name="crm_activity_account_contacted",
            ),
            models.Index(
                fields=["contact", "-done_at"],
                condition=Q(kind__in=CONTACT_KINDS, done_at__isnull=False),
                name="crm_activity_contact_contacted",
            ),
            models.Index(
                fields=["company", "email_message_id"],
                condition=~Q(email_message_id=""),
                name="crm_activity_email_message",
            ),
            # the reminder sweep: due reminders not sent yet
            models.Index(
                fields=["remind_at"],
                condition=Q(reminded_at__isnull=True, remind_at__isnull=False, done_at__isnull=True),
                name="crm_activity_reminder_due",
            ),
        ]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_done(self) -> bool:
        return self.done_at is not None
