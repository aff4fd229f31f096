"""E-mail a quote to the customer: the PDF attached, the quote marked sent, the e-mail on the deal's timeline — all
or nothing.

The mail goes out inside the transaction that marks the quote sent: a mail server that refuses it (or cannot be
reached) rolls the quote and the note back, so "sent" in the CRM means the customer's server took the mail."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import CrmConflict
from crm.models import ActivityKind, Quote, QuoteState
from crm.quote_pdf import render_quote_pdf
from crm.services.activities import activity_create
from crm.services.mail import MailRefused, mail_fields_clean, mail_send
from crm.services.quotes import quote_send

User = get_user_model()

# kept under its old name: the API and callers catch it
QuoteMailError = MailRefused


@transaction.atomic
def quote_email(*, quote: Quote, by: User, to: str, subject: str, message: str, cc: str = "") -> Quote:
    """Send ``quote`` as a PDF to ``to`` (and ``cc``; addresses separated by commas), reply-to the sender.
    A draft quote becomes sent; a sent one may be sent again (a reminder, another person); an expired,
    accepted or rejected one is refused (``quote_send``'s rules). Field errors as ``ValidationError``; a mail
    server's refusal as ``QuoteMailError`` — in both cases nothing changes."""
    recipients, copies, subject = mail_fields_clean(to=to, cc=cc, subject=subject, message=message)
    quote = quote_send(quote=quote, by=by)
    if quote.state != QuoteState.SENT:  # quote_send refuses every other state; this is a guard, not a path
        raise CrmConflict(_("Only a draft or sent quote can be e-mailed."))
    activity_create(  # an e-mail on the deal's timeline: it counts as being in touch with the customer
        company=quote.company,
        by=by,
        kind=ActivityKind.EMAIL,
        opportunity=quote.opportunity,
        subject=(
            _("Quote %(number)s e-mailed to %(to)s") % {"number": quote.display_number, "to": ", ".join(recipients)}
        )[:200],
        body=f"{subject}\n\n{message or ''}".strip(),
        done_at=timezone.now(),
        email_to=", ".join(recipients),
        email_cc=", ".join(copies),
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
    mail_send(mail, refused=_("The mail server did not take the e-mail (%(error)s); the quote was not marked sent."))
    return quote
