"""Graded (LTC) networks on the CPU with numba: the numpy reference's arithmetic, compiled.

Same order of operations as :mod:`neurosim.backends.ltc_numpy` (coefficient sums in the
build's summation order, chemical and gap sums kept apart and added at the end, the
portable exp), so both backends give the same bits for the closed forms, Euler, RK4 and
ncps's fused solver, with any number of threads.  The ``adaptive`` reference integrator
runs through the numpy backend.

Per coefficient evaluation (a substep, a midpoint, an RK stage) of a population:

1. the activation tables ``S`` that the population reads and whose values changed are
   recomputed, one sigmoid per presynaptic value (vectorised portable exp);
2. per chunk of targets: chemical sums, block by block in the build's tile-major layout
   -- for every tile of presynaptic values (512 KiB of ``S``, resident in L2) the
   chunk's synapses in that tile are streamed, a gather from ``S`` and two
   multiply-adds each, into per-target accumulators; per-synapse blocks compute their
   activations into a buffer (a loop that vectorises), then sum four targets side by
   side -- then gap junctions, then the integrator's elementwise update.

Steps 1 and 2 are one parallel region each (``prange`` over chunks of ``CB``-multiples
of targets, handed out one at a time) when a population is large; small populations
run serially.  Dense float32 blocks (:mod:`neurosim.ltc.build`) are summed row by row
across the chunk's targets: a loop without gathers over four float32 planes, with the
float32 sigmoid of :func:`_sigmoid32`, that vectorises (16 lanes with AVX-512).

:meth:`LtcNumbaBackend.run` advances a whole chunk of steps in one call
(:func:`_run_ticks`: inputs and step lengths sampled beforehand, recorded samples
written inside) when every population uses one of these integrators; with a CfC or an
``adaptive`` population it steps from Python.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..ltc.build import (
    B_CNT,
    B_CRS,
    B_D,
    B_DLO,
    B_DW,
    B_E,
    B_IDX,
    B_NPRE,
    B_NSYN,
    B_NT,
    B_P,
    B_TAB,
    B_W,
    B_X0,
    CB,
    ROWS,
    T_FOLD,
    T_GAMMA,
    T_MU,
    T_N,
    T_OFF,
    T_W,
    T_X0,
    TILE,
)
from ..models.cfc import METHOD_ID as CFC_METHOD
from ._numba_exp import i32_as_f32 as _i32_as_f32
from ._numba_exp import pexp
from .ltc_numpy import EPS_FUSED, EXP2F_COEFFS, EXP2F_T_MAX, LtcNumpyBackend

_U = np.uint64
_UTILE = np.uint64(TILE)
_UCB = np.uint64(CB)
#: Thread chunks per thread (handed out dynamically).
NCH = 16
#: Populations with fewer targets run serially (a parallel region costs ~10-30 us).
PAR_MIN = 4096
#: Synapses per run of targets in a per-synapse block (activations computed together).
NBUF = 2048

_jit = nb.njit(cache=True, nogil=True, error_model="numpy")
_par = nb.njit(cache=True, nogil=True, error_model="numpy", parallel=True)
#: Small helpers inlined into the loops (numba IR inlining: a call to another compiled
#: function is not inlined by LLVM, and a loop with a call does not vectorise).
_inl = nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")


@_inl
def _sigmoid(z):
    z = 700.0 if z > 700.0 else z  # np.clip(z, -700, 700), NaN kept
    z = -700.0 if z < -700.0 else z
    return 1.0 / (1.0 + pexp(-z))


_F = np.float32
(_Q0, _Q1, _Q2, _Q3, _Q4, _Q5, _Q6) = (_F(c) for c in EXP2F_COEFFS)
_TMAX = _F(EXP2F_T_MAX)
_HALF = _F(0.5)
_ONE = _F(1.0)


@_inl
def _sigmoid32(a, x, mu):
    """``1 / (1 + 2^(a (x - mu)))`` in float32 (``a = -gamma log2(e)``), as
    :func:`neurosim.backends.ltc_numpy.sigmoid32`: ``t`` clamped to +-``_TMAX`` (NaN
    kept), ``2^t = 2^n p(t - n)``, ``n`` the nearest integer, ``p`` a degree-6
    polynomial; no calls, so loops around it vectorise."""
    t = a * (x - mu)
    t = _TMAX if t > _TMAX else t
    t = -_TMAX if t < -_TMAX else t
    n = np.floor(t + _HALF)
    r = t - n
    p = _Q6
    p = p * r + _Q5
    p = p * r + _Q4
    p = p * r + _Q3
    p = p * r + _Q2
    p = p * r + _Q1
    p = p * r + _Q0
    e = p * _i32_as_f32((np.int32(n) + np.int32(127)) << np.int32(23))
    return _ONE / (_ONE + e)


@_inl
def _closed(v, h, G, GE, gl, vl, I, cm):
    B = gl + G
    A = gl * vl + GE + I
    vinf = A / B
    out = vinf + (v - vinf) * pexp(-h * B / cm)
    return out if B > 0.0 else v + h * A / cm  # both computed: the loop vectorises


# ------------------------------------------------------------------ activation tables


@_jit
def _table_range(X, S, x0, off, gamma, mu, w, fold, a, z):
    xu, ou = _U(x0), _U(off)
    if fold:
        for x in range(_U(a), _U(z)):
            S[ou + x] = w * _sigmoid(gamma * (X[xu + x] - mu))
    else:
        for x in range(_U(a), _U(z)):
            S[ou + x] = _sigmoid(gamma * (X[xu + x] - mu))


@_jit
def _tables_range(X, S, tab_i, tab_f, todo, c, nch):
    """Part ``c`` of ``nch`` of every table in ``todo``."""
    for k in range(todo.shape[0]):
        t = todo[k]
        n = tab_i[t, T_N]
        _table_range(
            X,
            S,
            tab_i[t, T_X0],
            tab_i[t, T_OFF],
            tab_f[t, T_GAMMA],
            tab_f[t, T_MU],
            tab_f[t, T_W],
            tab_i[t, T_FOLD] != 0,
            c * n // nch,
            (c + 1) * n // nch,
        )


@_par
def _tables_par(X, S, tab_i, tab_f, todo, nch):
    for c in nb.prange(nch):
        _tables_range(X, S, tab_i, tab_f, todo, c, nch)


@_jit
def _tables(X, S, tab_i, tab_f, pb, blk, stale, nthreads):
    """Recompute the stale tables that the blocks ``pb`` read (one parallel region)."""
    m = 0
    size = 0
    for k in range(pb.shape[0]):
        t = blk[pb[k], B_TAB]
        if t >= 0 and stale[t]:
            m += 1
            size += tab_i[t, T_N]
    if m == 0:  # (no allocation: small networks call this every stage)
        return
    todo = np.empty(m, np.int64)
    m = 0
    for k in range(pb.shape[0]):
        t = blk[pb[k], B_TAB]
        if t >= 0 and stale[t]:
            stale[t] = False
            todo[m] = t
            m += 1
    if nthreads > 1 and size >= 8 * PAR_MIN:
        _tables_par(X, S, tab_i, tab_f, todo[:m], NCH * nthreads)
    else:
        _tables_range(X, S, tab_i, tab_f, todo[:m], 0, 1)


@_jit
def _mark_stale(tab_i, stale, i0, i1):
    """Tables whose presynaptic range meets [i0, i1) are out of date."""
    for t in range(tab_i.shape[0]):
        if tab_i[t, T_X0] < i1 and i0 < tab_i[t, T_X0] + tab_i[t, T_N]:
            stale[t] = True


# ------------------------------------------------------------------ chemical synapses


@_jit
def _seg_shared(S, sb, idx, io, wp, wo, Ep, eo, E, cnt, cb, a0, a1, j, G, GE):
    """Targets [a0, a1) of one tile of a shared-activation block from block position
    ``j``; returns the next position.  All indices unsigned (no wraparound checks)."""
    if wo < 0:  # w folded into the table
        if eo < 0:
            for i in range(a0, a1):
                c = _U(cnt[cb + i])
                gc = G[i]
                gec = GE[i]
                for q in range(j, j + c):
                    wa = S[sb + idx[io + q]]
                    gc += wa
                    gec += wa * E
                G[i] = gc
                GE[i] = gec
                j += c
        else:
            for i in range(a0, a1):
                c = _U(cnt[cb + i])
                gc = G[i]
                gec = GE[i]
                for q in range(j, j + c):
                    wa = S[sb + idx[io + q]]
                    gc += wa
                    gec += wa * Ep[_U(eo) + q]
                G[i] = gc
                GE[i] = gec
                j += c
    else:
        wu = _U(wo)
        if eo < 0:
            for i in range(a0, a1):
                c = _U(cnt[cb + i])
                gc = G[i]
                gec = GE[i]
                for q in range(j, j + c):
                    wa = wp[wu + q] * S[sb + idx[io + q]]
                    gc += wa
                    gec += wa * E
                G[i] = gc
                GE[i] = gec
                j += c
        else:
            for i in range(a0, a1):
                c = _U(cnt[cb + i])
                gc = G[i]
                gec = GE[i]
                for q in range(j, j + c):
                    wa = wp[wu + q] * S[sb + idx[io + q]]
                    gc += wa
                    gec += wa * Ep[_U(eo) + q]
                G[i] = gc
                GE[i] = gec
                j += c
    return j


@_jit
def _seg_persyn(X, xb, idx, io, wp, wo, gp, mp, po, Ep, eo, E, cnt, cb, a0, a1, j, G, GE, buf):
    """As :func:`_seg_shared` for a per-synapse block.  Targets are taken in runs whose
    synapses fit in ``buf`` (at least one target: ``buf`` holds a whole cell): their
    presynaptic values are gathered, the activations computed in place (one loop over
    the run's synapses, without gathers, which vectorises however few synapses a target
    has), then the sums run four targets side by side (four independent chains, each
    in order)."""
    wu = _U(wo)
    pu = _U(po)
    nb_ = _U(buf.shape[0])
    i = a0
    while i < a1:
        q0 = j
        i2 = i
        tot = _U(0)
        while i2 < a1:
            c = _U(cnt[cb + i2])
            if tot + c > nb_ and i2 > i:
                break
            tot += c
            i2 += _U(1)
        o = _U(0)
        for t in range(i, i2):  # gather; a copy where a target's sources are consecutive
            c = _U(cnt[cb + t])
            q = io + q0 + o
            if c > _U(0) and _U(idx[q + c - _U(1)]) - _U(idx[q]) == c - _U(1):
                x0 = xb + _U(idx[q])
                for r in range(c):
                    buf[o + r] = X[x0 + r]
            else:
                for r in range(c):
                    buf[o + r] = X[xb + idx[q + r]]
            o += c
        for r in range(tot):
            q = q0 + r
            buf[r] = wp[wu + q] * _sigmoid(gp[pu + q] * (buf[r] - mp[pu + q]))
        o = _U(0)  # the first synapse of target i in buf
        while i < i2:
            L = i2 - i
            L = L if L < _U(4) else _U(4)
            if L == _U(4):
                c0 = _U(cnt[cb + i])
                c1 = _U(cnt[cb + i + _U(1)])
                c2 = _U(cnt[cb + i + _U(2)])
                c3 = _U(cnt[cb + i + _U(3)])
                o1 = o + c0
                o2 = o1 + c1
                o3 = o2 + c2
                m = min(min(c0, c1), min(c2, c3))
                g0, g1, g2, g3 = G[i], G[i + _U(1)], G[i + _U(2)], G[i + _U(3)]
                e0, e1, e2, e3 = GE[i], GE[i + _U(1)], GE[i + _U(2)], GE[i + _U(3)]
                if eo < 0:
                    for r in range(m):
                        x0 = buf[o + r]
                        x1 = buf[o1 + r]
                        x2 = buf[o2 + r]
                        x3 = buf[o3 + r]
                        g0 += x0
                        e0 += x0 * E
                        g1 += x1
                        e1 += x1 * E
                        g2 += x2
                        e2 += x2 * E
                        g3 += x3
                        e3 += x3 * E
                else:
                    eu = _U(eo) + q0
                    for r in range(m):
                        x0 = buf[o + r]
                        x1 = buf[o1 + r]
                        x2 = buf[o2 + r]
                        x3 = buf[o3 + r]
                        g0 += x0
                        e0 += x0 * Ep[eu + o + r]
                        g1 += x1
                        e1 += x1 * Ep[eu + o1 + r]
                        g2 += x2
                        e2 += x2 * Ep[eu + o2 + r]
                        g3 += x3
                        e3 += x3 * Ep[eu + o3 + r]
                G[i], G[i + _U(1)], G[i + _U(2)], G[i + _U(3)] = g0, g1, g2, g3
                GE[i], GE[i + _U(1)], GE[i + _U(2)], GE[i + _U(3)] = e0, e1, e2, e3
                start = m
            else:
                start = _U(0)
            for lane in range(L):  # the tails (everything, for a last group under four)
                c = _U(cnt[cb + i + lane])
                gc = G[i + lane]
                gec = GE[i + lane]
                if eo < 0:
                    for r in range(start, c):
                        wa = buf[o + r]
                        gc += wa
                        gec += wa * E
                else:
                    eu = _U(eo) + q0 + o
                    for r in range(start, c):
                        wa = buf[o + r]
                        gc += wa
                        gec += wa * Ep[eu + r]
                G[i + lane] = gc
                GE[i + lane] = gec
                o += c
            i += L
        j = q0 + tot
    return j


@_jit
def _seg_dense(X, xb, dn, do, npre, lo, n, a0, a1, G, GE, acc):
    """Targets [a0, a1) of a dense float32 block (planes at ``dn[do:]``, rows of ``n``
    targets from target ``lo``): per ``ROWS`` presynaptic rows, float32 sums in ``acc``
    (the loop over targets vectorises), then added to the float64 ``G``, ``GE``."""
    m = _U(a1 - a0)
    pl = _U(npre) * _U(n)
    oa = _U(do)
    om = oa + pl
    ow = om + pl
    oe = ow + pl
    ua0 = _U(a0)
    xu = _U(xb)
    for j0 in range(0, npre, ROWS):
        for i in range(m):
            acc[i] = 0.0
            acc[m + i] = 0.0
        for j in range(j0, min(npre, j0 + ROWS)):
            x = _F(X[xu + _U(j)])
            r = _U(j) * _U(n) + (ua0 - _U(lo))
            for i in range(m):
                s = _sigmoid32(dn[oa + r + i], x, dn[om + r + i])
                acc[i] += dn[ow + r + i] * s
                acc[m + i] += dn[oe + r + i] * s
        for i in range(m):
            G[ua0 + i] += np.float64(acc[i])
            GE[ua0 + i] += np.float64(acc[m + i])


@_jit
def _chem_chunk(
    cb0, cb1, n, pb, blk, blk_E, tab_i, S, X, idx, cnt, crs, wp, Ep, gp, mp, dn, G, GE, buf
):
    """Chemical sums of the targets of coarse blocks [cb0, cb1) (population-local)."""
    a0 = _U(cb0) * _UCB
    a1 = _U(min(n, cb1 * CB))
    for i in range(a0, a1):
        G[i] = 0.0
        GE[i] = 0.0
    ncb1 = (n + CB - 1) // CB + 1
    for k in range(pb.shape[0]):
        bi = pb[k]
        if blk[bi, B_D] >= 0:
            acc = np.empty(2 * (a1 - a0), np.float32)
            r = blk[bi]
            _seg_dense(X, r[B_X0], dn, r[B_D], r[B_NPRE], r[B_DLO], r[B_DW], a0, a1, G, GE, acc)
            continue
        tab = blk[bi, B_TAB]
        io = _U(blk[bi, B_IDX])
        wo, eo, po = blk[bi, B_W], blk[bi, B_E], blk[bi, B_P]
        E = blk_E[bi]
        for t in range(blk[bi, B_NT]):
            j = _U(crs[blk[bi, B_CRS] + t * ncb1 + cb0])
            cb = _U(blk[bi, B_CNT] + t * n)
            if tab >= 0:
                sb = _U(tab_i[tab, T_OFF]) + _U(t) * _UTILE
                _seg_shared(S, sb, idx, io, wp, wo, Ep, eo, E, cnt, cb, a0, a1, j, G, GE)
            else:
                xb = _U(blk[bi, B_X0]) + _U(t) * _UTILE
                _seg_persyn(
                    X, xb, idx, io, wp, wo, gp, mp, po, Ep, eo, E, cnt, cb, a0, a1, j, G, GE, buf
                )


# ------------------------------------------------------------------ coefficients, updates


@_jit
def _gap_finish(i0, a, z, gptr, gsrc, g, X, G, GE):
    """Add gap-junction sums: G = Gc + Gg, GE = GEc + GEg (local indices [a, z))."""
    for a_ in range(a, z):
        i = i0 + a_
        gg = 0.0
        geg = 0.0
        for j in range(gptr[i], gptr[i + 1]):
            gg += g[j]
            geg += g[j] * X[gsrc[j]]
        G[a_] = G[a_] + gg
        GE[a_] = GE[a_] + geg


@_jit
def _upd_range(op, a, z, i0, hh, v, G, GE, c_m, g_leak, v_leak, I_ext, X, out):
    """Elementwise updates of local neurons [a, z): 0 closed form, 1 right-hand side,
    2 ncps's fused step."""
    u0 = _U(i0)
    if op == 0:
        for a_ in range(_U(a), _U(z)):
            i = u0 + a_
            out[a_] = _closed(v[a_], hh, G[a_], GE[a_], g_leak[i], v_leak[i], I_ext[i], c_m[i])
    elif op == 1:
        for a_ in range(_U(a), _U(z)):
            i = u0 + a_
            B = g_leak[i] + G[a_]
            A = g_leak[i] * v_leak[i] + GE[a_] + I_ext[i]
            out[a_] = (A - B * X[i]) / c_m[i]
    else:
        for a_ in range(_U(a), _U(z)):
            i = u0 + a_
            cm_t = c_m[i] / hh
            num = cm_t * v[a_] + g_leak[i] * v_leak[i] + GE[a_] + I_ext[i]
            den = cm_t + g_leak[i] + G[a_]
            out[a_] = num / (den + EPS_FUSED)


