"""The numba backend (CPU default): many steps per compiled call.

The kernel follows :mod:`neurosim.backends.numpy_backend` operation by operation (same
order of additions, the same portable exp, no fast-math so LLVM does not contract
multiply-adds), so the two backends produce the same bits.  Python is entered only
once per chunk, to flush recordings.

Speed comes from specialisation, not from reordering arithmetic:

- neurons are updated population by population (a population is a contiguous range
  of neurons).  Each shipped model has its own loop with the number of synaptic
  states fixed, branch-free so that LLVM vectorises it, with the parameters hoisted
  to scalars when the population shares one propagator row (else read from a
  per-neuron table); spikes are flagged in a byte mask and collected afterwards.
  A population of any other model sends the whole network to ``_run_generic``, the
  per-neuron loop over the padded propagator rows;
- the conductance-based updates evaluate the portable exp in a loop of its own over
  blocks of neurons (a short loop body lets the CPU overlap the Horner chains);
- Poisson synapses come in runs of one generator: the hashes and the first table
  comparisons of a run are one vectorised pass, the ring additions another; short
  runs are drawn synapse by synapse;
- spike delivery computes ring slots without a division, reads one weight for a row
  whose weights are all equal, and prefetches the next spiking source's row;
- with a delay per synapse and a ring larger than the cache, delivery is deferred:
  a spike queues its row's delay groups on the slots they reach, and each step adds
  the groups queued on its own slot (see :meth:`NumbaBackend._setup_deferred`);
- across MPI ranks the intervals between exchanges run in one compiled call, MPI
  called from the kernel (:mod:`neurosim.backends._numba_mpi`).

With ``simulation.dtype: float32`` the same kernels are compiled for float32 state,
ring and parameter tables: constants come through ``_zero``, ``_flush`` and
``_pexp_of`` in the state's dtype (a float64 literal would widen a whole expression),
and a float64 product added into the ring or ``I_stim`` is rounded first (``_rd``),
as the numpy backend does.  The specialised updates only: ``_run_generic`` stays
float64.

Products with propagator entries that are exactly zero (padding, and the zero pattern
of each shipped model, checked in :func:`_kind`) are left out: for a finite state
``0 * y`` is ``+-0``, and adding ``+-0`` changes no sum that is not itself ``+-0``
(synaptic states are flushed to ``+0.0``; conductance sums start from ``+0.0``).
Every other operation is done in the reference's order, including additions of
``0.0`` that only matter for signed zeros.
"""

from __future__ import annotations

import os

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from .._numba_gate import flag, gate
from . import pexp as _pe
from ._numba_exp import pexp, pexp32
from ._numba_mpi import allgather_int64
from .base import HostBackend

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S11 = np.uint64(11)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_TWO_M53 = 1.0 / 9007199254740992.0

# population kinds with a specialised update (membrane, states, receptor -> state map)
K_GENERIC, K_DELTA, K_EXP, K_ALPHA, K_CEXP, K_CALPHA = range(6)
# columns of the per-row parameter table
(I_EL, I_IE, I_VV, I_VI, I_VMIN, I_VTH, I_VRESET, I_REF, I_G0, I_G1, I_GL, I_CM, I_ER0, I_ER1) = (
    range(14)
)
I_PV = 14  # P_Vsyn[s]            4 columns
I_PS = 18  # P_syn[s, t]         16 columns (s * 4 + t)
I_GA = 34  # G_avg[c, s]          8 columns (c * 4 + s)
NPAR = 42
_POIS_B = 8  # table entries compared without branches per Poisson draw
_MIN_RUN = 32  # shorter runs of one Poisson generator are drawn synapse by synapse


