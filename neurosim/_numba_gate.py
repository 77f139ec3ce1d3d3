"""Type-level switches for numba kernels: what a network does not use is not compiled.

A kernel takes a flag argument that is ``None`` or ``True``.  ``gate(fn)`` returns a
function ``g(flag, *args)`` that numba resolves when the kernel is typed: a call of
``fn(*args)`` when the flag is typed as a value, the constant ``default`` when it is
None, and then ``fn`` is never compiled for that kernel.  Numba compiles the kernel once
per flag type (and caches each), so a network pays only for the code it runs.
"""

from __future__ import annotations

from numba import types
from numba.extending import overload


def is_off(flag_type):
    """True when a flag argument is typed as None (the switch is off)."""
    return isinstance(flag_type, (types.NoneType, types.Omitted))


def gate(fn, default=0):
    """``g(flag, *args)``: ``fn(*args)`` for a flag typed as a value, ``default`` for
    a flag typed as None (``fn`` is not compiled then)."""

    def gated(flag, *args):  # pragma: no cover - numba replaces it when jitted
        return fn(*args) if flag is not None else default

    @overload(gated, jit_options={"cache": True})
    def _ov(flag, *args):
        if is_off(flag):
            return lambda flag, *args: default
        return lambda flag, *args: fn(*args)

    return gated


def flag(on):
    """The flag argument of a switch: True, or None (off)."""
    return True if on else None
