"""Placeholder: the webhook surface adapter (being written)."""
