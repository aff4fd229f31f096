"""Web-to-lead forms: their configuration, the anti-spam checks of the public page, and the submission that
creates a lead through ``lead_create`` (so assignment rules and scoring apply) with the campaign named by the
link (``utm_campaign`` / ``campaign``) or the form's default.

Spam protection needs no outside service: a honeypot field people never see, a signed timestamp issued with
the form (a submission faster than ``MIN_FILL_SECONDS`` or older than a day is refused), and a per-IP limit
in the cache (``RATE_LIMIT`` submissions per ``RATE_WINDOW_SECONDS`` per form).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from crm.models import (
    LEAD_FORM_FIELDS,
    TICKET_FORM_FIELDS,
    Campaign,
    Lead,
    Source,
    Ticket,
    TicketCategory,
    TouchSource,
    WebForm,
    WebFormKind,
)
from crm.services.leads import lead_create
from crm.services.tickets import ticket_from_web_form
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MIN_FILL_SECONDS = 3
MAX_FORM_AGE_SECONDS = 24 * 3600
RATE_LIMIT = 5
RATE_WINDOW_SECONDS = 600
HONEYPOT_FIELD = "website_url"
_SALT = "crm.webform"
_CONFIG = {
    "name",
    "kind",
    "title",
    "intro",
    "fields",
    "required_fields",
    "source",
    "campaign",
    "ticket_category",
    "success_message",
    "is_active",
}


class SpamRefused(Exception):
    """A submission refused by the spam checks; ``reason`` is ``honeypot``, ``too_fast``, ``expired``,
    ``tampered`` or ``rate_limited``."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------- configuration


def _errors(company_id: int, fields: dict[str, Any]) -> dict[str, list]:
    errors: dict[str, list] = {}
    asked = list(fields.get("fields") or [])
    required = list(fields.get("required_fields") or [])
    kind = fields.get("kind") or WebFormKind.LEAD
    allowed = TICKET_FORM_FIELDS if kind == WebFormKind.TICKET else LEAD_FORM_FIELDS
    unknown = sorted(set(asked) - set(allowed))
    if kind not in WebFormKind.values:
        errors["kind"] = [_("Unknown kind of form.")]
    elif not asked:
        errors["fields"] = [_("Choose at least one field.")]
    elif unknown:
        errors["fields"] = [_("Unknown field: %(names)s") % {"names": ", ".join(unknown)}]
    elif kind == WebFormKind.TICKET and ("subject" not in asked or not {"email", "phone"} & set(asked)):
        errors["fields"] = [_("Ask for the subject, and for the e-mail or the phone: a ticket needs an answer.")]
    elif kind == WebFormKind.LEAD and "name" not in asked and "company_name" not in asked:
        errors["fields"] = [_("Ask for the name or the company name: a lead needs one.")]
    category = fields.get("ticket_category")
    if category is not None and (category.company_id != company_id or not category.is_active):
        errors["ticket_category"] = [_("Unknown category.")]
    if set(required) - set(asked):
        errors["required_fields"] = [_("A required field must be one of the fields asked.")]
    if fields.get("source") not in Source.values:
        errors["source"] = [_("Unknown source.")]
    campaign = fields.get("campaign")
    if campaign is not None and campaign.company_id != company_id:
        errors["campaign"] = [_("Unknown campaign.")]
    for name in ("name", "title"):
        if not str(fields.get(name) or "").strip():
            errors[name] = [_("This field cannot be blank.")]
    return errors


@transaction.atomic
def web_form_create(
    *,
    company: Company,
    by: User | None,
    name: str,
    title: str,
    fields: list[str],
    required_fields: list[str] = (),
    source: str = Source.WEBSITE,
    campaign: Campaign | None = None,
    intro: str = "",
    success_message: str = "",
    is_active: bool = True,
    kind: str = WebFormKind.LEAD,
    ticket_category: TicketCategory | None = None,
) -> WebForm:
    """Create a public form with a fresh random key: a lead form (fields of ``LEAD_FORM_FIELDS``; the name or
    the company name must be asked) or a support form, ``kind="ticket"`` (fields of ``TICKET_FORM_FIELDS``; the
    subject and the e-mail or phone must be asked; tickets go to ``ticket_category``). Publishes nothing."""
    data = {
        "name": (name or "").strip(),
        "kind": kind,
        "ticket_category": ticket_category,
        "title": (title or "").strip(),
        "intro": (intro or "").strip(),
        "fields": list(dict.fromkeys(fields or [])),
        "required_fields": list(dict.fromkeys(required_fields or [])),
        "source": source,
        "campaign": campaign,
        "success_message": (success_message or "").strip(),
        "is_active": is_active,
    }
    errors = _errors(company.pk, data)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return WebForm.objects.create(company=company, **data)
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None


