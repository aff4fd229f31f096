"""scrm models: one module per aggregate."""

from .cadences import Cadence, CadenceEnrollment, CadenceStep, CadenceStepRun
from .campaigns import QrCampaign, QrCampaignKind, QrCampaignStatus, QrClaim, QrCode, QrScan  # (scrmqr)
from .channels import Channel, ChannelCursor, ChannelKind, Delivery, WebhookNonce
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
from .status_messages import StatusMessage, StatusMessageSkip, StatusMessageStatus  # (loop, flow 3)
from .ugc import Sentiment, UgcKind, UgcPost  # (scrmqr)

__all__ = [
    "Behaviour",
    "Cadence",
    "CadenceEnrollment",
    "CadenceStep",
    "CadenceStepRun",
    "Channel",
    "ChannelCursor",
    "ChannelKind",
    "Community",
    "CommunityKind",
    "CommunityMember",
    "CommunityMemberChange",
    "CommunityPost",
    "Consent",
    "ContactWay",
    "ContactWayAttribution",
    "Conversation",
    "Coupon",
    "CouponKind",
    "CouponReason",
    "CouponStatus",
    "CouponTemplate",
    "Delivery",
    "HandoverItem",
    "HandoverJob",
    "LawfulBasis",
    "Message",
    "PushCampaign",
    "PushCampaignStatus",
    "PushCapLock",
    "PushContent",
    "PushMessage",
    "PushMessageStatus",
    "PushPolicy",
    "QrCampaign",
    "QrCampaignKind",
    "QrCampaignStatus",
    "QrClaim",
    "QrCode",
    "QrScan",
    "Resolution",
    "RuleTrigger",
    "Segment",
    "Sentiment",
    "SkipReason",
    "SocialIdentity",
    "StatusMessage",
    "StatusMessageSkip",
    "StatusMessageStatus",
    "TagRule",
    "UgcKind",
    "UgcPost",
    "WebhookNonce",
]
