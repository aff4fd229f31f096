"""E-mail a quote to the customer: the PDF attached, the quote marked sent, a note on the deal — all or nothing.

The mail goes out inside the transaction that marks the quote sent: a mail server that refuses it (or cannot be
reached) rolls the quote and the note back, so "sent" in the CRM means the customer's server took the mail."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from crm.errors import CrmConflict
from crm.models import ActivityKind, Quote, QuoteState
from crm.quote_pdf import render_quote_pdf
from crm.services.activities import activity_create
from crm.services.quotes import quote_send

User = get_user_model()
MAX_RECIPIENTS = 10


class QuoteMailError(CrmConflict):
    """The mail server did not take the mail; nothing was changed."""

    code = "mail_refused"


def _addresses(raw: str, *, field: str, errors: dict, required: bool) -> list[str]:
    addresses = [part.strip() for part in raw.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    if required and not addresses:
        errors[field] = [_("Give at least one e-mail address.")]
    elif len(addresses) > MAX_RECIPIENTS:
        errors[field] = [_("At most %(count)d addresses.") % {"count": MAX_RECIPIENTS}]
    else:
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            errors[field] = [_("Not an e-mail address: %(addresses)s") % {"addresses": ", ".join(bad)}]
    return addresses


@transaction.atomic
def quote_email(*, quote: Quote, by: User, to: str, subject: str, message: str, cc: str = "") -> Quote:
    """Send ``quote`` as a PDF to ``to`` (and ``cc``; addresses separated by commas), reply-to the sender.
    A draft quote becomes sent; a sent one may be sent again (a reminder, another person); an expired,
    accepted or rejected one is refused (``quote_send``'s rules). Field errors as ``ValidationError``; a mail
    server's refusal as ``QuoteMailError`` — in both cases nothing changes."""
    errors: dict[str, list] = {}
    recipients = _addresses(to, field="to", errors=errors, required=True)
    copies = _addresses(cc, field="cc", errors=errors, required=False)
    subject = " ".join((subject or "").split())
    if not subject:
        errors["subject"] = [_("This field is required.")]
    elif len(subject) > 200:
        errors["subject"] = [_("At most 200 characters.")]
    if len(message or "") > 10_000:
        errors["message"] = [_("At most 10,000 characters.")]
    if errors:
        raise ValidationError(errors)
    quote = quote_send(quote=quote, by=by)
    if quote.state != QuoteState.SENT:  # quote_send refuses every other state; this is a guard, not a path
        raise QuoteMailError(_("Only a draft or sent quote can be e-mailed."))
    activity_create(
        company=quote.company,
        by=by,
        kind=ActivityKind.NOTE,
        opportunity=quote.opportunity,
        subject=(
            _("Quote %(number)s e-mailed to %(to)s") % {"number": quote.display_number, "to": ", ".join(recipients)}
        )[:200],
        body=f"{subject}\n\n{message or ''}".strip(),
    )
    mail = EmailMessage(
        subject=subject,
        body=message or "",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        cc=copies,
        reply_to=[by.email] if getattr(by, "email", "") else None,
    )
    mail.attach(f"{quote.display_number}.pdf", render_quote_pdf(quote), "application/pdf")
    try:
        mail.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise QuoteMailError(
            _("The mail server did not take the e-mail (%(error)s); the quote was not marked sent.") % {"error": exc}
        ) from exc
    return quote