@_jit
def _stage_chunk(
    op,
    cb0,
    cb1,
    i0,
    n,
    hh,
    v,
    out,
    X,
    S,
    pb,
    blk,
    blk_E,
    tab_i,
    idx,
    cnt,
    crs,
    wp,
    Ep,
    gp,
    mp,
    dn,
    gptr,
    gsrc,
    g,
    c_m,
    g_leak,
    v_leak,
    I_ext,
    G,
    GE,
    buf,
):
    """Targets of coarse blocks [cb0, cb1): chemical sums, gap junctions, update ``op``."""
    _chem_chunk(
        cb0, cb1, n, pb, blk, blk_E, tab_i, S, X, idx, cnt, crs, wp, Ep, gp, mp, dn, G, GE, buf
    )
    a = cb0 * CB
    z = min(n, cb1 * CB)
    if gptr[i0 + z] > gptr[i0 + a]:  # else G + 0.0 == G (sums of w s >= 0 are never -0.0)
        _gap_finish(i0, a, z, gptr, gsrc, g, X, G, GE)
    _upd_range(op, a, z, i0, hh, v, G, GE, c_m, g_leak, v_leak, I_ext, X, out)


@_par
def _stage_par(
    op,
    nch,
    i0,
    n,
    hh,
    v,
    out,
    X,
    S,
    pb,
    blk,
    blk_E,
    tab_i,
    idx,
    cnt,
    crs,
    wp,
    Ep,
    gp,
    mp,
    dn,
    gptr,
    gsrc,
    g,
    c_m,
    g_leak,
    v_leak,
    I_ext,
    G,
    GE,
    nbuf,
):
    ncb = (n + CB - 1) // CB
    for c in nb.prange(nch):
        cb0 = c * ncb // nch
        cb1 = (c + 1) * ncb // nch
        if cb1 > cb0:
            buf = np.empty(nbuf)
            _stage_chunk(
                op,
                cb0,
                cb1,
                i0,
                n,
                hh,
                v,
                out,
                X,
                S,
                pb,
                blk,
                blk_E,
                tab_i,
                idx,
                cnt,
                crs,
                wp,
                Ep,
                gp,
                mp,
                dn,
                gptr,
                gsrc,
                g,
                c_m,
                g_leak,
                v_leak,
                I_ext,
                G,
                GE,
                buf,
            )


