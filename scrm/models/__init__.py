"""scrm models: one module per aggregate."""

from .cadences import Cadence, CadenceEnrollment, CadenceStep, CadenceStepRun
from .campaigns import QrCampaign, QrCampaignKind, QrCampaignStatus, QrClaim, QrCode, QrScan  # (scrmqr)
from .channels import Channel, ChannelCursor, ChannelKind, Delivery
from .communities import Community, CommunityKind, CommunityMember, CommunityMemberChange, CommunityPost
from .coupons import Coupon, CouponKind, CouponReason, CouponStatus, CouponTemplate
from .handover import ContactWay, ContactWayAttribution, HandoverItem, HandoverJob
from .inbox import Conversation, Message, Resolution, SocialIdentity
from .pushes import (  # (scrmseg)
    Consent,
    LawfulBasis,
    PushCampaign,
    PushCampaignStatus,
    PushCapLock,
    PushContent,
    PushMessage,
    PushMessageStatus,
    PushPolicy,
    SkipReason,
)
from .segments import Behaviour, RuleTrigger, Segment, TagRule  # (scrmseg)
from .ugc import Sentiment, UgcKind, UgcPost  # (scrmqr)

__all__ = [
    # scrmseg: tags, segments, consent, pushes
    "Behaviour",
    "Consent",
    "LawfulBasis",
    "PushCampaign",
    "PushCampaignStatus",
    "PushCapLock",
    "PushContent",
    "PushMessage",
    "PushMessageStatus",
    "PushPolicy",
    "RuleTrigger",
    "Segment",
    "SkipReason",
    "TagRule",
    # scrmqr: coupons, QR campaigns, UGC
    "Coupon",
    "CouponKind",
    "CouponReason",
    "CouponStatus",
    "CouponTemplate",
    "QrCampaign",
    "QrCampaignKind",
    "QrCampaignStatus",
    "QrClaim",
    "QrCode",
    "QrScan",
    "Sentiment",
    "UgcKind",
    "UgcPost",
    "Cadence",
    "CadenceEnrollment",
    "CadenceStep",
    "CadenceStepRun",
    "Community",
    "CommunityKind",
    "CommunityMember",
    "CommunityMemberChange",
    "CommunityPost",
    "ContactWay",
    "ContactWayAttribution",
    "HandoverItem",
    "HandoverJob",
    "Channel",
    "ChannelCursor",
    "ChannelKind",
    "Conversation",
    "Delivery",
    "Message",
    "Resolution",
    "SocialIdentity",
]