@transaction.atomic
def web_form_update(*, form: WebForm, by: User | None, **fields: Any) -> WebForm:
    """Change a form's configuration (the key stays: published links keep working). Locks the row."""
    if set(fields) - _CONFIG:
        raise TypeError(f"unknown web form fields: {', '.join(sorted(set(fields) - _CONFIG))}")
    form = WebForm.objects.select_for_update(of=("self",)).get(pk=form.pk)
    merged = {name: getattr(form, name) for name in _CONFIG} | fields
    for key in ("name", "title", "intro", "success_message"):
        merged[key] = (merged[key] or "").strip()
    errors = _errors(form.company_id, merged)
    if errors:
        raise ValidationError(errors)
    for name in fields:
        setattr(form, name, merged[name])
    try:
        with transaction.atomic():
            form.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None
    return form


@transaction.atomic
def web_form_delete(*, form: WebForm, by: User | None) -> None:
    """Delete a form: its link stops working; the leads it made stay."""
    WebForm.objects.select_for_update(of=("self",)).get(pk=form.pk).delete()


# ---------------------------------------------------------------- anti-spam


def form_token_issue(form: WebForm, *, now: float | None = None) -> str:
    """The signed timestamp put in the form when it is shown."""
    return signing.dumps({"f": form.pk, "t": int(now if now is not None else time.time())}, salt=_SALT)


def form_token_check(form: WebForm, token: str, *, now: float | None = None) -> None:
    """Refuse (``SpamRefused``) a token not issued for this form, one filled in faster than a person can, or
    one older than a day."""
    now = now if now is not None else time.time()
    try:
        data = signing.loads(token or "", salt=_SALT)
    except signing.BadSignature:
        raise SpamRefused(
            "tampered", _("The form could not be verified. Please reload the page and try again.")
        ) from None
    if not isinstance(data, dict) or data.get("f") != form.pk or not isinstance(data.get("t"), int):
        raise SpamRefused("tampered", _("The form could not be verified. Please reload the page and try again."))
    elapsed = now - data["t"]
    if elapsed < MIN_FILL_SECONDS:
        raise SpamRefused("too_fast", _("That was very fast. Please check your answers and send the form again."))
    if elapsed > MAX_FORM_AGE_SECONDS:
        raise SpamRefused("expired", _("The form has expired. Please reload the page and send it again."))


def rate_limit_hit(form: WebForm, ip: str) -> None:
    """Count a submission from ``ip`` to ``form``; refuse (``SpamRefused``) beyond ``RATE_LIMIT`` in the
    window. The counter lives in the cache (Redis), shared by every web process."""
    key = f"crm:webform:{form.pk}:{ip or 'unknown'}"
    cache.add(key, 0, timeout=RATE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=RATE_WINDOW_SECONDS)
        count = 1
    if count > RATE_LIMIT:
        raise SpamRefused("rate_limited", _("Too many submissions from your network. Please try again later."))


def campaign_for_code(form: WebForm, code: str) -> Campaign | None:
    """The campaign a link names (``utm_campaign`` = its code, any case), else the form's default."""
    code = (code or "").strip()
    if code:
        found = Campaign.objects.filter(company_id=form.company_id, code__iexact=code[:50]).first()
        if found is not None:
            return found
    return form.campaign


@transaction.atomic
def web_form_submit(*, form: WebForm, data: dict[str, Any], campaign_code: str = "") -> Lead | Ticket:
    """What a submission of ``form`` makes (anti-spam checks are the caller's, before this): a lead for a lead
    form (``_lead_submit``), a ticket for a support form (``ticket_from_web_form``: matched to a contact by e-mail
    or phone, channel web, the form's category). Only the form's fields are taken; required ones must be filled
    in. Field errors come back as ``ValidationError``; nothing is written then."""
    if not form.is_active:
        raise ValidationError(_("This form is closed."))
    values = {name: str(data.get(name) or "").strip() for name in form.fields}
    errors = {name: [_("This field is required.")] for name in form.required_fields if not values.get(name)}
    if form.kind == WebFormKind.TICKET:
        if not values.get("subject"):
            errors.setdefault("subject", [_("This field is required.")])
        if not values.get("email") and not values.get("phone"):
            key = "email" if "email" in form.fields else "phone"
            errors.setdefault(key, [_("Give an e-mail address or a phone number so that we can answer.")])
        if errors:
            raise ValidationError(errors)
        return ticket_from_web_form(company=form.company, category=form.ticket_category, **values)
    return _lead_submit(form, values, errors, campaign_code)


def _lead_submit(form: WebForm, values: dict[str, str], errors: dict, campaign_code: str) -> Lead:
    """The lead of a lead form's submission: the phone is validated and normalised by ``lead_create``, which also
    scores and assigns it. Source: the form's; campaign: the link's, else the form's default."""

    if not values.get("name") and not values.get("company_name"):
        key = "name" if "name" in form.fields else "company_name"
        errors.setdefault(key, [_("This field is required.")])
    if errors:
        raise ValidationError(errors)
    return lead_create(
        company=form.company,
        by=None,
        campaign=campaign_for_code(form, campaign_code),
        campaign_source=TouchSource.WEB_FORM,
        source=form.source,
        **values,
    )
