"""E-mails logged by a copy sent to the CRM (邮件归档; Salesforce's Email-to-Salesforce, HubSpot's BCC address): a
salesperson writing to a customer from their own mail program puts the company's logging address in Bcc; the mail
gateway posts that copy here, and the e-mail lands on the customer's timeline as if it had been sent from the CRM.

The sender must be an active member of the company (matched by their e-mail address): they own the logged e-mail.
Each recipient (To and Cc, colleagues left out) that is a contact — else an account — the sender may see gets the
e-mail as a done activity of kind *e-mail*; the other addresses are reported, never created as customers. A copy
delivered twice (the same ``Message-ID``) is logged once.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Account, Activity, ActivityKind, Contact
from crm.services.activities import activity_create
from crm.services.locking import advisory_lock
from crm.services.mail import header_text, plain_text
from crm.text import normalize_email
from suite import policy
from suite.models import Company, Membership

MAX_LOGGED_EMAIL_BYTES = 5 * 1024 * 1024
MAX_BODY = 50_000


@dataclass(frozen=True)
class LoggedEmail:
    activities: list[Activity] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # addresses of no contact or account the sender may see
    duplicate: bool = False


def _addresses(message, *names: str) -> list[str]:
    """The valid addresses of these headers, normalised, each once (group syntax and junk left out)."""
    values = [header_text(message, name) for name in names]
    found = []
    for _name, address in getaddresses([value for value in values if value]):
        address = normalize_email(address)
        try:
            validate_email(address)
        except ValidationError:
            continue
        found.append(address)
    return list(dict.fromkeys(found))


def _joined(addresses: list[str], limit: int = 1000) -> str:
    """The addresses for ``email_to``/``email_cc``: as many whole ones as fit in ``limit`` characters."""
    text = ""
    for address in addresses:
        candidate = f"{text}, {address}" if text else address
        if len(candidate) > limit:
            break
        text = candidate
    return text


def _sent_at(message):
    """When it was sent (the ``Date`` header; now when absent, unreadable or in the future)."""
    now = timezone.now()
    try:
        sent = parsedate_to_datetime(header_text(message, "Date"))
    except (TypeError, ValueError, IndexError):
        return now
    if sent is None:
        return now
    if timezone.is_naive(sent):
        sent = sent.replace(tzinfo=dt.UTC)
    return sent if sent <= now + timedelta(minutes=5) else now


def _sender(company: Company, address: str):
    """The active member of ``company`` whose e-mail is ``address`` (``None`` when nobody, or several, are)."""
    members = list(
        get_user_model()
        .objects.filter(
            email__iexact=address,
            is_active=True,
            memberships__company=company,
            memberships__is_active=True,
        )
        .distinct()[:2]
    )
    return members[0] if len(members) == 1 else None


@transaction.atomic
def email_log_inbound(*, company: Company, raw: bytes) -> LoggedEmail:
    """Log a raw RFC 5322 message (a Bcc copy) on the customers it was sent to (module docstring). Field errors
    (``ValidationError``): too large, no sender who is a member, no recipient outside the company, neither
    subject nor text. Serialised per company and Message-ID with an advisory lock; a Message-ID seen before returns
    what was logged then (``duplicate``). Publishes nothing."""
    if len(raw) > MAX_LOGGED_EMAIL_BYTES:
        raise ValidationError({"message": [_("The e-mail is too large.")]})
    message = email.message_from_bytes(raw, policy=email.policy.default)
    _name, address = parseaddr(header_text(message, "From"))
    sender = _sender(company, normalize_email(address)) if address else None
    if sender is None:
        raise ValidationError({"from": [_("The sender is not a member of this company (matched by e-mail address).")]})
    subject = header_text(message, "Subject")[:200]
    body = plain_text(message, limit=MAX_BODY)
    if not subject and not body:
        raise ValidationError({"message": [_("The e-mail has neither a subject nor a text.")]})
    message_id = header_text(message, "Message-ID")[:255]
    if message_id:
        advisory_lock(f"crm.email.log:{company.pk}:{message_id}")
        earlier = list(Activity.objects.filter(company=company, email_message_id=message_id).order_by("pk"))
        if earlier:
            return LoggedEmail(activities=earlier, duplicate=True)
    colleagues = {
        normalize_email(value)
        for value in Membership.objects.filter(company=company).values_list("user__email", flat=True)
        if value
    }
    to, cc = _addresses(message, "To"), _addresses(message, "Cc")
    customers = [address for address in dict.fromkeys([*to, *cc]) if address not in colleagues]
    if not customers:
        raise ValidationError({"to": [_("The e-mail names no recipient outside the company.")]})
    actor = policy.actor_for(sender, company)
    contacts: dict[str, Contact] = {}
    for contact in policy.scope(
        actor, Contact.objects.filter(company=company, email__in=customers, merged_into__isnull=True)
    ).order_by("pk"):
        contacts.setdefault(contact.email, contact)
    accounts: dict[str, Account] = {}
    rest = [address for address in customers if address not in contacts]
    if rest:
        for account in policy.scope(
            actor, Account.objects.filter(company=company, email__in=rest, merged_into__isnull=True)
        ).order_by("pk"):
            accounts.setdefault(account.email, account)
    sent_at = _sent_at(message)
    logged = []
    for address in customers:
        record = contacts.get(address) or accounts.get(address)
        if record is None:
            continue
        logged.append(
            activity_create(
                company=company,
                by=sender,
                kind=ActivityKind.EMAIL,
                subject=subject or body[:80],
                body=body,
                done_at=sent_at,
                email_to=_joined(to),
                email_cc=_joined(cc),
                email_message_id=message_id,
                **{"contact" if isinstance(record, Contact) else "account": record},
            )
        )
    unknown = [address for address in customers if address not in contacts and address not in accounts]
    return LoggedEmail(activities=logged, unknown=unknown)
