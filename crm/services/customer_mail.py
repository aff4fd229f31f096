"""E-mail a customer from the CRM (a contact, an account, a deal's or a lead's person): the mail goes out with
the salesperson as reply-to, and the e-mail is on the record's timeline as a done activity of kind *e-mail* — all
or nothing, as for quotes: a mail server that refuses it rolls the activity back, so an e-mail on the timeline is
one the mail server took."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Account, Activity, ActivityKind, Contact, Lead, Opportunity, Ticket
from crm.services.activities import activity_create
from crm.services.mail import mail_fields_clean, mail_send
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Record = Account | Contact | Lead | Opportunity | Ticket


def _links(record: Record) -> dict:
    """The activity's links for ``record``: the record itself (``activity_create`` fills the customer in)."""
    name = {Account: "account", Contact: "contact", Lead: "lead", Opportunity: "opportunity", Ticket: "ticket"}[
        type(record)
    ]
    return {name: record}


def address_of(record: Record) -> str:
    """Where an e-mail about ``record`` goes by default: the person's address — a contact's, a lead's, a deal's
    contact's, a ticket's requester's — else the account's."""
    if isinstance(record, Contact | Lead):
        return record.email
    if isinstance(record, Ticket):
        return record.requester_email or (record.contact.email if record.contact_id else "")
    if isinstance(record, Opportunity):
        if record.contact_id and record.contact.email:
            return record.contact.email
        return record.account.email if record.account_id else ""
    return record.email


@transaction.atomic
def customer_email(
    *,
    company: Company,
    by: User,
    record: Record,
    to: str,
    subject: str,
    message: str,
    cc: str = "",
) -> Activity:
    """Send an e-mail about ``record`` (an account, contact, lead, deal or ticket of ``company``) to ``to`` (and
    ``cc``; addresses separated by commas, at most 10 each), from the company's sender address with ``by`` as
    reply-to, and log it on the record as a done e-mail activity owned by ``by`` (its customer's 360 page and
    "last contact" count it). Field errors as ``ValidationError`` (a message is required); a mail server's
    refusal as ``crm.services.mail.MailRefused`` — in both cases nothing is logged. The caller checks that ``by``
    may see ``record`` and add activities. Publishes nothing."""
    message = (message or "").replace("\r\n", "\n")  # a browser's form sends CRLF line breaks
    recipients, copies, subject = mail_fields_clean(
        to=to, cc=cc, subject=subject, message=message, message_required=True
    )
    activity = activity_create(
        company=company,
        by=by,
        kind=ActivityKind.EMAIL,
        subject=subject,
        body=message.strip(),
        done_at=timezone.now(),
        email_to=", ".join(recipients),
        email_cc=", ".join(copies),
        **_links(record),
    )
    mail = EmailMessage(
        subject=subject,
        body=message.strip(),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        cc=copies,
        reply_to=[by.email] if getattr(by, "email", "") else None,
    )
    mail_send(mail, refused=_("The mail server did not take the e-mail (%(error)s); nothing was logged."))
    return activity
