"""Graded (LTC) networks, numpy reference: every integrator, in the kernels' order.

One step of length ``h`` (``dt``, or the input series' elapsed time): every population
advances from the values of all neurons at the start of the step; within a
population's substeps its own neurons see each other's new values (as ncps's unfolds
do), other populations stay at their start-of-step values.  The coefficients of
neuron ``i`` from the current values ``X``::

    Gc  = sum_j w_j s_j,  GEc = sum_j w_j s_j E_j,  s_j = 1 / (1 + exp(-gamma_j (X[src_j] - mu_j)))
    Gg  = sum_k g_k,      GEg = sum_k g_k X[gsrc_k]
    G = Gc + Gg,  GE = GEc + GEg

(sums in the build's summation order, :meth:`LtcBuilt.flat`; ``bincount`` adds in
element order, as the numba loops do).  Shared-activation projections read ``s_j`` (or
``w_j s_j`` when ``w`` is a constant) from the activation tables, computed from the
same expression once per presynaptic value, so the bits are those of the per-synapse
formula.
"""

from __future__ import annotations

import numpy as np

from ..models.cfc import METHOD_ID as CFC_METHOD
from .base import RecordPlan
from .cfc_numpy import steppers as cfc_steppers
from .numpy_backend import pexp

EPS_FUSED = 1e-8  # ncps's epsilon in the fused solver's denominator


def sigmoid(z):
    z = np.clip(z, -700.0, 700.0)
    return 1.0 / (1.0 + pexp(-z))


