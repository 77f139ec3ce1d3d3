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

from ..ltc.build import B_D, B_DLO, B_N0, B_X0, ROWS
from ..models.cfc import METHOD_ID as CFC_METHOD
from .base import RecordPlan
from .cfc_numpy import steppers as cfc_steppers
from .numpy_backend import pexp

EPS_FUSED = 1e-8  # ncps's epsilon in the fused solver's denominator
#: ``2^r`` on [-1/2, 1/2], degree 6, float32 coefficients (a least-squares fit of the
#: relative error, iteratively reweighted towards minimax): within 1e-7 (1.6 ulp) of
#: ``2^r`` when evaluated in float32 (tests/ltc/test_ltc_float32.py).
EXP2F_COEFFS = (
    1.0,
    0.6931471824645996,
    0.24022646248340607,
    0.05550328642129898,
    0.009618489071726799,
    0.0013399923918768764,
    0.0001534579205326736,
)
#: |t| clamp of the float32 ``2^t``: ``2^n`` stays a normal float32 and the sigmoid is
#: within 1e-30 of 0 or 1 beyond it.
EXP2F_T_MAX = 100.0
_F = np.float32


def sigmoid(z):
    z = np.clip(z, -700.0, 700.0)
    return 1.0 / (1.0 + pexp(-z))


def exp2f(t):
    """``2^t`` of float32 ``t`` in float32, as the numba kernels compute it (each
    operation rounded to float32, no fused multiply-add)."""
    t = np.asarray(t, _F)
    t = np.where(t > _F(EXP2F_T_MAX), _F(EXP2F_T_MAX), t)
    t = np.where(t < _F(-EXP2F_T_MAX), _F(-EXP2F_T_MAX), t)
    n = np.floor(t + _F(0.5))
    r = t - n
    p = np.full_like(r, _F(EXP2F_COEFFS[-1]))
    for c in EXP2F_COEFFS[-2::-1]:
        p = p * r + _F(c)
    with np.errstate(invalid="ignore"):  # NaN t: any scale, p is NaN
        scale = ((n.astype(np.int32) + np.int32(127)) << np.int32(23)).view(_F)
    return p * scale


def sigmoid32(a, x, mu):
    """``1 / (1 + 2^(a (x - mu)))`` in float32: the dense blocks' activation
    (``a = -gamma log2(e)``; float32 arrays or scalars)."""
    return _F(1.0) / (_F(1.0) + exp2f(a * (x - mu)))


def dense_sums(X, x0, planes, G, GE, lo=0):
    """Add a dense block's terms to ``G[lo:lo + n_cols]``, ``GE[...]`` (float64) in
    the kernel's order: per ``ROWS`` presynaptic rows a float32 sum, then added.

    Parameters
    ----------
    X : ndarray, shape (N + K,)
        Presynaptic values (mV), float64; rounded to float32 here.
    x0 : int
        Index of the block's first presynaptic value in ``X``.
    planes : sequence of 4 ndarray, float32, shape (n_pre, n_cols)
        ``a``, ``mu``, ``w``, ``w E_rev`` (:meth:`LtcBuilt.dense_planes`).
    lo : int
        The target of the planes' first column.
    """
    a, mu, w, we = planes
    sl = slice(lo, lo + a.shape[1])
    npre = a.shape[0]
    for j0 in range(0, npre, ROWS):
        ag = np.zeros(a.shape[1], _F)
        ae = np.zeros(a.shape[1], _F)
        for j in range(j0, min(npre, j0 + ROWS)):
            s = sigmoid32(a[j], _F(X[x0 + j]), mu[j])
            ag += w[j] * s
            ae += we[j] * s
        G[sl] += ag.astype(np.float64)
        GE[sl] += ae.astype(np.float64)


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

    def _terms(self, X, f):
        """Per-synapse ``w s`` of the flat synapses ``f`` (see :meth:`LtcBuilt.flat`)."""
        if "shared" not in f:
            f["shared"] = f["sidx"] >= 0
        sh = f["shared"]
        s = np.empty(len(sh))
        if sh.any():
            s[sh] = self.tables(X)[f["sidx"][sh]]
        ps = ~sh
        s[ps] = sigmoid(f["gamma"][ps] * (X[f["xsrc"][ps]] - f["mu"][ps]))
        return np.where(f["fold"], s, f["w"] * s)

    def _chem_by_block(self, X, i0, i1):
        """Chemical G, GE of a population with dense blocks: block by block, each
        target's sums carried from one block to the next (the kernels' order)."""
        b = self.built
        n = i1 - i0
        gc, gec = np.zeros(n), np.zeros(n)
        for bi in range(len(b.blk)):
            r = b.blk[bi]
            if r[B_N0] != i0:
                continue
            if r[B_D] >= 0:
                dense_sums(X, int(r[B_X0]), b.dense_planes(bi), gc, gec, int(r[B_DLO]))
                continue
            f = self._flat.get(("blk", bi))
            if f is None:
                f = self._flat[("blk", bi)] = b.flat(i0, i1, blocks=[bi])
            wa = self._terms(X, f)
            t = np.concatenate([np.arange(n), f["tgt"]])  # the carry first, then in order
            gc = np.bincount(t, weights=np.concatenate([gc, wa]), minlength=n)
            gec = np.bincount(t, weights=np.concatenate([gec, wa * f["E"]]), minlength=n)
        return gc, gec

    def coeffs(self, X, i0, i1):
        """G, GE (nS, nS mV) of neurons [i0, i1) from the values X."""
        b = self.built
        n = i1 - i0
        if any(r[B_D] >= 0 and r[B_N0] == i0 for r in b.blk):
            gc, gec = self._chem_by_block(X, i0, i1)
        else:
            f = self._flat.get((i0, i1))
            if f is None:
                f = self._flat[(i0, i1)] = b.flat(i0, i1)
            wa = self._terms(X, f)
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
