"""The numba backend with plastic projections (:mod:`neurosim.plasticity`): the
plastic kernels compiled with ``numba.njit`` (the static kernel is unchanged)."""

from __future__ import annotations

from types import SimpleNamespace

import numba
from numba.extending import overload

from ..plasticity import kernels
from ..plasticity.runtime import PlasticMixin
from .numba_backend import NumbaBackend, _prefetch

_jit = numba.njit(cache=True, nogil=True)


@overload(kernels.prefetch)
def _prefetch_overload(arr, i):
    """:func:`neurosim.plasticity.kernels.prefetch` compiled: LLVM's prefetch."""

    def impl(arr, i):
        _prefetch(arr, i)

    return impl


def _compiled(fn):
    return _jit(fn)


_KERNELS = SimpleNamespace(
    stdp_deliver=_compiled(kernels.stdp_deliver),
    tsodyks_deliver=_compiled(kernels.tsodyks_deliver),
    post_append=_compiled(kernels.post_append),
    prune=_compiled(kernels.prune),
    bucket_order=_compiled(kernels.bucket_order),
)


class PlasticNumbaBackend(PlasticMixin, NumbaBackend):
    """:class:`NumbaBackend` plus plastic synapses; a network without any builds a
    plain :class:`NumbaBackend`."""

    name = "numba"
    _k = _KERNELS

    def __new__(cls, built, record_plan):
        if not getattr(built, "plastic", None):
            return NumbaBackend(built, record_plan)
        return super().__new__(cls)
