"""Login and two-factor writes: password checks that hold under concurrent attempts, TOTP devices, backup codes.

Every password check of the suite (UI login; the admin and API logins are routed here) goes through
``login_check``: it takes a PostgreSQL advisory lock per username for the duration of the check, so concurrent
guesses for one account are counted one after another by django-axes and no more than
``AXES_FAILURE_LIMIT`` wrong passwords are ever tried before the account is locked — even when an attacker
fires them all at the same moment.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db import connection, transaction
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from suite.models import Role

BACKUP_CODE_COUNT = 10
TWO_FACTOR_ROLES = frozenset({Role.ADMIN, Role.FINANCE})


@dataclass(frozen=True)
class LoginResult:
    user: object | None
    locked_out: bool


def resolve_username(identifier: str) -> str:
    """The username for a login by username or by email (the email of exactly one account, any case)."""
    identifier = (identifier or "").strip()
    if "@" not in identifier:
        return identifier
    user_model = get_user_model()
    if user_model.objects.filter(**{user_model.USERNAME_FIELD: identifier}).exists():
        return identifier
    matches = list(
        user_model.objects.filter(email__iexact=identifier).values_list(user_model.USERNAME_FIELD, flat=True)[:2]
    )
    return matches[0] if len(matches) == 1 else identifier


def login_check(*, request, identifier: str, password: str) -> LoginResult:
    """Check a username-or-email and password, counted by django-axes.

    Locks: a transaction-scoped advisory lock on the username, so attempts for one account are checked one
    at a time (attempts for different accounts run in parallel). Publishes nothing. The caller logs the user
    in (or asks for the second factor).
    """
    username = resolve_username(identifier)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"troika-login:{username.lower()}"])
        user = authenticate(request, username=username, password=password)
    return LoginResult(user=user, locked_out=bool(getattr(request, "axes_locked_out", False)))


def second_factor_failed(*, request, user) -> bool:
    """Count a wrong one-time code as a failed login with django-axes; ``True`` when that locked the account."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"troika-login:{user.get_username().lower()}"]
            )
        user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)
    return bool(getattr(request, "axes_locked_out", False))


def two_factor_required(actor) -> bool:
    """Whether ``actor`` must log in with a second factor: their company requires it for their role."""
    return bool(actor and actor.company.require_2fa and actor.role in TWO_FACTOR_ROLES)


def has_two_factor(user) -> bool:
    return next(devices_for_user(user, confirmed=True), None) is not None


def confirmed_totp_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


@transaction.atomic
def totp_device_start(*, user) -> TOTPDevice:
    """A new, unconfirmed authenticator for ``user`` (earlier unconfirmed ones are dropped).

    It only counts once confirmed with a code from the app (``totp_device_confirm``). Publishes nothing."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


@transaction.atomic
def totp_device_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm ``device`` with a code the authenticator app shows; replaces the user's earlier authenticator.

    Locks the device row (django-otp's throttling counts the failures). Returns whether the code was right."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
    if not device.verify_token((token or "").strip().replace(" ", "")):
        return False
    TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


@transaction.atomic
def backup_codes_issue(*, user) -> list[str]:
    """Replace ``user``'s backup codes with ``BACKUP_CODE_COUNT`` new single-use ones, returned once.

    Publishes nothing."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name="backup", defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def verify_second_factor(*, user, token: str):
    """The device (authenticator or backup code) that accepts ``token``, or ``None``.

    Each device is locked while it checks (django-otp), so one code cannot be used twice concurrently; a backup
    code is used up."""
    from django_otp import verify_token

    token = (token or "").strip().replace(" ", "")
    if not token:
        return None
    for device in list(devices_for_user(user, confirmed=True)):
        verified = verify_token(user, device.persistent_id, token)
        if verified is not None:
            return verified
    return None


def qr_code_data_uri(text: str) -> str:
    """An SVG QR code of ``text`` as a ``data:`` URI (rendered locally; no external service sees the secret)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def language_remember(*, user, language: str) -> None:
    """Remember ``language`` as the one ``user`` uses the site in, on each of their memberships: notifications to
    them are written in it (``suite.services.notifications``). Called where a person logs in and where they switch
    the language; not audited (a preference). One UPDATE, none when it is already known."""
    from django.conf import settings

    from suite.models import Membership

    if language and language in dict(settings.LANGUAGES):
        Membership.objects.filter(user=user).exclude(language=language).update(language=language)