@_jit
def _stage(
    op,
    hh,
    v,
    out,
    X,
    S,
    stale,
    i0,
    i1,
    pb,
    blk,
    blk_E,
    tab_i,
    tab_f,
    idx,
    cnt,
    crs,
    wp,
    Ep,
    gp,
    mp,
    dn,
    gptr,
    gsrc,
    g,
    c_m,
    g_leak,
    v_leak,
    I_ext,
    G,
    GE,
    buf,
    nthreads,
):
    """One coefficient evaluation of the neurons [i0, i1) (one population) from X and the
    elementwise update ``op`` into ``out``: two parallel regions (tables, then the rest).
    ``buf``: the serial path's scratch (threads allocate their own of its size)."""
    n = i1 - i0
    _tables(X, S, tab_i, tab_f, pb, blk, stale, nthreads)
    nsyn = 0
    for k in range(pb.shape[0]):
        nsyn += blk[pb[k], B_NSYN]
    if nthreads > 1 and n > CB and (n >= PAR_MIN or nsyn >= 16 * PAR_MIN):
        _stage_par(
            op,
            NCH * nthreads,
            i0,
            n,
            hh,
            v,
            out,
            X,
            S,
            pb,
            blk,
            blk_E,
            tab_i,
            idx,
            cnt,
            crs,
            wp,
            Ep,
            gp,
            mp,
            dn,
            gptr,
            gsrc,
            g,
            c_m,
            g_leak,
            v_leak,
            I_ext,
            G,
            GE,
            buf.shape[0],
        )
    else:
        _stage_chunk(
            op,
            0,
            (n + CB - 1) // CB,
            i0,
            n,
            hh,
            v,
            out,
            X,
            S,
            pb,
            blk,
            blk_E,
            tab_i,
            idx,
            cnt,
            crs,
            wp,
            Ep,
            gp,
            mp,
            dn,
            gptr,
            gsrc,
            g,
            c_m,
            g_leak,
            v_leak,
            I_ext,
            G,
            GE,
            buf,
        )


