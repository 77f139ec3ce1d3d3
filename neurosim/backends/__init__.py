"""Backends, found through a lazy registry: each imports its own library only when used."""

from __future__ import annotations

import importlib

_REGISTRY = {
    "numpy": ("neurosim.backends.numpy_backend", "NumpyBackend", "numpy"),
    "numba": ("neurosim.backends.numba_backend", "NumbaBackend", "numba"),
}


class BackendError(Exception):
    """A backend cannot be used here (its library or hardware is missing)."""


def names():
    return list(_REGISTRY)


def get_backend(name):
    """The backend class called ``name``; BackendError naming what is missing."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; expected one of: {', '.join(_REGISTRY)}")
    module, cls, lib = _REGISTRY[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(f"backend {name!r} needs {lib}, which cannot be imported: {exc}") from None
    return getattr(mod, cls)
