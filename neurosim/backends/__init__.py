"""Backends, found through a lazy registry: each imports its own library only when used."""

from __future__ import annotations

import importlib

_REGISTRY = {
    # the plastic subclasses build the plain backend for networks without plasticity
    "numpy": ("neurosim.backends.plastic_numpy", "PlasticNumpyBackend", "numpy"),
    "numba": ("neurosim.backends.plastic_numba", "PlasticNumbaBackend", "numba"),
    "cupy": ("neurosim.backends.cupy_backend", "CupyBackend", "cupy"),
}
#: The same backends for graded (LTC) networks.
_LTC = {
    "numpy": ("neurosim.backends.ltc_numpy", "LtcNumpyBackend", "numpy"),
    "numba": ("neurosim.backends.ltc_numba", "LtcNumbaBackend", "numba"),
    "cupy": ("neurosim.backends.ltc_cupy", "LtcCupyBackend", "cupy"),
}


class BackendError(Exception):
    """A backend cannot be used here (its library or hardware is missing)."""


def names():
    return list(_REGISTRY)


def get_backend(name, kind="spiking"):
    """The backend class called ``name`` for a ``spiking`` or ``ltc`` network."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; expected one of: {', '.join(_REGISTRY)}")
    module, cls, lib = (_LTC if kind == "ltc" else _REGISTRY)[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(
            f"backend {name!r} needs {lib}, which cannot be imported: {exc}"
        ) from None
    backend = getattr(mod, cls)
    # backends for hardware that may be absent (cupy: a GPU, a driver, NVRTC) say so
    # here, before anything is built or opened
    check = getattr(backend, "check_available", None)
    if check is not None:
        check()
    return backend