@_jit
def _advance(
    X,
    S,
    stale,
    out,
    i0,
    i1,
    method,
    substeps,
    h,
    c_m,
    g_leak,
    v_leak,
    I_ext,
    pb,
    blk,
    blk_E,
    tab_i,
    tab_f,
    idx,
    cnt,
    crs,
    wp,
    Ep,
    gp,
    mp,
    dn,
    gptr,
    gsrc,
    g,
    nbuf,
    nthreads,
    work,
):
    """New values ``out`` (local) of neurons [i0, i1) after a step of length h; X is left
    as it was (the start-of-step values).  ``work``: scratch, 3 rows of at least n."""
    n = i1 - i0
    G = work[0, :n]
    GE = work[1, :n]
    # the substep's start values: X itself where X is not written before the update
    copy_v = substeps > 1 or method == 1 or method == 3
    v = work[2, :n] if copy_v else X[i0:i1]
    sargs = (
        pb,
        blk,
        blk_E,
        tab_i,
        tab_f,
        idx,
        cnt,
        crs,
        wp,
        Ep,
        gp,
        mp,
        dn,
        gptr,
        gsrc,
        g,
        c_m,
        g_leak,
        v_leak,
        I_ext,
        G,
        GE,
        np.empty(nbuf),
        nthreads,
    )
    saved = np.empty(0)
    if substeps > 1 or method == 1 or method == 3:
        saved = X[i0:i1].copy()
    k1 = np.empty(0)
    k2 = np.empty(0)
    k3 = np.empty(0)
    if method == 3:
        k1 = np.empty(n)
        k2 = np.empty(n)
        k3 = np.empty(n)
    hs = h / substeps
    for sub in range(substeps):
        if copy_v:
            for a in range(n):
                v[a] = X[i0 + a]
        if method == 0 or method == 1:
            hh = hs if method == 0 else 0.5 * hs
            _stage(0, hh, v, out, X, S, stale, i0, i1, *sargs)
            if method == 1:
                for a in range(n):
                    X[i0 + a] = out[a]
                _mark_stale(tab_i, stale, i0, i1)
                _stage(0, hs, v, out, X, S, stale, i0, i1, *sargs)
        elif method == 2:
            _stage(1, hs, v, out, X, S, stale, i0, i1, *sargs)
            for a in range(n):
                out[a] = v[a] + hs * out[a]
        elif method == 3:
            _stage(1, hs, v, k1, X, S, stale, i0, i1, *sargs)
            for a in range(n):
                X[i0 + a] = v[a] + 0.5 * hs * k1[a]
            _mark_stale(tab_i, stale, i0, i1)
            _stage(1, hs, v, k2, X, S, stale, i0, i1, *sargs)
            for a in range(n):
                X[i0 + a] = v[a] + 0.5 * hs * k2[a]
            _mark_stale(tab_i, stale, i0, i1)
            _stage(1, hs, v, k3, X, S, stale, i0, i1, *sargs)
            for a in range(n):
                X[i0 + a] = v[a] + hs * k3[a]
            _mark_stale(tab_i, stale, i0, i1)
            _stage(1, hs, v, out, X, S, stale, i0, i1, *sargs)
            for a in range(n):
                out[a] = v[a] + (hs / 6.0) * (k1[a] + 2.0 * k2[a] + 2.0 * k3[a] + out[a])
        else:
            _stage(2, hs, v, out, X, S, stale, i0, i1, *sargs)
        if sub < substeps - 1:
            for a in range(n):
                X[i0 + a] = out[a]
            _mark_stale(tab_i, stale, i0, i1)
    if saved.shape[0] == n:
        for a in range(n):
            X[i0 + a] = saved[a]
        _mark_stale(tab_i, stale, i0, i1)


