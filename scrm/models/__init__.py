"""scrm models: one module per aggregate."""

from .channels import Channel, ChannelCursor, ChannelKind, Delivery
from .inbox import Conversation, Message, Resolution, SocialIdentity

__all__ = [
    "Channel",
    "ChannelCursor",
    "ChannelKind",
    "Conversation",
    "Delivery",
    "Message",
    "Resolution",
    "SocialIdentity",
]
