"""What the CRM's e-mails share: for outgoing ones (a quote to the customer, a salesperson's e-mail to a contact)
the address lists and fields checked alike and one error for a mail server that does not take the mail; for
inbound ones (a ticket by e-mail, an e-mail logged by BCC) reading a parsed message's headers and text."""

from __future__ import annotations

import smtplib

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.utils.html import strip_tags
from django.utils.translation import gettext as _

from crm.errors import CrmConflict

MAX_RECIPIENTS = 10
MAX_MESSAGE = 10_000


class MailRefused(CrmConflict):
    """The mail server did not take the mail; nothing was changed."""

    code = "mail_refused"


def addresses_clean(
    raw: str, *, field: str, errors: dict, required: bool = False, maximum: int | None = MAX_RECIPIENTS
) -> list[str]:
    """The addresses in ``raw`` (separated by commas, semicolons or lines), at most ``maximum`` of them (``None``:
    any number, e.g. those of an e-mail logged as it was sent); a problem goes into ``errors[field]``."""
    addresses = [part.strip() for part in raw.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    if required and not addresses:
        errors[field] = [_("Give at least one e-mail address.")]
    elif maximum is not None and len(addresses) > maximum:
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


def mail_fields_clean(
    *, to: str, cc: str, subject: str, message: str, message_required: bool = False
) -> tuple[list[str], list[str], str]:
    """The recipients, the copies and the subject of an e-mail, checked: addresses separated by commas or
    semicolons (at least one to, at most 10 each), a subject of at most 200 characters, a message of at most
    10,000. Every problem at once, as field errors (``ValidationError``)."""
    errors: dict[str, list] = {}
    recipients = addresses_clean(to or "", field="to", errors=errors, required=True)
    copies = addresses_clean(cc or "", field="cc", errors=errors, required=False)
    subject = " ".join((subject or "").split())
    if not subject:
        errors["subject"] = [_("This field is required.")]
    elif len(subject) > 200:
        errors["subject"] = [_("At most 200 characters.")]
    if message_required and not (message or "").strip():
        errors["message"] = [_("This field is required.")]
    elif len(message or "") > MAX_MESSAGE:
        errors["message"] = [_("At most 10,000 characters.")]
    if errors:
        raise ValidationError(errors)
    return recipients, copies, subject


def mail_send(mail: EmailMessage, *, refused: str) -> None:
    """Hand ``mail`` to the mail server now; a refusal (or no server) raises ``MailRefused`` with ``refused``
    (a message with ``%(error)s``), so the caller's transaction rolls back."""
    try:
        mail.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise MailRefused(refused % {"error": exc}) from exc


def header_text(message, name: str) -> str:
    """A parsed message's header as one line of text ("" when absent or undecodable)."""
    try:
        value = message.get(name)
    except (TypeError, ValueError, IndexError):  # a header the parser cannot decode
        return ""
    return " ".join(str(value or "").split())


def plain_text(message, *, limit: int) -> str:
    """A parsed message's text: its plain part, else its HTML part without tags; at most ``limit`` characters."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        content = strip_tags(content)
    return content.strip()[:limit]