@intrinsic
def _cttz(typingctx, x):
    """Number of trailing zero bits of a nonzero uint64."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64), ir.IntType(1)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])

    return types.int64(types.uint64), codegen


def _at(x, i):
    """``x[i]`` for a per-neuron parameter array, ``x`` for a shared scalar."""


@overload(_at)
def _at_ov(x, i):
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


def _col(P, j):
    """Parameter ``j`` of a population: a scalar from a shared row ``P[j]`` (1-D), or
    the per-neuron column ``P[:, j]`` of a table ``[neuron, parameter]`` (2-D)."""


@overload(_col)
def _col_ov(P, j):
    if P.ndim == 1:
        return lambda P, j: P[j]
    return lambda P, j: P[:, j]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _uniform(key, ctr):
    z = key + (ctr + np.uint64(1)) * _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _TWO_M53


# ---------------------------------------------------------------------------- neurons
#
# Each specialised update takes views of the population's slice of the state arrays
# (index 0 = first neuron), ``P``: the population's parameter row (1-D, shared
# parameters) or its table ``[neuron, column]`` (2-D), and ``istim``: 0.0 (no current
# input) or the per-neuron I_stim.  ``_col(P, j)`` is then a scalar or a per-neuron
# column, read through ``_at``.  Returns the number of spikes; ``mask[i]`` is set to
# 1 for a neuron that fired, 0 otherwise.


def _flush(a):
    """A synaptic state below 1e-300 in magnitude (float32: 1e-30; either zero)
    becomes +0.0."""


@overload(_flush)
def _flush_ov(a):
    if a == types.float32:
        lim = np.float32(_pe.FLUSH_F32)
        zero = np.float32(0.0)

        def f32(a):
            return zero if abs(a) < lim else a

        return f32

    lim64 = _pe.FLUSH_F64

    def f64(a):
        return 0.0 if abs(a) < lim64 else a

    return f64


def _zero(V):
    """``0`` of the dtype of array ``V`` (a float64 literal would widen float32 sums)."""


@overload(_zero)
def _zero_ov(V):
    if V.dtype == types.float32:
        zero = np.float32(0.0)
        return lambda V: zero
    return lambda V: 0.0


def _rd(a, x):
    """``x`` rounded to the dtype of array ``a``, before it is added into ``a`` (the
    numpy backend rounds there too; a no-op for float64)."""


@overload(_rd)
def _rd_ov(a, x):
    if a.dtype == types.float32:
        return lambda a, x: np.float32(x)
    return lambda a, x: x


def _pexp_of(t, j):
    """``t[j] = pexp(t[j])`` in the precision of ``t``."""


@overload(_pexp_of)
def _pexp_of_ov(t, j):
    if t.dtype == types.float32:

        def f32(t, j):
            t[j] = pexp32(t[j])

        return f32

    def f64(t, j):
        t[j] = pexp(t[j])

    return f64


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _upd_delta(P, V, refr, R0, R1, istim, mask):
    E_L, I_e, P_VV, P_VI = _col(P, I_EL), _col(P, I_IE), _col(P, I_VV), _col(P, I_VI)
    V_min, V_th, V_reset, ref = _col(P, I_VMIN), _col(P, I_VTH), _col(P, I_VRESET), _col(P, I_REF)
    nf = 0
    for i in range(V.shape[0]):
        v = V[i]
        rf = refr[i]
        free = rf == 0
        el = _at(E_L, i)
        i_tot = _at(I_e, i) + _at(istim, i)
        acc = _zero(V)
        vu = el + _at(P_VV, i) * (v - el) + acc + _at(P_VI, i) * i_tot
        vu = vu + R0[i]
        vu = vu + R1[i]
        R0[i] = 0.0
        R1[i] = 0.0
        vn = vu if free else v
        rf = rf if free else rf - np.int32(1)
        vm = _at(V_min, i)
        vn = vm if free and vn < vm else vn
        sp = vn >= _at(V_th, i)
        vn = _at(V_reset, i) if sp else vn
        rf = np.int32(_at(ref, i)) if sp else rf
        V[i] = vn
        refr[i] = rf
        mask[i] = sp
        nf += sp
    return nf


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _upd_exp(P, V, S0, S1, refr, R0, R1, istim, mask):
    E_L, I_e, P_VV, P_VI = _col(P, I_EL), _col(P, I_IE), _col(P, I_VV), _col(P, I_VI)
    V_min, V_th, V_reset, ref = _col(P, I_VMIN), _col(P, I_VTH), _col(P, I_VRESET), _col(P, I_REF)
    pv0, pv1 = _col(P, I_PV), _col(P, I_PV + 1)
    p00, p11 = _col(P, I_PS), _col(P, I_PS + 5)
    nf = 0
    for i in range(V.shape[0]):
        v = V[i]
        rf = refr[i]
        free = rf == 0
        y0 = S0[i]
        y1 = S1[i]
        el = _at(E_L, i)
        i_tot = _at(I_e, i) + _at(istim, i)
        acc = _zero(V)
        acc = acc + _at(pv0, i) * y0
        acc = acc + _at(pv1, i) * y1
        vu = el + _at(P_VV, i) * (v - el) + acc + _at(P_VI, i) * i_tot
        vn = vu if free else v
        rf = rf if free else rf - np.int32(1)
        n0 = _flush(_at(p00, i) * y0)
        n1 = _flush(_at(p11, i) * y1)
        n0 = n0 + R0[i]
        n1 = n1 + R1[i]
        R0[i] = 0.0
        R1[i] = 0.0
        vm = _at(V_min, i)
        vn = vm if free and vn < vm else vn
        sp = vn >= _at(V_th, i)
        vn = _at(V_reset, i) if sp else vn
        rf = np.int32(_at(ref, i)) if sp else rf
        V[i] = vn
        refr[i] = rf
        S0[i] = n0
        S1[i] = n1
        mask[i] = sp
        nf += sp
    return nf


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _upd_alpha(P, V, S0, S1, S2, S3, refr, R0, R1, istim, mask):
    E_L, I_e, P_VV, P_VI = _col(P, I_EL), _col(P, I_IE), _col(P, I_VV), _col(P, I_VI)
    V_min, V_th, V_reset, ref = _col(P, I_VMIN), _col(P, I_VTH), _col(P, I_VRESET), _col(P, I_REF)
    g0, g1 = _col(P, I_G0), _col(P, I_G1)
    pv0, pv1, pv2, pv3 = _col(P, I_PV), _col(P, I_PV + 1), _col(P, I_PV + 2), _col(P, I_PV + 3)
    ps00, ps10, ps11 = _col(P, I_PS), _col(P, I_PS + 4), _col(P, I_PS + 5)
    ps22, ps32, ps33 = _col(P, I_PS + 10), _col(P, I_PS + 14), _col(P, I_PS + 15)
    nf = 0
    for i in range(V.shape[0]):
        v = V[i]
        rf = refr[i]
        free = rf == 0
        y0 = S0[i]
        y1 = S1[i]
        y2 = S2[i]
        y3 = S3[i]
        el = _at(E_L, i)
        i_tot = _at(I_e, i) + _at(istim, i)
        acc = _zero(V)
        acc = acc + _at(pv0, i) * y0
        acc = acc + _at(pv1, i) * y1
        acc = acc + _at(pv2, i) * y2
        acc = acc + _at(pv3, i) * y3
        vu = el + _at(P_VV, i) * (v - el) + acc + _at(P_VI, i) * i_tot
        vn = vu if free else v
        rf = rf if free else rf - np.int32(1)
        n0 = _flush(_at(ps00, i) * y0)
        n1 = _flush(_at(ps10, i) * y0 + _at(ps11, i) * y1)
        n2 = _flush(_at(ps22, i) * y2)
        n3 = _flush(_at(ps32, i) * y2 + _at(ps33, i) * y3)
        n0 = n0 + _at(g0, i) * R0[i]
        n2 = n2 + _at(g1, i) * R1[i]
        R0[i] = 0.0
        R1[i] = 0.0
        vm = _at(V_min, i)
        vn = vm if free and vn < vm else vn
        sp = vn >= _at(V_th, i)
        vn = _at(V_reset, i) if sp else vn
        rf = np.int32(_at(ref, i)) if sp else rf
        V[i] = vn
        refr[i] = rf
        S0[i] = n0
        S1[i] = n1
        S2[i] = n2
        S3[i] = n3
        mask[i] = sp
        nf += sp
    return nf


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _pexp_block(t, m):
    """``t[:m] = pexp(t[:m])`` in a loop of its own: the 13-step Horner chain is long,
    and only a short loop body lets the CPU overlap many of them."""
    for j in range(m):
        _pexp_of(t, j)
    return 0


# Conductance-based models: per block of _BLK neurons, (1) V_inf and the exponent,
# (2) the exponentials, (3) the rest of the update.
_BLK = 256


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _upd_cexp(P, V, S0, S1, refr, R0, R1, istim, mask, dt, tA, tB):
    E_L, I_e, g_L, C_m = _col(P, I_EL), _col(P, I_IE), _col(P, I_GL), _col(P, I_CM)
    V_min, V_th, V_reset, ref = _col(P, I_VMIN), _col(P, I_VTH), _col(P, I_VRESET), _col(P, I_REF)
    e0, e1 = _col(P, I_ER0), _col(P, I_ER1)
    a00, a11 = _col(P, I_GA), _col(P, I_GA + 5)
    p00, p11 = _col(P, I_PS), _col(P, I_PS + 5)
    mdt = -dt
    n = V.shape[0]
    nf = 0
    for b0 in range(0, n, _BLK):
        m = min(_BLK, n - b0)
        for ii in range(m):
            i = np.uint64(b0 + ii)
            y0 = S0[i]
            y1 = S1[i]
            i_tot = _at(I_e, i) + _at(istim, i)
            gb0 = _zero(V)
            gb0 = gb0 + _at(a00, i) * y0
            gb1 = _zero(V)
            gb1 = gb1 + _at(a11, i) * y1
            gsum = _zero(V)
            gsum = gsum + gb0
            gsum = gsum + gb1
            ge = _zero(V)
            ge = ge + gb0 * _at(e0, i)
            ge = ge + gb1 * _at(e1, i)
            gl = _at(g_L, i)
            gtot = gl + gsum
            tA[ii] = (gl * _at(E_L, i) + ge + i_tot) / gtot
            tB[ii] = gtot * (mdt / _at(C_m, i))
        _pexp_block(tB, m)
        for ii in range(m):
            i = np.uint64(b0 + ii)
            v = V[i]
            rf = refr[i]
            free = rf == 0
            y0 = S0[i]
            y1 = S1[i]
            vinf = tA[ii]
            vu = vinf + (v - vinf) * tB[ii]
            # NEST's iaf_cond_*: V_m = V_reset in every refractory step
            vn = vu if free else _at(V_reset, i)
            rf = rf if free else rf - np.int32(1)
            n0 = _flush(_at(p00, i) * y0)
            n1 = _flush(_at(p11, i) * y1)
            n0 = n0 + R0[i]
            n1 = n1 + R1[i]
            R0[i] = 0.0
            R1[i] = 0.0
            vm = _at(V_min, i)
            vn = vm if free and vn < vm else vn
            sp = vn >= _at(V_th, i)
            vn = _at(V_reset, i) if sp else vn
            rf = np.int32(_at(ref, i)) if sp else rf
            V[i] = vn
            refr[i] = rf
            S0[i] = n0
            S1[i] = n1
            mask[i] = sp
            nf += sp
    return nf


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _upd_calpha(P, V, S0, S1, S2, S3, refr, R0, R1, istim, mask, dt, tA, tB):
    E_L, I_e, g_L, C_m = _col(P, I_EL), _col(P, I_IE), _col(P, I_GL), _col(P, I_CM)
    V_min, V_th, V_reset, ref = _col(P, I_VMIN), _col(P, I_VTH), _col(P, I_VRESET), _col(P, I_REF)
    g0, g1 = _col(P, I_G0), _col(P, I_G1)
    e0, e1 = _col(P, I_ER0), _col(P, I_ER1)
    ps00, ps10, ps11 = _col(P, I_PS), _col(P, I_PS + 4), _col(P, I_PS + 5)
    ps22, ps32, ps33 = _col(P, I_PS + 10), _col(P, I_PS + 14), _col(P, I_PS + 15)
    ga00, ga01, ga12, ga13 = _col(P, I_GA), _col(P, I_GA + 1), _col(P, I_GA + 6), _col(P, I_GA + 7)
    mdt = -dt
    n = V.shape[0]
    nf = 0
    for b0 in range(0, n, _BLK):
        m = min(_BLK, n - b0)
        for ii in range(m):
            i = np.uint64(b0 + ii)
            y0 = S0[i]
            y1 = S1[i]
            y2 = S2[i]
            y3 = S3[i]
            i_tot = _at(I_e, i) + _at(istim, i)
            gb0 = _zero(V)
            gb0 = gb0 + _at(ga00, i) * y0
            gb0 = gb0 + _at(ga01, i) * y1
            gb1 = _zero(V)
            gb1 = gb1 + _at(ga12, i) * y2
            gb1 = gb1 + _at(ga13, i) * y3
            gsum = _zero(V)
            gsum = gsum + gb0
            gsum = gsum + gb1
            ge = _zero(V)
            ge = ge + gb0 * _at(e0, i)
            ge = ge + gb1 * _at(e1, i)
            gl = _at(g_L, i)
            gtot = gl + gsum
            tA[ii] = (gl * _at(E_L, i) + ge + i_tot) / gtot
            tB[ii] = gtot * (mdt / _at(C_m, i))
        _pexp_block(tB, m)
        for ii in range(m):
            i = np.uint64(b0 + ii)
            v = V[i]
            rf = refr[i]
            free = rf == 0
            y0 = S0[i]
            y1 = S1[i]
            y2 = S2[i]
            y3 = S3[i]
            vinf = tA[ii]
            vu = vinf + (v - vinf) * tB[ii]
            # NEST's iaf_cond_*: V_m = V_reset in every refractory step
            vn = vu if free else _at(V_reset, i)
            rf = rf if free else rf - np.int32(1)
            n0 = _flush(_at(ps00, i) * y0)
            n1 = _flush(_at(ps10, i) * y0 + _at(ps11, i) * y1)
            n2 = _flush(_at(ps22, i) * y2)
            n3 = _flush(_at(ps32, i) * y2 + _at(ps33, i) * y3)
            n0 = n0 + _at(g0, i) * R0[i]
            n2 = n2 + _at(g1, i) * R1[i]
            R0[i] = 0.0
            R1[i] = 0.0
            vm = _at(V_min, i)
            vn = vm if free and vn < vm else vn
            sp = vn >= _at(V_th, i)
            vn = _at(V_reset, i) if sp else vn
            rf = np.int32(_at(ref, i)) if sp else rf
            V[i] = vn
            refr[i] = rf
            S0[i] = n0
            S1[i] = n1
            S2[i] = n2
            S3[i] = n3
            mask[i] = sp
            nf += sp
    return nf


# ---------------------------------------------------------------------------- Poisson


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _count8(z, c0, c1, c2, c3, c4, c5, c6, c7):
    """Hash ``z`` to a uniform; how many of the 8 table entries ``c*`` are below it."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    u = np.float64(np.int64(z >> _S11)) * _TWO_M53
    c = ((c0 < u) + (c1 < u)) + ((c2 < u) + (c3 < u))
    return c + (((c4 < u) + (c5 < u)) + ((c6 < u) + (c7 < u)))


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _pois_count8(key, badd, cdf, out):
    """Per synapse: how many of the first 8 table entries are below its uniform."""
    c0, c1, c2, c3 = cdf[0], cdf[1], cdf[2], cdf[3]
    c4, c5, c6, c7 = cdf[4], cdf[5], cdf[6], cdf[7]
    for j in range(key.shape[0]):
        out[j] = _count8(key[j] + badd, c0, c1, c2, c3, c4, c5, c6, c7)
    return 0


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _pois_draw8(key, badd, cdf, wgt, tgt, base, cnt, val, slot):
    """Single-part draws: count (first 8 entries), value ``count * w`` and ring slot.

    Returns how many counts reached 8 (their table scan is not finished).
    """
    c0, c1, c2, c3 = cdf[0], cdf[1], cdf[2], cdf[3]
    c4, c5, c6, c7 = cdf[4], cdf[5], cdf[6], cdf[7]
    n8 = 0
    for j in range(key.shape[0]):
        c = _count8(key[j] + badd, c0, c1, c2, c3, c4, c5, c6, c7)
        cnt[j] = c
        n8 += c == _POIS_B
        val[j] = np.float64(c) * np.float64(wgt[j])
        slot[j] = base + np.int64(tgt[j])
    return n8


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _pois_draw8c(key, badd, cdf, wgt, cnt, val):
    """:func:`_pois_draw8` for a run whose ring slots are consecutive (no slots)."""
    c0, c1, c2, c3 = cdf[0], cdf[1], cdf[2], cdf[3]
    c4, c5, c6, c7 = cdf[4], cdf[5], cdf[6], cdf[7]
    n8 = 0
    for j in range(key.shape[0]):
        c = _count8(key[j] + badd, c0, c1, c2, c3, c4, c5, c6, c7)
        cnt[j] = c
        n8 += c == _POIS_B
        val[j] = np.float64(c) * np.float64(wgt[j])
    return n8


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _pois_tail(c, key, ctr, cdf, K):
    """Finish the table scan of a draw whose first 8 entries were all below u."""
    u = _uniform(key, ctr)
    while c < K - 1 and cdf[c] < u:
        c += 1
    return c


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _poisson_mixed(
    k,
    kk,
    L,
    NR,
    j0,
    j1,
    p_target,
    p_weight,
    p_delay,
    p_gen,
    p_key,
    p_cdf,
    p_parts,
    p_start,
    p_stop,
    ring,
):
    """Poisson synapses ``[j0, j1)`` one by one (short runs of many generators)."""
    K = p_cdf.shape[1]
    base = kk * NR
    for j in range(j0, j1):
        g = p_gen[j]
        e = k - np.int64(p_delay[j])  # the step the count was emitted in
        if e < p_start[g] or e >= p_stop[g]:
            continue
        parts = p_parts[g]
        count = 0
        for p in range(parts):
            u = _uniform(p_key[j], np.uint64(e) * np.uint64(parts) + np.uint64(p))
            c = 0
            while c < K - 1 and p_cdf[g, c] < u:
                c += 1
            count += c
        if count:
            ring[base + p_target[j]] += _rd(ring, np.float64(count) * np.float64(p_weight[j]))
    return 0


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _poisson(
    k,
    L,
    NR,
    p_target,
    p_weight,
    p_delay,
    p_gen,
    p_key,
    p_cdf,
    p_parts,
    p_start,
    p_stop,
    run_j0,
    run_j1,
    run_g,
    contig,
    cnt,
    tmp,
    val,
    slot,
    ring,
    add_zero,
):
    """Step 1 for every Poisson synapse, in synapse order: the counts that arrive in
    step ``k`` (drawn for their emission step ``k - D``) are added to ring slot ``k``.

    Synapses come in runs ``[run_j0, run_j1)`` of one generator ``run_g`` and one delay
    (-1: a stretch of short runs, drawn one by one).  ``add_zero``: a count of 0 may
    add ``0 * w`` (no -0.0 ring value can arise and every weight is finite), which
    spares a branch.
    """
    K = p_cdf.shape[1]
    kk = k % L
    base = kk * NR
    for q in range(run_g.shape[0]):
        g = run_g[q]
        if g < 0:
            _poisson_mixed(
                k,
                kk,
                L,
                NR,
                run_j0[q],
                run_j1[q],
                p_target,
                p_weight,
                p_delay,
                p_gen,
                p_key,
                p_cdf,
                p_parts,
                p_start,
                p_stop,
                ring,
            )
            continue
        j0 = run_j0[q]
        j1 = run_j1[q]
        e = k - np.int64(p_delay[j0])  # emission step (one delay per run)
        if e < p_start[g] or e >= p_stop[g]:
            continue
        m = j1 - j0
        parts = p_parts[g]
        cdf = p_cdf[g]
        keys = p_key[j0:j1]
        tgt = p_target[j0:j1]
        wgt = p_weight[j0:j1]
        c_m = cnt[:m]
        t_m = tmp[:m]
        if K <= _POIS_B:
            for jj in range(m):
                count = 0
                for p in range(parts):
                    ctr = np.uint64(e) * np.uint64(parts) + np.uint64(p)
                    count += _pois_tail(0, keys[jj], ctr, cdf, K)
                c_m[jj] = count
        elif parts > 1:
            for p in range(parts):
                ctr = np.uint64(e) * np.uint64(parts) + np.uint64(p)
                _pois_count8(keys, (ctr + np.uint64(1)) * _GOLDEN, cdf, t_m)
                for jj in range(m):
                    c = t_m[jj]
                    if c == _POIS_B:
                        c = _pois_tail(c, keys[jj], ctr, cdf, K)
                    c_m[jj] = c if p == 0 else c_m[jj] + c
        else:
            # one part: counts, values and slots in a vectorised pass, then the adds
            v_m = val[:m]
            s_m = slot[:m]
            badd = (np.uint64(e) + np.uint64(1)) * _GOLDEN
            if contig[q]:
                n8 = _pois_draw8c(keys, badd, cdf, wgt, c_m, v_m)
            else:
                n8 = _pois_draw8(keys, badd, cdf, wgt, tgt, base, c_m, v_m, s_m)
            if n8:
                for jj in range(m):
                    if c_m[jj] == _POIS_B:
                        c = _pois_tail(_POIS_B, keys[jj], np.uint64(e), cdf, K)
                        c_m[jj] = c
                        v_m[jj] = np.float64(c) * np.float64(wgt[jj])
            if contig[q]:
                # consecutive slots: a vectorised add (a count of 0 adds nothing)
                s0 = base + np.int64(tgt[0])
                seg = ring[s0 : s0 + m]
                for jj in range(m):
                    x = seg[jj]
                    seg[jj] = x + v_m[jj] if c_m[jj] else x
            elif add_zero:
                for jj in range(m):
                    ring[np.uint64(s_m[jj])] += v_m[jj]
            else:
                for jj in range(m):
                    if c_m[jj]:
                        ring[np.uint64(s_m[jj])] += v_m[jj]
            continue
        for jj in range(m):
            c = c_m[jj]
            if add_zero or c:
                ring[base + tgt[jj]] += _rd(ring, np.float64(c) * np.float64(wgt[jj]))
    return 0


