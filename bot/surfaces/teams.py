"""Placeholder: the teams surface adapter (being written)."""
