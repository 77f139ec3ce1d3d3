"""Interop subcommands of the ``neurosim`` command (``export``, ``connections`` ...)."""

from __future__ import annotations


def register(sub):
    """Add this module's subcommands to ``sub``; return ``{name: handler}``."""
    return {}
