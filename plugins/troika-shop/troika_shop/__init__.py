"""troika-shop: an example Troika channel plugin (docs/plugins.md) — an e-commerce shop's webhooks."""

__version__ = "0.1.0"
