"""Communities (社群): groups, their members and posts/Q&A; WeCom customer-group callbacks
(``change_external_chat``) applied to them.

Members that are customers are linked to their ``SocialIdentity`` on the community's platform, which links
them to the CRM customer it resolved to. Join/leave history is a log (``CommunityMemberChange``) keyed on the
platform event, so a callback WeCom retries (or a delivery re-run) changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from scrm.models import (
    Channel,
    Community,
    CommunityKind,
    CommunityMember,
    CommunityMemberChange,
    CommunityPost,
    SocialIdentity,
)
from suite.models import Company, Membership

COMMUNITY_FIELDS = frozenset({"name", "kind", "channel", "external_id", "owner", "notice", "owner_staff_id"})


def lock_community(pk: int) -> Community:
    return Community.objects.select_for_update(of=("self",)).get(pk=pk)


def _external_member(member_id: str) -> bool:
    """WeCom external user ids start with ``wm`` (customers) or ``wo`` (WeChat users); staff are UserIDs."""
    return member_id.startswith(("wm", "wo"))


@transaction.atomic
def community_create(*, company: Company, name: str, **fields) -> Community:
    """Create a community by hand (a WeChat group the team runs, an offline club). No locks; publishes
    nothing."""
    unknown = set(fields) - COMMUNITY_FIELDS
    if unknown:
        raise ValidationError({key: _("This field cannot be set.") for key in unknown})
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the community a name.")})
    channel = fields.get("channel")
    if channel is not None and channel.company_id != company.pk:
        raise ValidationError({"channel": _("Unknown channel.")})
    owner = fields.get("owner")
    if owner is not None and not Membership.objects.filter(company=company, user=owner, is_active=True).exists():
        raise ValidationError({"owner": _("The owner must be an active member of the company.")})
    if fields.get("kind", CommunityKind.WECOM_GROUP) not in CommunityKind.values:
        raise ValidationError({"kind": _("Unknown kind.")})
    if (
        channel is not None
        and fields.get("external_id")
        and Community.objects.filter(channel=channel, external_id=fields["external_id"]).exists()
    ):
        raise ValidationError({"external_id": _("This group is already a community.")})
    community = Community(company=company, name=name[:200], **fields)
    community.save()
    return community


@transaction.atomic
def community_update(*, community: Community, **fields) -> Community:
    """Rename a community, change its owner or notice. Locks the row."""
    allowed = {"name", "owner", "notice"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({key: _("This field cannot be changed.") for key in unknown})
    locked = lock_community(community.pk)
    if "name" in fields and not (fields["name"] or "").strip():
        raise ValidationError({"name": _("Give the community a name.")})
    owner = fields.get("owner")
    if (
        owner is not None
        and not Membership.objects.filter(company_id=locked.company_id, user=owner, is_active=True).exists()
    ):
        raise ValidationError({"owner": _("The owner must be an active member of the company.")})
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.save(update_fields=[*fields, "updated_at"])
    return locked


def _identity_for(community: Community, member_id: str) -> SocialIdentity | None:
    if community.channel_id is None:
        return None
    return SocialIdentity.objects.filter(
        company_id=community.company_id, channel_kind=community.channel.kind, external_id=member_id
    ).first()


def community_member_join(
    *,
    community: Community,
    member_id: str,
    at: datetime | None = None,
    source_key: str = "",
    display_name: str = "",
    join_scene: int | None = None,
    is_staff: bool | None = None,
) -> CommunityMember:
    """A member joined (or rejoined): the member row (``left_at`` cleared) and a ``joined`` log entry, once per
    ``source_key``. Must run in a transaction; no locks beyond the unique (community, member id)."""
    at = at or timezone.now()
    source_key = source_key or f"manual:{at.isoformat()}"
    identity = _identity_for(community, member_id)
    member, created = CommunityMember.objects.get_or_create(
        community=community,
        member_id=member_id,
        defaults={
            "company_id": community.company_id,
            "identity": identity,
            "is_staff": (not _external_member(member_id)) if is_staff is None else is_staff,
            "display_name": display_name or (identity.display_name if identity else ""),
            "joined_at": at,
            "join_scene": join_scene,
        },
    )
    _change, logged = CommunityMemberChange.objects.get_or_create(
        community=community,
        member_id=member_id,
        kind=CommunityMemberChange.Kind.JOINED,
        source_key=source_key[:200],
        defaults={"company_id": community.company_id, "occurred_at": at},
    )
    if not created and member.left_at is not None and logged and member.left_at <= at:
        member.left_at = None
        member.joined_at = at
        member.identity = member.identity or identity
        member.save(update_fields=["left_at", "joined_at", "identity", "updated_at"])
    contact_id = identity.crm_contact_id if identity is not None and identity.resolution == "auto" else None
    if logged and contact_id:  # auto-tag rules on "joined a community" (scrmseg)
        from scrm.services.segments import tag_rules_fire_behaviour

        tag_rules_fire_behaviour(
            company_id=community.company_id,
            behaviour="joined_community",
            contact_ids={contact_id},
            reason=community.name,
        )
    return member


def community_member_leave(
    *, community: Community, member_id: str, at: datetime | None = None, source_key: str = ""
) -> CommunityMember | None:
    """A member left or was removed: ``left_at`` set and a ``left`` log entry, once per ``source_key``."""
    at = at or timezone.now()
    source_key = source_key or f"manual:{at.isoformat()}"
    member = CommunityMember.objects.filter(community=community, member_id=member_id).first()
    CommunityMemberChange.objects.get_or_create(
        community=community,
        member_id=member_id,
        kind=CommunityMemberChange.Kind.LEFT,
        source_key=source_key[:200],
        defaults={"company_id": community.company_id, "occurred_at": at},
    )
    if member is not None and member.left_at is None and member.joined_at <= at:
        member.left_at = at
        member.save(update_fields=["left_at", "updated_at"])
    return member


def community_event_apply(*, channel: Channel, event: dict) -> Community | None:
    """A WeCom ``change_external_chat`` callback (parsed by the WeCom connector, ``kind="chat"``) applied to
    the community of its ChatId: ``create`` makes the community, ``update`` with ``add_member`` /
    ``del_member`` records joins and leaves of ``MemChangeList``, ``change_owner`` / ``change_name`` /
    ``change_notice`` are noted, ``dismiss`` closes it. Runs in the delivery pipeline's transaction;
    idempotent per callback."""
    extra = event.get("extra") or {}
    chat_id = extra.get("chat_id") or event.get("sender_id", "")
    if not chat_id:
        return None
    at = parse_datetime(event.get("sent_at") or "") or timezone.now()
    community, _created = Community.objects.get_or_create(
        channel=channel,
        external_id=chat_id,
        defaults={
            "company_id": channel.company_id,
            "kind": CommunityKind.WECOM_GROUP,
            "name": f"WeCom group {chat_id[-8:]}",
            "owner": channel.default_assignee,
        },
    )
    change = event.get("event")
    detail = extra.get("update_detail", "")
    key = event.get("external_id", "")
    if change == "dismiss" and community.status != Community.Status.DISMISSED:
        community.status = Community.Status.DISMISSED
        community.dismissed_at = at
        community.save(update_fields=["status", "dismissed_at", "updated_at"])
    elif change == "update" and detail in ("add_member", "del_member"):
        scene = extra.get("join_scene") or extra.get("quit_scene")
        for member_id in extra.get("members") or []:
            if detail == "add_member":
                community_member_join(
                    community=community,
                    member_id=member_id,
                    at=at,
                    source_key=key,
                    join_scene=int(scene) if str(scene).isdigit() else None,
                )
            else:
                community_member_leave(community=community, member_id=member_id, at=at, source_key=key)
    return community


@transaction.atomic
def community_post_create(
    *,
    community: Community,
    text: str,
    kind: str = CommunityPost.Kind.POST,
    member: CommunityMember | None = None,
    author=None,
    parent: CommunityPost | None = None,
    posted_at: datetime | None = None,
    external_id: str = "",
) -> CommunityPost:
    """A post, a question, or an answer to a question (``parent``). An answer marks its question answered
    (locks the question). Publishes nothing."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write something first.")})
    if len(text) > 5000:
        raise ValidationError({"text": _("A post is at most 5000 characters.")})
    if kind not in CommunityPost.Kind.values:
        raise ValidationError({"kind": _("Unknown kind.")})
    if member is not None and member.community_id != community.pk:
        raise ValidationError({"member": _("The member is not in this community.")})
    if kind == CommunityPost.Kind.ANSWER:
        if parent is None or parent.community_id != community.pk or parent.kind != CommunityPost.Kind.QUESTION:
            raise ValidationError({"parent": _("An answer answers a question of this community.")})
    elif parent is not None:
        raise ValidationError({"parent": _("Only answers have a question.")})
    posted_at = posted_at or timezone.now()
    post = CommunityPost.objects.create(
        company_id=community.company_id,
        community=community,
        member=member,
        author=author,
        kind=kind,
        parent=parent,
        text=text,
        posted_at=posted_at,
        external_id=external_id,
    )
    if parent is not None:
        question = CommunityPost.objects.select_for_update().get(pk=parent.pk)
        if not question.answered:
            question.answered = True
            question.answered_at = posted_at
            question.save(update_fields=["answered", "answered_at", "updated_at"])
    return post
