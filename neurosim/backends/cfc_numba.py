"""CfC cells on the CPU with numba: :mod:`neurosim.backends.cfc_numpy`'s arithmetic,
compiled, one call per step of a population.

The same packed weights (:func:`neurosim.backends.cfc_numpy.pack`), the same order of
operations (Linear layers accumulated input by input in the cell's dtype, elementwise
work in float64, the portable exp / tanh / logistic), no fused multiply-add contraction
(numba's default without fastmath): the same bits as the numpy reference, in float64
and in float32.  The accumulation loops run over the outputs of a Linear layer (the
transposed weights are contiguous there), so they vectorise.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from . import pexp as _pe
from ._numba_exp import pexp
from .cfc_numpy import (
    L_A,
    L_CAT,
    L_HB,
    L_HOFF,
    L_HW,
    L_N,
    L_NH,
    L_NIN,
    L_OP0,
    L_OP1,
    L_WTAU,
    MODE_IDS,
    TANH_SMALL,
    pack,
)

_jit = nb.njit(cache=True, nogil=True, error_model="numpy")
_inl = nb.njit(cache=True, nogil=True, error_model="numpy", inline="always")
(_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13) = _pe.COEFFS
_PURE = MODE_IDS["pure"]
_U = np.uint64
_NO_GATE = MODE_IDS["no_gate"]


@_inl
def ptanh(x):
    """Portable tanh of a float64 (cfc_numpy.ptanh, the same bits)."""
    a = abs(x)
    r = -2.0 * a
    q = _C0
    q = q * r + _C1
    q = q * r + _C2
    q = q * r + _C3
    q = q * r + _C4
    q = q * r + _C5
    q = q * r + _C6
    q = q * r + _C7
    q = q * r + _C8
    q = q * r + _C9
    q = q * r + _C10
    q = q * r + _C11
    q = q * r + _C12
    em1 = r * q
    small = -em1 / (2.0 + em1)
    e = pexp(r)
    big = (1.0 - e) / (1.0 + e)
    t = small if a < TANH_SMALL else big
    return -t if x < 0.0 else t


@_inl
def _sigmoid(z):
    z = 700.0 if z > 700.0 else z  # as ltc_numpy.sigmoid: np.clip(z, -700, 700)
    z = -700.0 if z < -700.0 else z
    return 1.0 / (1.0 + pexp(-z))


@_inl
def _act(code, x):
    if code == 0:  # lecun_tanh
        return 1.7159 * ptanh(0.666 * x)
    if code == 1:
        return ptanh(x)
    if code == 2:
        return x if x > 0.0 else 0.0
    if code == 3:
        return x * _sigmoid(x)
    return x * 0.5 * (1.0 + math.erf(x * 0.7071067811865476))


@_jit
def activation(code, x, out):
    """``out[:] = ACTIVATIONS[code](x)`` (cfc_numpy.activation, the same bits)."""
    for i in range(x.shape[0]):
        out[i] = _act(code, x[i])


@_jit
def _affine(P, w, b, nin, nout, x, y):
    """y[:nout] = W x + b, input by input (W^T at P[w:], [nin, nout]; no bias if b < 0).

    Unsigned indices: numba then emits no negative-index wraparound and the inner loop
    vectorises (5x faster here); the order of the sums is unchanged."""
    n = _U(nout)
    for j in range(n):
        y[j] = 0.0
    for i in range(_U(nin)):
        xi = x[i]
        r = _U(w) + i * n
        for j in range(n):
            y[j] += P[r + j] * xi
    if b >= 0:
        bu = _U(b)
        for j in range(n):
            y[j] += P[bu + j]


@_jit
def cfc_step(X, xin, i0, ts, P, L, O, lstm, mode, act, c, wa, wb, hd, hin, hnew, out):
    """One step of a CfC population (see cfc_numpy.CfcNumpy.step).

    ``X`` (float64): values at the start of the step; ``xin``: the input indices;
    ``c``: the LSTM cell state (updated in place); ``wa``, ``wb``, ``hd``, ``hin``,
    ``hnew``: work arrays of the cell's dtype; ``out`` (float64, H): the new state.
    """
    K = xin.shape[0]
    H = hin.shape[0]
    for j in range(H):
        hin[j] = X[i0 + j]
    if lstm[0] != 0:
        for k in range(K):
            wa[k] = X[xin[k]]
        _affine(P, lstm[1], lstm[2], K, 4 * H, wa, hd)
        _affine(P, lstm[3], -1, H, 4 * H, hin, wb)
        for j in range(4 * H):
            hd[j] = hd[j] + wb[j]
        for j in range(H):
            gi = np.float64(hd[H + j])
            gf = np.float64(hd[2 * H + j])
            cn = np.float64(c[j]) * _sigmoid(gf + 1.0) + ptanh(np.float64(hd[j])) * _sigmoid(gi)
            c[j] = cn
        for j in range(H):
            go = np.float64(hd[3 * H + j])
            hin[j] = ptanh(np.float64(c[j])) * _sigmoid(go)
    prev = -1
    for li in range(L.shape[0]):
        n_in = L[li, L_NIN]
        n = L[li, L_N]
        hoff = L[li, L_HOFF]
        if prev < 0:
            for k in range(n_in):
                wa[k] = X[xin[k]]
        else:
            for k in range(n_in):
                wa[k] = hnew[prev + k]
        for j in range(n):
            wa[n_in + j] = hin[hoff + j]
        src, dst = wa, wb
        for op in range(L[li, L_OP0], L[li, L_OP1]):
            nout = O[op, 1]
            _affine(P, O[op, 2], O[op, 3], O[op, 0], nout, src, dst)
            for j in range(nout):
                dst[j] = _act(act, np.float64(dst[j]))
            src, dst = dst, src
        _affine(P, L[li, L_HW], L[li, L_HB], L[li, L_CAT], L[li, L_NH] * n, src, hd)
        if mode == _PURE:
            wt, a0 = L[li, L_WTAU], L[li, L_A]
            for j in range(n):
                f1 = np.float64(hd[j])
                A = np.float64(P[a0 + j])
                w = np.float64(P[wt + j])
                hnew[hoff + j] = -A * pexp(-ts * (abs(w) + abs(f1))) * f1 + A
        else:
            for j in range(n):
                f1 = ptanh(np.float64(hd[j]))
                f2 = ptanh(np.float64(hd[n + j]))
                s = _sigmoid(np.float64(hd[2 * n + j]) * ts + np.float64(hd[3 * n + j]))
                if mode == _NO_GATE:
                    hnew[hoff + j] = f1 + s * f2
                else:
                    hnew[hoff + j] = f1 * (1.0 - s) + s * f2
        prev = hoff
    for j in range(H):
        out[j] = hnew[j]


class CfcNumba:
    """One ``cfc`` population stepped by :func:`cfc_step` (same interface as
    :class:`neurosim.backends.cfc_numpy.CfcNumpy`)."""

    def __init__(self, cell, dtype, xin, i0):
        pk = self.pk = pack(cell, dtype)
        self.dtype = np.dtype(dtype)
        self.xin = np.asarray(xin, np.int64)
        self.i0, self.i1 = i0, i0 + pk.H
        self.c = np.zeros(pk.H, self.dtype)
        self.wa = np.zeros(pk.width, self.dtype)
        self.wb = np.zeros(pk.width, self.dtype)
        self.hd = np.zeros(pk.heads, self.dtype)
        self.hin = np.zeros(pk.H, self.dtype)
        self.hnew = np.zeros(pk.H, self.dtype)

    def step(self, X, ts, out=None):
        """New hidden state (float64, shape (H,)) after a step of ``ts`` time units."""
        if out is None:
            out = np.empty(self.pk.H)
        pk = self.pk
        cfc_step(
            X,
            self.xin,
            self.i0,
            float(ts),
            pk.P,
            pk.L,
            pk.O,
            pk.lstm,
            pk.mode,
            pk.act,
            self.c,
            self.wa,
            self.wb,
            self.hd,
            self.hin,
            self.hnew,
            out,
        )
        return out
