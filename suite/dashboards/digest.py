"""The weekly dashboard digest (issue #7): on Monday from 08:00 company time (``settings.TIME_ZONE``) each active
administrator and manager with an e-mail address receives the KPIs of the dashboards they may open, for the
previous week (Monday–Sunday), as HTML and text, in their language (the one they last used the dashboards in;
default: the site's). Idempotent per member and week (``DashboardDigestSent``): running the task twice, or on
two workers at once, sends one digest."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from suite import dashboards
from suite.models import DashboardDigestSent, DashboardDigestSetting, Membership, Role
from suite.policy import Actor

logger = logging.getLogger(__name__)

DIGEST_ROLES = (Role.ADMIN, Role.MANAGER)
SEND_HOUR = 8


def week_start(moment: datetime.datetime) -> datetime.date:
    local = timezone.localtime(moment)
    return local.date() - datetime.timedelta(days=local.weekday())


def digest_due(moment: datetime.datetime) -> bool:
    """From Monday 08:00 company time on, this week's digest may go out (later runs catch up, once)."""
    local = timezone.localtime(moment)
    return local.weekday() > 0 or local.hour >= SEND_HOUR


def digest_language_remember(membership: Membership, language: str) -> None:
    """Remember the language a member uses the dashboards in, for their digest (a write only when it changed)."""
    language = (language or "").lower()
    if language not in {code for code, _name in settings.LANGUAGES}:
        return
    setting = DashboardDigestSetting.objects.filter(membership=membership).only("language").first()
    if setting is None:
        DashboardDigestSetting.objects.get_or_create(membership=membership, defaults={"language": language})
    elif setting.language != language:
        DashboardDigestSetting.objects.filter(pk=setting.pk).update(language=language, updated_at=timezone.now())


def _sections(actor, date_from: datetime.date, date_to: datetime.date, base_url: str) -> list[dict]:
    sections = []
    for dashboard in dashboards.for_actor(actor):
        filters = dashboards.Filters(company=actor.company, actor=actor, date_from=date_from, date_to=date_to)
        try:
            kpis = dashboards.kpis(dashboard.build(filters))
        except Exception:  # one broken dashboard must not stop the digest of the others
            logger.exception("digest: dashboard %s failed for membership %s", dashboard.key, actor.membership.pk)
            continue
        url = f"{base_url}{reverse('dashboard-detail', kwargs={'key': dashboard.key})}?{filters.querystring()}"
        sections.append({"dashboard": dashboard, "title": str(dashboard.title), "kpis": kpis, "url": url})
    return sections


def _send(membership: Membership, language: str, week: datetime.date, base_url: str) -> list[str]:
    actor = Actor(membership)
    date_from, date_to = week - datetime.timedelta(days=7), week - datetime.timedelta(days=1)
    with translation.override(language):
        sections = _sections(actor, date_from, date_to, base_url)
        if not sections:
            return []
        context = {
            "user": membership.user,
            "company": membership.company,
            "date_from": date_from,
            "date_to": date_to,
            "sections": sections,
            "base_url": base_url,
        }
        subject = _("%(company)s: your dashboards for %(start)s – %(end)s") % {
            "company": membership.company.name,
            "start": date_from.isoformat(),
            "end": date_to.isoformat(),
        }
        text = render_to_string("dashboards/digest.txt", context)
        html = render_to_string("dashboards/digest.html", context)
    mail = EmailMultiAlternatives(subject, text, None, [membership.user.email])
    mail.attach_alternative(html, "text/html")
    mail.send()
    return [section["dashboard"].key for section in sections]


def weekly_digest_send(*, now: datetime.datetime | None = None, base_url: str | None = None) -> int:
    """Send this week's digest to every member who has not had it yet; returns how many were sent."""
    now = now or timezone.now()
    if not digest_due(now):
        return 0
    week = week_start(now)
    base_url = (base_url if base_url is not None else getattr(settings, "TROIKA_PUBLIC_URL", "")).rstrip("/")
    members = (
        Membership.objects.filter(is_active=True, role__in=DIGEST_ROLES, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "company", "digest_setting")
        .order_by("pk")
    )
    already = set(DashboardDigestSent.objects.filter(week=week).values_list("membership_id", flat=True))
    sent = 0
    for membership in members:
        if membership.pk in already:
            continue
        setting = getattr(membership, "digest_setting", None)
        if setting is not None and not setting.enabled:
            continue
        language = (setting.language if setting else "") or settings.LANGUAGE_CODE
        try:
            with transaction.atomic():
                record = DashboardDigestSent.objects.create(
                    membership=membership, company_id=membership.company_id, week=week, language=language
                )
                keys = _send(membership, language, week, base_url)
                if not keys:
                    transaction.set_rollback(True)  # nothing to say: try again next run (a module may come on)
                    continue
                record.dashboards = keys
                record.save(update_fields=["dashboards"])
        except IntegrityError:  # another run sent it meanwhile
            continue
        sent += 1
    return sent