@_jit
def _run_ticks(
    V,
    Vn,
    X,
    S,
    stale,
    U,
    H,
    k0,
    pop_i,
    pb_all,
    pb_ptr,
    c_m,
    g_leak,
    v_leak,
    I_ext,
    blk,
    blk_E,
    tab_i,
    tab_f,
    idx,
    cnt,
    crs,
    wp,
    Ep,
    gp,
    mp,
    dn,
    gptr,
    gsrc,
    g,
    nbuf,
    nthreads,
    work,
    rbuf,
    rnidx,
    revery,
):
    """Steps ``k0 .. k0 + len(H) - 1`` in one call, as :meth:`LtcNumbaBackend.run`
    takes them one by one (same calls, same bits): per step ``X = [V, U[s]]``, every
    population of ``pop_i`` (rows ``i0, i1, method, substeps``; blocks
    ``pb_all[pb_ptr[p]:pb_ptr[p + 1]]``) advanced by ``H[s]`` into ``Vn``, then the
    swap and the samples due (``RecordPlan``'s rule, into ``rbuf``).  Returns the
    number of swaps modulo 2 (1: the newest values are in the array passed as ``Vn``).
    """
    N = V.shape[0]
    K = U.shape[1]
    flip = 0
    for s in range(H.shape[0]):
        k = k0 + s
        for i in range(N):
            X[i] = V[i]
        for c in range(K):
            X[N + c] = U[s, c]
        stale[:] = True
        h = H[s]
        for p in range(pop_i.shape[0]):
            i0, i1 = pop_i[p, 0], pop_i[p, 1]
            _advance(
                X,
                S,
                stale,
                Vn[i0:i1],
                i0,
                i1,
                pop_i[p, 2],
                pop_i[p, 3],
                h,
                c_m,
                g_leak,
                v_leak,
                I_ext,
                pb_all[pb_ptr[p] : pb_ptr[p + 1]],
                blk,
                blk_E,
                tab_i,
                tab_f,
                idx,
                cnt,
                crs,
                wp,
                Ep,
                gp,
                mp,
                dn,
                gptr,
                gsrc,
                g,
                nbuf,
                nthreads,
                work,
            )
        V, Vn = Vn, V
        flip = 1 - flip
        for e in range(rnidx.shape[0]):
            ev = revery[e]
            if (k + 1) % ev == 0:
                rbuf[(k + 1) // ev - k0 // ev - 1, e] = V[rnidx[e]]
    return flip


class LtcNumbaBackend(LtcNumpyBackend):
    """Compiled backend for graded networks (the ``adaptive`` method runs in numpy)."""

    name = "numba"

    def __init__(self, built, record_plan):
        super().__init__(built, record_plan)
        b = built
        self.S = np.zeros(max(b.n_S, 1))
        self.stale = np.ones(max(len(b.tab_i), 1), np.bool_)
        # per-synapse blocks: runs of targets of up to nbuf synapses, at least a cell
        self.nbuf = max(int(b.max_cell), NBUF)
        self.Vn = np.empty(self.N)
        self.work = np.empty((3, max([p[2] - p[1] for p in b.pops], default=0)))
        # every population on the compiled path: whole chunks of steps in one call
        self._ticks = None
        if b.pops and all(p[3] in (0, 1, 2, 3, 4) for p in b.pops):
            pbs = b.pop_blocks
            self._ticks = (
                np.array([p[1:5] for p in b.pops], np.int64),
                np.concatenate(pbs).astype(np.int64),
                np.concatenate([[0], np.cumsum([len(x) for x in pbs])]).astype(np.int64),
            )

    def kernel_arrays(self):
        """The arrays a pass over the synapses streams (name -> array)."""
        b = self.built
        return {
            "idx": b.idx,
            "cnt": b.cnt,
            "crs": b.crs,
            "wp": b.wp,
            "Ep": b.Ep,
            "gp": b.gp,
            "mp": b.mp,
            "dn": b.dn,
            "gptr": b.gptr,
            "gsrc": b.gsrc,
            "g": b.g,
            "S": self.S,
        }

    def advance_population(self, X, i0, i1, method, substeps, h, rtol, atol, out=None):
        if method == CFC_METHOD:
            return self.cfc[i0].step(X, h, out)
        if method == 5:
            return super().advance_population(X, i0, i1, method, substeps, h, rtol, atol)
        b = self.built
        pi = [p[1] for p in b.pops].index(i0)
        if out is None:
            out = np.empty(i1 - i0)
        old = nb.set_parallel_chunksize(1)  # thread chunks handed out one at a time
        try:
            self._advance(X, i0, i1, method, substeps, h, out, pi)
        finally:
            nb.set_parallel_chunksize(old)
        return out

    def _tile_args(self):
        """The synapse tiles, gap junctions and work buffers, as :func:`_advance` and
        :func:`_run_ticks` take them (after the neuron parameters)."""
        b = self.built
        return (
            b.blk,
            b.blk_E,
            b.tab_i,
            b.tab_f,
            b.idx,
            b.cnt,
            b.crs,
            b.wp,
            b.Ep,
            b.gp,
            b.mp,
            b.dn,
            b.gptr,
            b.gsrc,
            b.g,
            self.nbuf,
            nb.get_num_threads(),
            self.work,
        )

    def _advance(self, X, i0, i1, method, substeps, h, out, pi):
        b = self.built
        _advance(
            X,
            self.S,
            self.stale,
            out,
            i0,
            i1,
            method,
            substeps,
            h,
            b.c_m,
            b.g_leak,
            b.v_leak,
            b.I_ext,
            b.pop_blocks[pi],
            *self._tile_args(),
        )

    def run(self, k0, nsteps):
        b = self.built
        self.rec.begin(k0, nsteps)
        if self._ticks is not None:
            return self._run_compiled(k0, nsteps)
        X, N = self.X, self.N
        for k in range(k0, k0 + nsteps):
            X[:N] = self.V
            if b.n_inputs:
                X[N:] = b.inputs_at(k)
            self.stale[:] = True
            h = b.step_length(k)
            new = self.Vn
            for _name, i0, i1, method, sub, rtol, atol in b.pops:
                if method == 5:
                    new[i0:i1] = super().advance_population(X, i0, i1, method, sub, h, rtol, atol)
                else:
                    self.advance_population(X, i0, i1, method, sub, h, rtol, atol, out=new[i0:i1])
            self.Vn, self.V = self.V, new
            self.rec.sample(k, self.V, self.syn)
        z = np.zeros(0, np.int64)
        return z, z.copy(), nsteps

    def _run_compiled(self, k0, nsteps):
        """All steps of a chunk in one compiled call (:func:`_run_ticks`)."""
        b = self.built
        pop_i, pb_all, pb_ptr = self._ticks
        rec = self.rec
        old = nb.set_parallel_chunksize(1)
        try:
            flip = _run_ticks(
                self.V,
                self.Vn,
                self.X,
                self.S,
                self.stale,
                b.inputs_block(k0, nsteps),
                b.step_lengths(k0, nsteps),
                k0,
                pop_i,
                pb_all,
                pb_ptr,
                b.c_m,
                b.g_leak,
                b.v_leak,
                b.I_ext,
                *self._tile_args(),
                rec.buf,
                rec.nidx,
                rec.every,
            )
        finally:
            nb.set_parallel_chunksize(old)
        if flip:
            self.V, self.Vn = self.Vn, self.V
        z = np.zeros(0, np.int64)
        return z, z.copy(), nsteps
