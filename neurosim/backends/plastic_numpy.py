"""The numpy backend with plastic projections (:mod:`neurosim.plasticity`): the
plastic kernels run as plain Python loops (the reference of the numba ones)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..plasticity import kernels
from ..plasticity.runtime import PlasticMixin
from .numpy_backend import NumpyBackend


def _bucket_order(target, N, out):
    """:func:`neurosim.plasticity.kernels.bucket_order` with numpy's stable sort (the
    loop would take seconds per million synapses in Python)."""
    out[:] = np.argsort(target % N, kind="stable")


_KERNELS = SimpleNamespace(
    stdp_deliver=kernels.stdp_deliver,
    tsodyks_deliver=kernels.tsodyks_deliver,
    post_append=kernels.post_append,
    prune=kernels.prune,
    bucket_order=_bucket_order,
)


class PlasticNumpyBackend(PlasticMixin, NumpyBackend):
    """:class:`NumpyBackend` plus plastic synapses; a network without any builds a
    plain :class:`NumpyBackend`."""

    name = "numpy"
    _k = _KERNELS

    def __new__(cls, built, record_plan):
        if not getattr(built, "plastic", None):
            return NumpyBackend(built, record_plan)
        return super().__new__(cls)