class LtcNumpyBackend:
    """Reference backend for graded networks (vectorised numpy)."""

    name = "numpy"

    def __init__(self, built, record_plan):
        b = self.built = built
        self.N = b.n_neurons
        self.V = b.V.copy()
        self.X = np.zeros(b.n_neurons + b.n_inputs)
        self.rec = record_plan
        self._flat = {}
        self.gap_tgt = np.repeat(np.arange(self.N), np.diff(b.gptr))
        self.syn = np.zeros((1, self.N))  # no synaptic states; RecordPlan indexes row 0
        self.cfc = cfc_steppers(b, self.name)  # CfC populations, by first index

    # -- coefficients ------------------------------------------------------------------

    def tables(self, X):
        """The activation tables S from the values X."""
        b = self.built
        S = np.empty(b.n_S)
        for (x0, n, off, fold), (gamma, mu, w) in zip(b.tab_i, b.tab_f, strict=True):
            s = sigmoid(gamma * (X[x0 : x0 + n] - mu))
            S[off : off + n] = w * s if fold else s
        return S

    def coeffs(self, X, i0, i1):
        """G, GE (nS, nS mV) of neurons [i0, i1) from the values X."""
        b = self.built
        n = i1 - i0
        f = self._flat.get((i0, i1))
        if f is None:
            f = self._flat[(i0, i1)] = b.flat(i0, i1)
            f["shared"] = f["sidx"] >= 0
        sh = f["shared"]
        s = np.empty(len(sh))
        if sh.any():
            s[sh] = self.tables(X)[f["sidx"][sh]]
        ps = ~sh
        s[ps] = sigmoid(f["gamma"][ps] * (X[f["xsrc"][ps]] - f["mu"][ps]))
        wa = np.where(f["fold"], s, f["w"] * s)
        gc = np.bincount(f["tgt"], weights=wa, minlength=n)
        gec = np.bincount(f["tgt"], weights=wa * f["E"], minlength=n)
        a, z = b.gptr[i0], b.gptr[i1]
        t = self.gap_tgt[a:z] - i0
        gg = np.bincount(t, weights=b.g[a:z], minlength=n)
        geg = np.bincount(t, weights=b.g[a:z] * X[b.gsrc[a:z]], minlength=n)
        return gc + gg, gec + geg

    def _closed(self, v, h, G, GE, sl):
        b = self.built
        B = b.g_leak[sl] + G
        A = b.g_leak[sl] * b.v_leak[sl] + GE + b.I_ext[sl]
        with np.errstate(divide="ignore", invalid="ignore"):
            vinf = A / B
            out = vinf + (v - vinf) * pexp(-h * B / b.c_m[sl])
        return np.where(B > 0.0, out, v + h * A / b.c_m[sl])

    def _rhs(self, X, v, i0, i1):
        b = self.built
        sl = slice(i0, i1)
        G, GE = self.coeffs(X, i0, i1)
        B = b.g_leak[sl] + G
        A = b.g_leak[sl] * b.v_leak[sl] + GE + b.I_ext[sl]
        return (A - B * v) / b.c_m[sl]

    def advance_population(self, X, i0, i1, method, substeps, h, rtol, atol):
        """New values of neurons [i0, i1) after a step of length h (X is restored)."""
        if method == CFC_METHOD:
            return self.cfc[i0].step(X, h)
        b = self.built
        sl = slice(i0, i1)
        saved = X[sl].copy()
        hs = h / substeps
        for _ in range(substeps):
            v = X[sl].copy()
            if method == 0:  # closed_form
                G, GE = self.coeffs(X, i0, i1)
                new = self._closed(v, hs, G, GE, sl)
            elif method == 1:  # exp_midpoint
                G, GE = self.coeffs(X, i0, i1)
                X[sl] = self._closed(v, 0.5 * hs, G, GE, sl)
                G, GE = self.coeffs(X, i0, i1)
                new = self._closed(v, hs, G, GE, sl)
            elif method == 2:  # euler
                new = v + hs * self._rhs(X, v, i0, i1)
            elif method == 3:  # rk4
                k1 = self._rhs(X, v, i0, i1)
                X[sl] = v + 0.5 * hs * k1
                k2 = self._rhs(X, X[sl], i0, i1)
                X[sl] = v + 0.5 * hs * k2
                k3 = self._rhs(X, X[sl], i0, i1)
                X[sl] = v + hs * k3
                k4 = self._rhs(X, X[sl], i0, i1)
                new = v + (hs / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            elif method == 4:  # ltc_fused (ncps)
                G, GE = self.coeffs(X, i0, i1)
                cm_t = b.c_m[sl] / hs
                num = cm_t * v + b.g_leak[sl] * b.v_leak[sl] + GE + b.I_ext[sl]
                den = cm_t + b.g_leak[sl] + G
                new = num / (den + EPS_FUSED)
            else:  # adaptive
                new = self._adaptive(X, v, i0, i1, hs, rtol, atol)
            X[sl] = new
        out = X[sl].copy()
        X[sl] = saved
        return out

    def _adaptive(self, X, v, i0, i1, h, rtol, atol):
        from scipy.integrate import solve_ivp  # the reference integrator only

        sl = slice(i0, i1)
        Xw = X.copy()

        def f(_t, y):
            Xw[sl] = y
            return self._rhs(Xw, y, i0, i1)

        sol = solve_ivp(f, (0.0, h), v, method="DOP853", rtol=rtol, atol=atol)
        return sol.y[:, -1]

    # -- the loop ----------------------------------------------------------------------

    def run(self, k0, nsteps):
        b = self.built
        self.rec.begin(k0, nsteps)
        for k in range(k0, k0 + nsteps):
            X = self.X
            X[: self.N] = self.V
            X[self.N :] = b.inputs_at(k)
            h = b.step_length(k)
            new = self.V.copy()
            for _name, i0, i1, method, sub, rtol, atol in b.pops:
                new[i0:i1] = self.advance_population(X, i0, i1, method, sub, h, rtol, atol)
            self.V = new
            self.rec.sample(k, self.V, self.syn)
        z = np.zeros(0, np.int64)
        return z, z.copy(), nsteps

    def sync_to_host(self):
        pass

    def sync_to_device(self):
        pass


def ltc_record_plan(built, record_specs):
    """A RecordPlan for graded networks (the only state, v, is the row of V)."""
    return RecordPlan(built, record_specs, row_of=lambda _pop, _var: -1)
