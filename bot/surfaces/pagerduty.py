"""Placeholder: the pagerduty surface adapter (being written)."""
