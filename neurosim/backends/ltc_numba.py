"""Graded (LTC) networks on the CPU with numba: the numpy reference's arithmetic, compiled.

Same order of operations as :mod:`neurosim.backends.ltc_numpy` (coefficient sums in
CSR order, chemical and gap sums kept apart and added at the end, the portable exp),
so both backends give the same bits for the closed forms, Euler, RK4 and ncps's fused
solver.  The ``adaptive`` reference integrator runs through the numpy backend.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .ltc_numpy import EPS_FUSED, LtcNumpyBackend
from .numba_backend import pexp


@nb.njit(cache=True, nogil=True, inline="always")
def _sigmoid(z):
    if z > 700.0:
        z = 700.0
    elif z < -700.0:
        z = -700.0
    return 1.0 / (1.0 + pexp(-z))


@nb.njit(cache=True, nogil=True)
def _coeffs(X, i, tptr, src, w, gamma, mu, E, gptr, gsrc, g):
    gc = 0.0
    gec = 0.0
    for j in range(tptr[i], tptr[i + 1]):
        wa = w[j] * _sigmoid(gamma[j] * (X[src[j]] - mu[j]))
        gc += wa
        gec += wa * E[j]
    gg = 0.0
    geg = 0.0
    for j in range(gptr[i], gptr[i + 1]):
        gg += g[j]
        geg += g[j] * X[gsrc[j]]
    return gc + gg, gec + geg


@nb.njit(cache=True, nogil=True)
def _closed(v, h, G, GE, gl, vl, I, cm):
    B = gl + G
    A = gl * vl + GE + I
    if B > 0.0:
        vinf = A / B
        return vinf + (v - vinf) * pexp(-h * B / cm)
    return v + h * A / cm


@nb.njit(cache=True, nogil=True)
def _rhs(X, i, v, tptr, src, w, gamma, mu, E, gptr, gsrc, g, gl, vl, I, cm):
    G, GE = _coeffs(X, i, tptr, src, w, gamma, mu, E, gptr, gsrc, g)
    B = gl + G
    A = gl * vl + GE + I
    return (A - B * v) / cm


@nb.njit(cache=True, nogil=True)
def _advance(X, out, i0, i1, method, substeps, h, c_m, g_leak, v_leak, I_ext,
             tptr, src, w, gamma, mu, E, gptr, gsrc, g):
    n = i1 - i0
    saved = X[i0:i1].copy()
    v = np.empty(n)
    k1 = np.empty(n)
    k2 = np.empty(n)
    k3 = np.empty(n)
    hs = h / substeps
    for _ in range(substeps):
        for a in range(n):
            v[a] = X[i0 + a]
        if method == 0 or method == 1:
            hh = hs if method == 0 else 0.5 * hs
            for a in range(n):
                i = i0 + a
                G, GE = _coeffs(X, i, tptr, src, w, gamma, mu, E, gptr, gsrc, g)
                out[i] = _closed(v[a], hh, G, GE, g_leak[i], v_leak[i], I_ext[i], c_m[i])
            if method == 1:
                for a in range(n):
                    X[i0 + a] = out[i0 + a]
                for a in range(n):
                    i = i0 + a
                    G, GE = _coeffs(X, i, tptr, src, w, gamma, mu, E, gptr, gsrc, g)
                    out[i] = _closed(v[a], hs, G, GE, g_leak[i], v_leak[i], I_ext[i], c_m[i])
        elif method == 2:
            for a in range(n):
                i = i0 + a
                out[i] = v[a] + hs * _rhs(X, i, v[a], tptr, src, w, gamma, mu, E, gptr, gsrc,
                                          g, g_leak[i], v_leak[i], I_ext[i], c_m[i])
        elif method == 3:
            for a in range(n):
                i = i0 + a
                k1[a] = _rhs(X, i, v[a], tptr, src, w, gamma, mu, E, gptr, gsrc, g,
                             g_leak[i], v_leak[i], I_ext[i], c_m[i])
            for a in range(n):
                X[i0 + a] = v[a] + 0.5 * hs * k1[a]
            for a in range(n):
                i = i0 + a
                k2[a] = _rhs(X, i, X[i], tptr, src, w, gamma, mu, E, gptr, gsrc, g,
                             g_leak[i], v_leak[i], I_ext[i], c_m[i])
            for a in range(n):
                X[i0 + a] = v[a] + 0.5 * hs * k2[a]
            for a in range(n):
                i = i0 + a
                k3[a] = _rhs(X, i, X[i], tptr, src, w, gamma, mu, E, gptr, gsrc, g,
                             g_leak[i], v_leak[i], I_ext[i], c_m[i])
            for a in range(n):
                X[i0 + a] = v[a] + hs * k3[a]
            for a in range(n):
                i = i0 + a
                k4 = _rhs(X, i, X[i], tptr, src, w, gamma, mu, E, gptr, gsrc, g,
                          g_leak[i], v_leak[i], I_ext[i], c_m[i])
                out[i] = v[a] + (hs / 6.0) * (k1[a] + 2.0 * k2[a] + 2.0 * k3[a] + k4)
        else:
            for a in range(n):
                i = i0 + a
                G, GE = _coeffs(X, i, tptr, src, w, gamma, mu, E, gptr, gsrc, g)
                cm_t = c_m[i] / hs
                num = cm_t * v[a] + g_leak[i] * v_leak[i] + GE + I_ext[i]
                den = cm_t + g_leak[i] + G
                out[i] = num / (den + EPS_FUSED)
        for a in range(n):
            X[i0 + a] = out[i0 + a]
    for a in range(n):
        X[i0 + a] = saved[a]


class LtcNumbaBackend(LtcNumpyBackend):
    """Compiled backend for graded networks (the ``adaptive`` method runs in numpy)."""

    name = "numba"

    def advance_population(self, X, i0, i1, method, substeps, h, rtol, atol):
        if method == 5:
            return super().advance_population(X, i0, i1, method, substeps, h, rtol, atol)
        b = self.built
        out = np.empty(self.N)
        _advance(X, out, i0, i1, method, substeps, h, b.c_m, b.g_leak, b.v_leak, b.I_ext,
                 b.tptr, b.src, b.w, b.gamma, b.mu, b.E, b.gptr, b.gsrc, b.g)
        return out[i0:i1]
