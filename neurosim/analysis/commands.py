"""Analysis subcommands of the ``neurosim`` command (``plot`` ...)."""

from __future__ import annotations


def register(sub):
    """Add this module's subcommands to ``sub``; return ``{name: handler}``."""
    return {}