# ---------------------------------------------------------------------------- delivery


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch ``arr[idx]`` into the cache (no effect on results)."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        aty = sig.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, aty, ary, [args[1]], wraparound=False, boundscheck=False
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read, high temporal locality, data cache
        builder.call(
            fn,
            [
                builder.bitcast(ptr, i8p),
                ir.Constant(i32, 0),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


_DCHUNK = 32  # synapses delivered between two prefetches of the next source's row


@nb.njit(cache=True, nogil=True)
def _group_rows_by_delay(row_ptr, target, weight, delay, L):
    """Reorder each CSR row in place so that synapses of one delay are consecutive
    (a stable counting sort; groups in order of first appearance), and return them.

    Stability keeps the order of the synapses onto one target with one delay, the
    only ones whose additions meet in one ring entry, so sums keep their bits.

    Returns
    -------
    grp_ptr : ndarray of int64, shape (n_rows + 1,)
        Row ``r`` has groups ``[grp_ptr[r], grp_ptr[r + 1])``.
    g_j0 : ndarray of int64, shape (n_groups + 1,)
        Group ``g`` holds synapses ``[g_j0[g], g_j0[g + 1])``.
    g_d : ndarray of int64, shape (n_groups,)
        Its delay (steps).
    """
    n_rows = row_ptr.shape[0] - 1
    cnt = np.zeros(L, np.int64)
    pos = np.zeros(L, np.int64)
    vals = np.zeros(L, np.int64)
    grp_ptr = np.zeros(n_rows + 1, np.int64)
    maxlen = 0
    ng = 0
    for r in range(n_rows):
        j0 = row_ptr[r]
        j1 = row_ptr[r + 1]
        maxlen = max(maxlen, j1 - j0)
        nv = 0
        for j in range(j0, j1):
            d = np.int64(delay[j])
            if cnt[d] == 0:
                vals[nv] = d
                nv += 1
            cnt[d] += 1
        for v in range(nv):
            cnt[vals[v]] = 0
        ng += nv
        grp_ptr[r + 1] = ng
    g_j0 = np.zeros(ng + 1, np.int64)
    g_d = np.zeros(ng, np.int64)
    tt = np.empty(maxlen, target.dtype)
    tw = np.empty(maxlen, weight.dtype)
    td = np.empty(maxlen, delay.dtype)
    g = 0
    for r in range(n_rows):
        j0 = row_ptr[r]
        j1 = row_ptr[r + 1]
        nv = 0
        for j in range(j0, j1):
            d = np.int64(delay[j])
            if cnt[d] == 0:
                vals[nv] = d
                nv += 1
            cnt[d] += 1
        o = 0
        for v in range(nv):
            d = vals[v]
            pos[d] = o
            g_j0[g + v] = j0 + o
            g_d[g + v] = d
            o += cnt[d]
            cnt[d] = 0
        if nv > 1:
            for j in range(j0, j1):
                d = np.int64(delay[j])
                q = pos[d]
                pos[d] = q + 1
                tt[q] = target[j]
                tw[q] = weight[j]
                td[q] = delay[j]
            for q in range(j1 - j0):
                target[j0 + q] = tt[q]
                weight[j0 + q] = tw[q]
                delay[j0 + q] = td[q]
        g += nv
    g_j0[ng] = row_ptr[n_rows]
    return grp_ptr, g_j0, g_d


@nb.njit(cache=True, nogil=True)
def _push_groups(srcs, kk, L, grp_ptr, g_d, pend, pend_n):
    """Deferred delivery: queue the delay groups of the rows ``srcs`` (in order) on
    the ring slot each reaches; the queue grows when full and is returned."""
    for q in range(srcs.shape[0]):
        r = srcs[q]
        for g in range(grp_ptr[r], grp_ptr[r + 1]):
            s = kk + g_d[g]
            s = s - L if s >= L else s
            n = pend_n[s]
            if n == pend.shape[1]:
                big = np.zeros((pend.shape[0], 2 * pend.shape[1]), np.int64)
                big[:, : pend.shape[1]] = pend
                pend = big
            pend[s, n] = g
            pend_n[s] = n + 1
    return pend


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _apply_groups(kk, NR, ring, pend, pend_n, g_j0, target, weight):
    """Add the groups queued on ring slot ``kk`` (in the order they were queued:
    by emission step, then source, as immediate delivery adds them) to that slot:
    every write of this pass lands in one slot of the ring, which stays in cache."""
    off = np.int64(kk) * NR
    for q in range(pend_n[kk]):
        g = pend[kk, q]
        j1 = g_j0[g + 1]
        for j in range(g_j0[g], j1):
            ring[np.uint64(off + np.int64(target[j]))] += np.float64(weight[j])
    pend_n[kk] = 0
    return 0


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _rows_of(gids, src_gids, rows):
    """Row of each source gid in the CSR (``src_gids`` sorted), skipping sources
    without synapses here; returns how many rows were written."""
    n = 0
    ns = src_gids.shape[0]
    for q in range(gids.shape[0]):
        g = gids[q]
        r = np.searchsorted(src_gids, g)
        if r < ns and src_gids[r] == g:
            rows[n] = r
            n += 1
    return n


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _deliver(srcs, kk, L, NR, ring, row_ptr, target, weight, delay, uniform_delay, row_uw, row_w):
    """Add the weights of the CSR rows ``srcs`` (in order) to their ring slots.

    A row whose weights are all equal (``row_uw``) reads ``row_w`` instead of its
    weights (same values, half the memory traffic).  While a row is delivered, the
    start of the next one is prefetched: rows are long, sequential and in memory.
    """
    ns = srcs.shape[0]
    off = 0
    if uniform_delay > 0:
        s = kk + uniform_delay
        s = s - L if s >= L else s
        off = s * NR
    for q in range(ns):
        src = srcs[q]
        j0 = row_ptr[src]
        j1 = row_ptr[src + 1]
        pa = 0
        pb = 0
        puw = True
        if q + 1 < ns:
            pa = row_ptr[srcs[q + 1]]
            pb = row_ptr[srcs[q + 1] + 1]
            puw = row_uw[srcs[q + 1]] != 0
        uw = row_uw[src]
        w = row_w[src]
        j = j0
        while j < j1:
            je = min(j + _DCHUNK, j1)
            if pa < pb:
                _prefetch(target, pa)
                if not puw:
                    _prefetch(weight, pa)
                if uniform_delay == 0:
                    _prefetch(delay, pa)
                pa += 16
            if uniform_delay > 0:
                if uw:
                    for jj in range(j, je):
                        ring[np.uint64(off + np.int64(target[jj]))] += w
                else:
                    for jj in range(j, je):
                        ring[np.uint64(off + np.int64(target[jj]))] += np.float64(weight[jj])
            else:
                for jj in range(j, je):
                    s = kk + np.int64(delay[jj])
                    s = s - L if s >= L else s
                    ring[np.uint64(s * NR + np.int64(target[jj]))] += np.float64(weight[jj])
            j = je
    return 0


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _deliver_spikes(
    steps,
    gids,
    pend,
    L,
    NR,
    ring,
    src_gids,
    row_ptr,
    target,
    weight,
    delay,
    uniform_delay,
    row_uw,
    row_w,
    rows_tmp,
    defer,
    grp_ptr,
    g_d,
    pend_n,
):
    """Deliver gathered spikes (sorted by step, then gid), step by step, as the kernel
    delivers its own spikes on one process (same rows, same order).  With ``defer``
    the rows' delay groups are queued on their ring slots instead (``pend``, grown
    when full, is returned)."""
    n = steps.shape[0]
    a = 0
    while a < n:
        k = steps[a]
        b = a
        while b < n and steps[b] == k:
            b += 1
        nr = _rows_of(gids[a:b], src_gids, rows_tmp)
        if nr:
            if defer is None:
                _deliver(
                    rows_tmp[:nr],
                    k % L,
                    L,
                    NR,
                    ring,
                    row_ptr,
                    target,
                    weight,
                    delay,
                    uniform_delay,
                    row_uw,
                    row_w,
                )
            else:
                pend = _push_groups(rows_tmp[:nr], k % L, L, grp_ptr, g_d, pend, pend_n)
        a = b
    return pend


# ---------------------------------------------------------------------------- gates
# What a network does not use is not compiled (neurosim/_numba_gate.py): the first run
# of a network of iaf_psc_delta neurons compiles neither the conductance-based updates
# nor deferred delivery (about half of the tick loop's compile time), and a network
# without Poisson generators does not compile the Poisson input (cuba's first compile
# of the tick loop: 12.1 -> 8.3 s).  ``defer`` is None
# (immediate delivery) or True: numba prunes the branches ``if defer is None`` of a None
# argument before typing, so the deferred code is compiled only for deferring networks.


_g_delta = gate(_upd_delta)
_g_exp = gate(_upd_exp)
_g_alpha = gate(_upd_alpha)
_g_cexp = gate(_upd_cexp)
_g_calpha = gate(_upd_calpha)
# Poisson input: ~3.5 s of the tick loop's first compile, left out of networks without it
_g_pois = gate(_poisson)


# ---------------------------------------------------------------------------- kernel


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _run(
    k0,
    nsteps,
    rk0,
    deliver,
    sg_pos,
    pend,
    dt,
    L,
    N,
    V,
    syn,
    refr,
    ring,
    pop_n0,
    pop_n1,
    pop_mode,
    pop_kind,
    pop_t0,
    HP,
    PT,
    src_gids,
    row_ptr,
    target,
    weight,
    delay,
    uniform_delay,
    row_uw,
    row_w,
    rows_tmp,
    neuron_gid,
    sg_steps,
    sg_gids,
    p_target,
    p_weight,
    p_delay,
    p_gen,
    p_key,
    p_cdf,
    p_parts,
    p_start,
    p_stop,
    run_j0,
    run_j1,
    run_g,
    run_contig,
    p_cnt,
    p_tmp,
    p_val,
    p_slot,
    p_add_zero,
    c_target,
    c_weight,
    c_delay,
    c_chan,
    amp,
    amp_base,
    r_nidx,
    r_row,
    r_every,
    r_buf,
    sp_steps,
    sp_gids,
    istim,
    mask,
    fired,
    defer,
    grp_ptr,
    g_j0,
    g_d,
    pend_n,
    use,
):
    NR = 2 * N
    n_sp = 0
    cap = sp_steps.shape[0]
    n_cur = c_target.shape[0]
    n_pop = pop_n0.shape[0]
    mask64 = mask.view(np.uint64)
    tA = np.empty(_BLK, V.dtype)
    tB = np.empty(_BLK, V.dtype)
    z0 = _zero(V)  # I_stim of populations without current input
    for k in range(k0, k0 + nsteps):
        if n_sp + N + (sg_steps.shape[0] - sg_pos) > cap and k > k0:
            return k - k0, n_sp, sg_pos, pend
        kk = k % L
        # 0. deferred delivery: the spike input queued on this slot
        if defer is not None and pend_n[kk]:
            _apply_groups(kk, NR, ring, pend, pend_n, g_j0, target, weight)
        # 1. Poisson input
        if run_g.shape[0]:
            _g_pois(
                use[5],
                k,
                L,
                NR,
                p_target,
                p_weight,
                p_delay,
                p_gen,
                p_key,
                p_cdf,
                p_parts,
                p_start,
                p_stop,
                run_j0,
                run_j1,
                run_g,
                run_contig,
                p_cnt,
                p_tmp,
                p_val,
                p_slot,
                ring,
                p_add_zero,
            )
        # 2. current input (istim stays zero without current synapses)
        if n_cur:
            for i in range(N):
                istim[i] = 0.0
            for j in range(n_cur):
                x = c_weight[j] * amp[c_chan[j], k - c_delay[j] - amp_base]
                istim[c_target[j]] += _rd(istim, x)
        # 3. neurons, population by population
        base = kk * NR
        nf_tot = 0
        for q in range(n_pop):
            a = pop_n0[q]
            b = pop_n1[q]
            if b == a:
                continue
            kind = pop_kind[q]
            Vq = V[a:b]
            Rq = refr[a:b]
            R0 = ring[base + a : base + b]
            R1 = ring[base + N + a : base + N + b]
            Mq = mask[a:b]
            S0 = syn[0, a:b]
            S1 = syn[1, a:b]
            S2 = syn[2, a:b]
            S3 = syn[3, a:b]
            nf = 0
            if pop_mode[q] == 0:
                # one parameter row, no current input (I_stim = 0.0)
                P = HP[q]
                if kind == K_DELTA:
                    nf = _g_delta(use[0], P, Vq, Rq, R0, R1, z0, Mq)
                elif kind == K_EXP:
                    nf = _g_exp(use[1], P, Vq, S0, S1, Rq, R0, R1, z0, Mq)
                elif kind == K_ALPHA:
                    nf = _g_alpha(use[2], P, Vq, S0, S1, S2, S3, Rq, R0, R1, z0, Mq)
                elif kind == K_CEXP:
                    nf = _g_cexp(use[3], P, Vq, S0, S1, Rq, R0, R1, z0, Mq, dt, tA, tB)
                elif kind == K_CALPHA:
                    nf = _g_calpha(use[4], P, Vq, S0, S1, S2, S3, Rq, R0, R1, z0, Mq, dt, tA, tB)
            else:
                # a parameter table [neuron, column] (per-neuron parameters or current input)
                o = pop_t0[q]
                T = PT[o : o + NPAR * (b - a)].reshape((b - a, NPAR))
                Iq = istim[a:b]
                if kind == K_DELTA:
                    nf = _g_delta(use[0], T, Vq, Rq, R0, R1, Iq, Mq)
                elif kind == K_EXP:
                    nf = _g_exp(use[1], T, Vq, S0, S1, Rq, R0, R1, Iq, Mq)
                elif kind == K_ALPHA:
                    nf = _g_alpha(use[2], T, Vq, S0, S1, S2, S3, Rq, R0, R1, Iq, Mq)
                elif kind == K_CEXP:
                    nf = _g_cexp(use[3], T, Vq, S0, S1, Rq, R0, R1, Iq, Mq, dt, tA, tB)
                elif kind == K_CALPHA:
                    nf = _g_calpha(use[4], T, Vq, S0, S1, S2, S3, Rq, R0, R1, Iq, Mq, dt, tA, tB)
            nf_tot += nf
        # collect the spiking neurons in ascending order (64 mask bytes at a time)
        nf = 0
        if nf_tot:
            for w0 in range(0, mask64.shape[0], 8):
                o = mask64[w0] | mask64[w0 + 1] | mask64[w0 + 2] | mask64[w0 + 3]
                o |= mask64[w0 + 4] | mask64[w0 + 5] | mask64[w0 + 6] | mask64[w0 + 7]
                if o:
                    for w in range(w0, w0 + 8):
                        x = mask64[w]
                        while x:
                            # mask bytes are 0 or 1: one set bit per spiking neuron
                            fired[nf] = 8 * w + (_cttz(x) >> 3)
                            nf += 1
                            x &= x - np.uint64(1)
                    if nf == nf_tot:
                        break
        # 4. spikes of step k in ascending gid (neurons merged with generators) ...
        a = 0
        n_sp0 = n_sp
        while True:
            g_n = neuron_gid[fired[a]] if a < nf else -1
            has_g = sg_pos < sg_steps.shape[0] and sg_steps[sg_pos] == k
            g_s = sg_gids[sg_pos] if has_g else -1
            if g_n < 0 and g_s < 0:
                break
            if g_n >= 0 and (g_s < 0 or g_n <= g_s):
                src = g_n
                a += 1
            else:
                src = g_s
                sg_pos += 1
            sp_steps[n_sp] = k
            sp_gids[n_sp] = src
            n_sp += 1
        # ... delivered to ring slots k + D through the CSR, synapse by synapse
        if deliver and n_sp > n_sp0:
            nr = _rows_of(sp_gids[n_sp0:n_sp], src_gids, rows_tmp)
            if defer is None:
                _deliver(
                    rows_tmp[:nr],
                    kk,
                    L,
                    NR,
                    ring,
                    row_ptr,
                    target,
                    weight,
                    delay,
                    uniform_delay,
                    row_uw,
                    row_w,
                )
            else:
                pend = _push_groups(rows_tmp[:nr], kk, L, grp_ptr, g_d, pend, pend_n)
        # 5. record
        for e in range(r_nidx.shape[0]):
            ev = r_every[e]
            if (k + 1) % ev == 0:
                row = (k + 1) // ev - rk0 // ev - 1
                if r_row[e] < 0:
                    r_buf[row, e] = V[r_nidx[e]]
                else:
                    r_buf[row, e] = syn[r_row[e], r_nidx[e]]
    return nsteps, n_sp, sg_pos, pend


@nb.njit(cache=True, nogil=True)
def _grow(a, n):
    """``a`` copied into a new array of at least ``n`` elements (doubling)."""
    out = np.empty(max(n, 2 * a.shape[0]), a.dtype)
    out[: a.shape[0]] = a
    return out


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _run_batch(
    k0,
    nsteps,
    interval,
    n_gids,
    stop,
    sg_pos,
    fns,
    comm,
    h_int,
    h_i64,
    counts,
    displs,
    recv,
    codes,
    out_steps,
    out_gids,
    sp_steps,
    sp_gids,
    pend,
    deliver_args,
    run_args,
):
    """Steps ``[k0, k0 + nsteps)`` in intervals of at most ``interval`` steps, each
    followed by the spike exchange and the delivery, as the Python loop of
    :meth:`neurosim.simulation.Simulation._run_parallel` does them one by one (same
    codes, same sort, same delivery: the same bits).

    ``run_args`` are :func:`_run`'s arguments after ``sg_pos`` (its spike buffer is
    ``sp_steps``/``sp_gids``; its recording rows count from ``k0``), ``deliver_args``
    :func:`_deliver_spikes`'s after ``gids``.  ``codes``, ``out_steps``, ``out_gids``
    and ``recv`` grow when needed and are returned.
    """
    done = 0
    n_out = 0
    n_spk = 0
    n_exch = 0
    stopped = False
    err = 0
    while done < nsteps:
        ki = k0 + done
        m = min(interval, nsteps - done)
        nc = 0
        if stop:
            codes[0] = -1
            nc = 1
            stop = False
        d = 0
        while d < m:
            # the kernel stops early when its spike buffer fills: finish the interval
            dd, n_sp, sg_pos, pend = _run(ki + d, m - d, k0, False, sg_pos, pend, *run_args)
            if nc + n_sp > codes.shape[0]:
                codes = _grow(codes, nc + n_sp)
            if n_out + n_sp > out_steps.shape[0]:
                out_steps = _grow(out_steps, n_out + n_sp)
                out_gids = _grow(out_gids, n_out + n_sp)
            for i in range(n_sp):
                codes[nc + i] = (sp_steps[i] - ki) * n_gids + sp_gids[i]
                out_steps[n_out + i] = sp_steps[i]
                out_gids[n_out + i] = sp_gids[i]
            nc += n_sp
            n_out += n_sp
            d += dd
        recv, total, err = allgather_int64(fns, comm, h_int, h_i64, codes, nc, counts, displs, recv)
        if err != 0:
            break
        every = np.sort(recv[:total])
        n_stop = np.searchsorted(every, 0)  # the stop codes sort first
        if n_stop:
            stopped = True
            every = every[n_stop:]
        pend = _deliver_spikes(ki + every // n_gids, every % n_gids, pend, *deliver_args)
        n_spk += every.shape[0]
        n_exch += 1
        done += m
        if stopped:
            break
    return (
        done,
        n_out,
        n_spk,
        n_exch,
        stopped,
        sg_pos,
        err,
        codes,
        out_steps,
        out_gids,
        recv,
        pend,
    )


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _run_generic(
    k0,
    nsteps,
    dt,
    L,
    N,
    V,
    syn,
    refr,
    ring,
    prow,
    membrane,
    P_syn,
    P_VV,
    P_VI,
    P_Vsyn,
    G_avg,
    E_rev,
    n_syn,
    n_cond,
    rec_state,
    rec_gain,
    E_L,
    I_e,
    V_th,
    V_reset,
    V_min,
    C_m,
    g_L,
    ref_ticks,
    src_gids,
    row_ptr,
    target,
    weight,
    delay,
    deliver,
    neuron_gid,
    sg_steps,
    sg_gids,
    sg_pos,
    p_target,
    p_weight,
    p_delay,
    p_gen,
    p_key,
    p_cdf,
    p_parts,
    p_start,
    p_stop,
    c_target,
    c_weight,
    c_delay,
    c_chan,
    amp,
    amp_base,
    r_nidx,
    r_row,
    r_every,
    r_buf,
    sp_steps,
    sp_gids,
):
    """Any neuron model: the per-neuron loop over the padded propagator rows.

    Runs the whole network when a population has no specialised update (none of the
    models shipped today); the reference order of operations, one neuron at a time.
    """
    NR = 2 * N
    n_sp = 0
    cap = sp_steps.shape[0]
    istim = np.zeros(N)
    fired = np.empty(N, np.int64)
    K = p_cdf.shape[1]
    for k in range(k0, k0 + nsteps):
        if n_sp + N + (sg_steps.shape[0] - sg_pos) > cap and k > k0:
            return k - k0, n_sp, sg_pos
        # 1. Poisson input arriving in step k (emitted in step k - D)
        for j in range(p_target.shape[0]):
            g = p_gen[j]
            e = k - np.int64(p_delay[j])
            if e < p_start[g] or e >= p_stop[g]:
                continue
            parts = p_parts[g]
            count = 0
            for p in range(parts):
                u = _uniform(p_key[j], np.uint64(e) * np.uint64(parts) + np.uint64(p))
                c = 0
                while c < K - 1 and p_cdf[g, c] < u:
                    c += 1
                count += c
            if count:
                slot = (k % L) * NR + p_target[j]
                ring[slot] += np.float64(count) * np.float64(p_weight[j])
        # 2. current input
        for i in range(N):
            istim[i] = 0.0
        for j in range(c_target.shape[0]):
            istim[c_target[j]] += c_weight[j] * amp[c_chan[j], k - c_delay[j] - amp_base]
        # 3. neurons
        base = (k % L) * NR
        nf = 0
        for i in range(N):
            r = prow[i]
            v = V[i]
            free = refr[i] == 0
            ns = n_syn[r]
            if free:
                i_tot = I_e[r] + istim[i]
                if membrane[r] == 0:
                    acc = _zero(V)
                    for s in range(ns):
                        acc = acc + P_Vsyn[r, s] * syn[s, i]
                    vn = E_L[r] + P_VV[r] * (v - E_L[r]) + acc + P_VI[r] * i_tot
                else:
                    gsum = _zero(V)
                    ge = _zero(V)
                    for c in range(n_cond[r]):
                        gbar = 0.0
                        for s in range(ns):
                            gbar = gbar + G_avg[r, c, s] * syn[s, i]
                        gsum = gsum + gbar
                        ge = ge + gbar * E_rev[r, c]
                    gtot = g_L[r] + gsum
                    vinf = (g_L[r] * E_L[r] + ge + i_tot) / gtot
                    vn = vinf + (v - vinf) * pexp(gtot * (-dt / C_m[r]))
            else:
                # held (current-based); V_reset (conductance-based, as NEST's iaf_cond_*)
                vn = v if membrane[r] == 0 else V_reset[r]
                refr[i] -= 1
            # synaptic states: exact decay, then this step's input
            s0 = 0.0
            s1 = 0.0
            s2 = 0.0
            s3 = 0.0
            for s in range(ns):
                acc = _zero(V)
                for t in range(ns):
                    acc = acc + P_syn[r, s, t] * syn[t, i]
                if abs(acc) < _pe.FLUSH_F64:
                    acc = _zero(V)
                if s == 0:
                    s0 = acc
                elif s == 1:
                    s1 = acc
                elif s == 2:
                    s2 = acc
                else:
                    s3 = acc
            for rc in range(2):
                x = rec_gain[r, rc] * ring[base + rc * N + i]
                ring[base + rc * N + i] = 0.0
                st = rec_state[r, rc]
                if st < 0:
                    if free:
                        vn = vn + x
                elif st == 0:
                    s0 = s0 + x
                elif st == 1:
                    s1 = s1 + x
                elif st == 2:
                    s2 = s2 + x
                else:
                    s3 = s3 + x
            if ns > 0:
                syn[0, i] = s0
            if ns > 1:
                syn[1, i] = s1
            if ns > 2:
                syn[2, i] = s2
            if ns > 3:
                syn[3, i] = s3
            if free and vn < V_min[r]:  # NEST clamps on free steps only
                vn = V_min[r]
            if vn >= V_th[r]:
                vn = V_reset[r]
                refr[i] = ref_ticks[r]
                fired[nf] = i
                nf += 1
            V[i] = vn
        # 4. deliver spikes of step k in ascending gid (neurons merged with generators)
        a = 0
        while True:
            g_n = neuron_gid[fired[a]] if a < nf else -1
            has_g = sg_pos < sg_steps.shape[0] and sg_steps[sg_pos] == k
            g_s = sg_gids[sg_pos] if has_g else -1
            if g_n < 0 and g_s < 0:
                break
            if g_n >= 0 and (g_s < 0 or g_n <= g_s):
                src = g_n
                a += 1
            else:
                src = g_s
                sg_pos += 1
            sp_steps[n_sp] = k
            sp_gids[n_sp] = src
            n_sp += 1
            if not deliver:
                continue
            r = np.searchsorted(src_gids, src)
            if r == src_gids.shape[0] or src_gids[r] != src:
                continue
            for j in range(row_ptr[r], row_ptr[r + 1]):
                slot = ((k + np.int64(delay[j])) % L) * NR + target[j]
                ring[slot] += np.float64(weight[j])
        # 5. record
        for e in range(r_nidx.shape[0]):
            ev = r_every[e]
            if (k + 1) % ev == 0:
                row = (k + 1) // ev - k0 // ev - 1
                if r_row[e] < 0:
                    r_buf[row, e] = V[r_nidx[e]]
                else:
                    r_buf[row, e] = syn[r_row[e], r_nidx[e]]
    return nsteps, n_sp, sg_pos


def _kind(p, r0, r1):
    """The specialised update for propagator rows [r0, r1) (K_GENERIC if none fits)."""
    memb = p["membrane"][r0:r1]
    ns = p["n_syn"][r0:r1]
    nc = p["n_cond"][r0:r1]
    st = p["rec_state"][r0:r1]
    if not (
        (memb == memb[0]).all()
        and (ns == ns[0]).all()
        and (nc == nc[0]).all()
        and (st == st[0]).all()
    ):
        return K_GENERIC
    m, s, c, st = int(memb[0]), int(ns[0]), int(nc[0]), tuple(int(x) for x in st[0])

    def zero_but(name, keep):
        # every entry of p[name] outside ``keep`` is zero in every row
        x = p[name][r0:r1].copy()
        for ij in keep:
            x[(slice(None),) + ij] = 0.0
        return not x.any()

    # The updates skip the products with these zero entries: 0 * y is +-0 for a finite
    # state y, and adding +-0 changes no sum that is not itself +-0 (flushed to +0.0
    # for synaptic states; the conductance sums start from +0.0 and are never -0.0).
    diag2 = ((0, 0), (1, 1))
    alpha = ((0, 0), (1, 0), (1, 1), (2, 2), (3, 2), (3, 3))
    # exponential and delta inputs have receptor gain 1 (x * 1.0 is x): not multiplied
    gain1 = bool((p["rec_gain"][r0:r1] == 1.0).all())
    if m == 0 and s == 0 and st == (-1, -1) and gain1:
        return K_DELTA
    if m == 0 and s == 2 and st == (0, 1) and gain1 and zero_but("P_syn", diag2):
        return K_EXP
    if m == 0 and s == 4 and st == (0, 2) and zero_but("P_syn", alpha):
        return K_ALPHA
    if (
        m == 1
        and s == 2
        and c == 2
        and st == (0, 1)
        and gain1
        and zero_but("P_syn", diag2)
        and zero_but("G_avg", diag2)
    ):
        return K_CEXP
    if (
        m == 1
        and s == 4
        and c == 2
        and st == (0, 2)
        and zero_but("P_syn", alpha)
        and zero_but("G_avg", ((0, 0), (0, 1), (1, 2), (1, 3)))
    ):
        return K_CALPHA
    return K_GENERIC


class NumbaBackend(HostBackend):
    """Compiled CPU backend (numba, ``cache=True``: compiled once per machine)."""

    name = "numba"

    def setup(self):
        cap = max(4 * self.N, 1 << 16)
        self.sp_steps = np.zeros(cap, np.int64)
        self.sp_gids = np.zeros(cap, np.int64)
        b = self.built
        # skip generator events before step 0 (none: times > 0 are checked in the spec)
        self.sg_pos = 0
        self._sg_steps = np.ascontiguousarray(b.sg_steps, np.int64)
        self._sg_gids = np.ascontiguousarray(b.sg_gids, np.int64)
        N = self.N
        self._istim = np.zeros(N, self.fdtype)
        self._mask = np.zeros(((N + 63) // 64) * 64, np.uint8)
        self._fired = np.zeros(max(N, 1), np.int64)
        # recurrent delays: one value for every synapse lets delivery skip the table
        d = b.delay
        self._uniform_delay = int(d[0]) if len(d) and (d == d[0]).all() else 0
        # rows (sources) whose synapses all have one weight
        w, rp = b.weight, b.row_ptr
        n_rows = len(b.src_gids)
        self._row_uw = np.zeros(n_rows, np.uint8)
        self._row_w = np.zeros(n_rows, self.fdtype)
        self._rows_tmp = np.zeros(max(n_rows, 1), np.int64)
        full = np.nonzero(rp[1:] > rp[:-1])[0]
        if len(full):
            st = rp[full]
            wmax = np.maximum.reduceat(w, st)
            wmin = np.minimum.reduceat(w, st)
            first = w[st]
            same = (wmax == wmin) & (wmax == first)
            # -0.0 and 0.0 compare equal: only take rows whose bits all match
            zero = first == 0
            if zero.any():
                sb = np.signbit(w).astype(np.int8)
                same &= ~zero | (np.maximum.reduceat(sb, st) == np.minimum.reduceat(sb, st))
            self._row_uw[full] = same
            self._row_w[full] = first.astype(self.fdtype)
        # Poisson synapses: runs of consecutive synapses with the same generator and
        # delay, drawn in vectorised passes; stretches of short runs are drawn synapse
        # by synapse
        g = b.pois_gen
        j0s, j1s, gs, contig = [], [], [], []
        width = 1
        if len(g):
            t, d = b.pois_target.astype(np.int64), b.pois_delay
            cut = np.nonzero((np.diff(g) != 0) | (np.diff(d) != 0))[0] + 1
            for a, z in zip(np.r_[0, cut], np.r_[cut, len(g)], strict=True):
                if z - a >= _MIN_RUN:
                    j0s.append(a)
                    j1s.append(z)
                    gs.append(g[a])
                    # consecutive ring slots (targets t0, t0 + 1, ...)
                    contig.append(bool((np.diff(t[a:z]) == 1).all()))
                    width = max(width, z - a)
                elif gs and gs[-1] < 0:
                    j1s[-1] = z
                else:
                    j0s.append(a)
                    j1s.append(z)
                    gs.append(-1)
                    contig.append(False)
        self._run_j0 = np.asarray(j0s, np.int64)
        self._run_j1 = np.asarray(j1s, np.int64)
        self._run_g = np.asarray(gs, np.int64)
        self._run_contig = np.asarray(contig, np.uint8)
        self._p_cnt = np.zeros(width, np.int64)
        self._p_tmp = np.zeros(width, np.int64)
        self._p_val = np.zeros(width, self.fdtype)
        self._p_slot = np.zeros(width, np.int64)
        self._p_key = np.ascontiguousarray(b.pois_key, np.uint64)
        # Adding 0 * w for a count of 0 changes nothing when w is finite and no ring
        # value can be -0.0 (which needs a weight of -0.0: sums of other values are not)

        def negzero(w):
            return bool(np.any((w == 0) & np.signbit(w)))

        self._p_add_zero = bool(
            np.isfinite(b.pois_weight).all()
            and not negzero(b.pois_weight)
            and not negzero(b.weight)
        )
        self._populations()
        self._setup_deferred()

    #: Deferred delivery pays from this ring size on (``NEUROSIM_DEFER_DELIVERY``: 0
    #: never, 1 whenever synapses have their own delays, else this threshold).
    DEFER_MIN_RING_BYTES = 8 << 20

    def _setup_deferred(self):
        """Choose immediate or deferred delivery of recurrent spikes.

        Immediate delivery adds a spike's weights to the ring slots of their delays
        at once: with a delay per synapse the writes of one spike spread over every
        slot, and a ring larger than the cache makes nearly each one a miss (the
        microcircuit: 77,169 neurons x 2 receptors x 61 slots = 75 MB).  Deferred
        delivery sorts each row's synapses by delay once (in place, stably) and only
        queues (row, delay) groups on the slot they reach; at the start of that step
        the queued groups are added to the one slot the neurons read next, which
        stays in cache.  Additions into each ring entry keep their order (emission
        step, source, CSR order), so the sums keep their bits.
        """
        b = self.built
        mode = os.environ.get("NEUROSIM_DEFER_DELIVERY", "auto")
        ring_bytes = self.ring_flat.nbytes
        self._defer = bool(
            len(b.target)
            and self._uniform_delay == 0
            and type(self) is NumbaBackend
            and not (self._pop_kind == K_GENERIC).any()
            and mode != "0"
            and (mode == "1" or ring_bytes >= self.DEFER_MIN_RING_BYTES)
        )
        if self._defer:
            self._grp_ptr, self._g_j0, self._g_d = _group_rows_by_delay(
                b.row_ptr, b.target, b.weight, b.delay, self.L
            )
        else:
            self._grp_ptr = np.zeros(1, np.int64)
            self._g_j0 = np.zeros(1, np.int64)
            self._g_d = np.zeros(0, np.int64)
        self._pend = np.zeros((self.L, 64 if self._defer else 1), np.int64)
        self._pend_n = np.zeros(self.L, np.int64)
        # the kernels' type-level switch (see _gate): None compiles no deferred path
        self._defer_flag = flag(self._defer)

    def _pending_into(self, ring):
        """Add the queued groups to ``ring`` (L * 2N, a copy), slot by slot, in the
        order the kernel would (the queue itself is left as it is)."""
        b = self.built
        counts = self._pend_n.copy()  # _apply_groups empties the counts it used
        for s in range(self.L):
            if counts[s]:
                _apply_groups(s, self.NR, ring, self._pend, counts, self._g_j0, b.target, b.weight)
        return ring

    def _populations(self):
        """Per population: neuron range, first row, shared or not, kind; parameter tables."""
        p = self.prop
        rows = len(p["P_VV"])
        PP = np.zeros((NPAR, rows))
        PP[I_EL], PP[I_IE], PP[I_VV], PP[I_VI] = p["E_L"], p["I_e"], p["P_VV"], p["P_VI"]
        PP[I_VMIN], PP[I_VTH], PP[I_VRESET] = p["V_min"], p["V_th"], p["V_reset"]
        PP[I_REF] = p["ref_ticks"]
        PP[I_G0], PP[I_G1] = p["rec_gain"][:, 0], p["rec_gain"][:, 1]
        PP[I_GL], PP[I_CM] = p["g_L"], p["C_m"]
        PP[I_ER0], PP[I_ER1] = p["E_rev"][:, 0], p["E_rev"][:, 1]
        PP[I_PV : I_PV + 4] = p["P_Vsyn"].T
        PP[I_PS : I_PS + 16] = p["P_syn"].reshape(rows, 16).T
        PP[I_GA : I_GA + 8] = p["G_avg"].reshape(rows, 8).T
        b = self.built
        has_cur = np.zeros(self.N + 1, np.int64)
        if len(b.cur_target):
            has_cur[b.cur_target] = 1
        n0, n1, mode, kind, hp, t0, tabs = [], [], [], [], [], [], []
        self._pop_layouts = []
        nt = 0
        for lay in sorted(b.layouts.values(), key=lambda x: x.n0):
            if lay.kind != "neuron" or lay.count == 0:
                continue
            self._pop_layouts.append(lay)
            r0, r1 = lay.prop_row0, lay.prop_row0 + (lay.count if lay.heterogeneous else 1)
            n0.append(lay.n0)
            n1.append(lay.n0 + lay.count)
            kind.append(_kind(p, r0, r1))
            hp.append(PP[:, r0])
            cur = bool(has_cur[lay.n0 : lay.n0 + lay.count].any())
            mode.append(int(lay.heterogeneous or cur))
            t0.append(nt)
            if mode[-1]:
                tabs.append(np.broadcast_to(PP[:, r0:r1].T, (lay.count, NPAR)).ravel())
                nt += NPAR * lay.count

        def i64(x):
            return np.asarray(x, np.int64).reshape(-1)

        self._pop_n0, self._pop_n1, self._pop_mode = i64(n0), i64(n1), i64(mode)
        self._pop_kind, self._pop_t0 = i64(kind), i64(t0)
        # which model updates (and whether the Poisson input) the tick loop compiles
        # (see the gates above _run)
        self._use = tuple(
            flag((self._pop_kind == k).any()) for k in (K_DELTA, K_EXP, K_ALPHA, K_CEXP, K_CALPHA)
        ) + (flag(self._run_g.shape[0] > 0),)
        f = self.fdtype
        self._HP = np.ascontiguousarray(hp, f) if hp else np.zeros((0, NPAR), f)
        self._PT = np.concatenate(tabs).astype(f) if tabs else np.zeros(0, f)
        if f != np.float64 and (self._pop_kind == K_GENERIC).any():
            names = [
                lay.name for lay, k in zip(self._pop_layouts, kind, strict=True) if k == K_GENERIC
            ]
            from ..network.spec import SpecError

            raise SpecError(
                self.built.spec.path,
                "simulation.dtype",
                f"{f.name} is for iaf_psc_delta/exp/alpha and "
                f"iaf_cond_exp/alpha populations with their usual receptors; "
                f"population(s) {', '.join(names)} need float64",
            )

    def refresh_propagators(self):
        self._populations()

    def get_state(self, step):
        """:meth:`HostBackend.get_state`, with the queued input of deferred delivery
        added to the ring (the ring immediate delivery would hold)."""
        state = super().get_state(step)
        if self._defer and self._pend_n.any():
            ring = self._pending_into(self.ring_flat.copy())
            state["ring"] = ring.reshape(self.L, 2, self.N)
        return state

    def set_state(self, step, state):
        """:meth:`HostBackend.set_state`, and the next spike-generator event at or
        after ``step``."""
        super().set_state(step, state)
        self._pend_n[:] = 0  # the restored ring holds every queued input
        self.sg_pos = int(np.searchsorted(self._sg_steps, step, side="left"))

    def deliver(self, steps, gids):
        self._pend = _deliver_spikes(
            np.ascontiguousarray(steps, np.int64),
            np.ascontiguousarray(gids, np.int64),
            self._pend,
            *self._deliver_rest(),
        )

    def _deliver_rest(self):
        """The arguments of :func:`_deliver_spikes` after ``(steps, gids)``."""
        b = self.built
        return (
            self.L,
            self.NR,
            self.ring_flat,
            b.src_gids,
            b.row_ptr,
            b.target,
            b.weight,
            b.delay,
            self._uniform_delay,
            self._row_uw,
            self._row_w,
            self._rows_tmp,
            self._defer_flag,
            self._grp_ptr,
            self._g_d,
            self._pend_n,
        )

    @property
    def can_exchange(self):
        """Whether :meth:`run_exchanged` can run this network (the specialised kernel;
        plastic backends deliver through their own rows)."""
        return type(self) is NumbaBackend and not (self._pop_kind == K_GENERIC).any()

    def run_exchanged(self, k0, nsteps, interval, n_gids, native, stop):
        """Advance ``nsteps`` steps across ranks in one compiled call: intervals of at
        most ``interval`` steps, each followed by the exchange of every rank's spikes
        (MPI called from compiled code) and their delivery.

        Every rank must call it with the same ``k0``, ``nsteps`` and ``interval``.

        Parameters
        ----------
        n_gids : int
            Number of global ids (spike codes are ``(step - interval start) * n_gids +
            gid``, as in the Python loop of the simulation).
        native : types.SimpleNamespace
            :meth:`neurosim.parallel.comm.MpiComm.native`.
        stop : bool
            This rank asks every rank to stop: the code -1 goes with the first
            interval's spikes, and every rank ends the call after that interval.

        Returns
        -------
        spike_steps, spike_gids : ndarray of int64
            Spikes of local neurons and generators, by step then gid.
        done : int
            Steps done (``nsteps``, or the first interval's length after a stop).
        exchanged, exchanges : int
            Spikes gathered (all ranks) and number of exchanges.
        stopped : bool
            A rank asked to stop.
        """
        while self.sg_pos < len(self._sg_steps) and self._sg_steps[self.sg_pos] < k0:
            self.sg_pos += 1
        amp, base = self.cur.table(k0, nsteps)
        self.rec.begin(k0, nsteps)
        rec = self.rec
        buf = rec.buf if rec.n_entries else np.zeros((1, 0))
        ex = getattr(self, "_ex", None)
        if ex is None:
            # work buffers kept between calls; the kernel returns larger ones when needed
            ex = self._ex = {
                "counts": np.zeros(native.size, np.int32),
                "displs": np.zeros(native.size, np.int32),
                "recv": np.zeros(1 << 12, np.int64),
                "codes": np.zeros(1 << 12, np.int64),
                "out_s": np.zeros(1 << 12, np.int64),
                "out_g": np.zeros(1 << 12, np.int64),
            }
        res = _run_batch(
            k0,
            nsteps,
            interval,
            n_gids,
            bool(stop),
            self.sg_pos,
            native.fns,
            native.comm,
            native.h_int,
            native.h_i64,
            ex["counts"],
            ex["displs"],
            ex["recv"],
            ex["codes"],
            ex["out_s"],
            ex["out_g"],
            self.sp_steps,
            self.sp_gids,
            self._pend,
            self._deliver_rest(),
            self._run_rest(amp, base, rec, buf),
        )
        done, n_out, n_spk, n_exch, stopped, self.sg_pos, err = res[:7]
        ex["codes"], ex["out_s"], ex["out_g"], ex["recv"], self._pend = res[7:]
        if err:
            raise RuntimeError(f"MPI error {err} in the spike exchange")
        return ex["out_s"][:n_out].copy(), ex["out_g"][:n_out].copy(), done, n_spk, n_exch, stopped

    def run_steps(self, k0, nsteps, amp, amp_base, rec, deliver=True):
        # generator events before k0 (after a restart in the middle) are skipped
        while self.sg_pos < len(self._sg_steps) and self._sg_steps[self.sg_pos] < k0:
            self.sg_pos += 1
        buf = rec.buf if rec.n_entries else np.zeros((1, 0))
        if (self._pop_kind == K_GENERIC).any():
            return self._run_generic(k0, nsteps, amp, amp_base, rec, buf, deliver)
        done, n_sp, self.sg_pos, self._pend = _run(
            k0,
            nsteps,
            k0,
            bool(deliver),
            self.sg_pos,
            self._pend,
            *self._run_rest(amp, amp_base, rec, buf),
        )
        return self.sp_steps[:n_sp].copy(), self.sp_gids[:n_sp].copy(), done

    def _run_rest(self, amp, amp_base, rec, buf):
        """The arguments of :func:`_run` after ``(k0, nsteps, rk0, deliver, sg_pos)``."""
        b, pi, ci = self.built, self.pois, self.cur
        return (
            self.fdtype.type(self.dt),
            self.L,
            self.N,
            self.V,
            self.syn,
            self.refr,
            self.ring_flat,
            self._pop_n0,
            self._pop_n1,
            self._pop_mode,
            self._pop_kind,
            self._pop_t0,
            self._HP,
            self._PT,
            b.src_gids,
            b.row_ptr,
            b.target,
            b.weight,
            b.delay,
            self._uniform_delay,
            self._row_uw,
            self._row_w,
            self._rows_tmp,
            self.neuron_gid,
            self._sg_steps,
            self._sg_gids,
            b.pois_target,
            b.pois_weight,
            b.pois_delay,
            b.pois_gen,
            self._p_key,
            pi.cdf,
            pi.parts,
            pi.start,
            pi.stop,
            self._run_j0,
            self._run_j1,
            self._run_g,
            self._run_contig,
            self._p_cnt,
            self._p_tmp,
            self._p_val,
            self._p_slot,
            self._p_add_zero,
            b.cur_target,
            b.cur_weight,
            b.cur_delay,
            ci.channel,
            amp,
            amp_base,
            rec.nidx,
            rec.row,
            rec.every,
            buf,
            self.sp_steps,
            self.sp_gids,
            self._istim,
            self._mask,
            self._fired,
            self._defer_flag,
            self._grp_ptr,
            self._g_j0,
            self._g_d,
            self._pend_n,
            self._use,
        )

    def _run_generic(self, k0, nsteps, amp, amp_base, rec, buf, deliver):
        b, p, pi, ci = self.built, self.prop, self.pois, self.cur
        done, n_sp, self.sg_pos = _run_generic(
            k0,
            nsteps,
            self.dt,
            self.L,
            self.N,
            self.V,
            self.syn,
            self.refr,
            self.ring_flat,
            b.prow,
            p["membrane"],
            p["P_syn"],
            p["P_VV"],
            p["P_VI"],
            p["P_Vsyn"],
            p["G_avg"],
            p["E_rev"],
            p["n_syn"],
            p["n_cond"],
            p["rec_state"],
            p["rec_gain"],
            p["E_L"],
            p["I_e"],
            p["V_th"],
            p["V_reset"],
            p["V_min"],
            p["C_m"],
            p["g_L"],
            p["ref_ticks"],
            b.src_gids,
            b.row_ptr,
            b.target,
            b.weight,
            b.delay,
            bool(deliver),
            self.neuron_gid,
            self._sg_steps,
            self._sg_gids,
            self.sg_pos,
            b.pois_target,
            b.pois_weight,
            b.pois_delay,
            b.pois_gen,
            self._p_key,
            pi.cdf,
            pi.parts,
            pi.start,
            pi.stop,
            b.cur_target,
            b.cur_weight,
            b.cur_delay,
            ci.channel,
            amp,
            amp_base,
            rec.nidx,
            rec.row,
            rec.every,
            buf,
            self.sp_steps,
            self.sp_gids,
        )
        return self.sp_steps[:n_sp].copy(), self.sp_gids[:n_sp].copy(), done
