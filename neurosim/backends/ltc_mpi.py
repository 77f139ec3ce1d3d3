"""Graded (LTC) networks on several ranks: the numba kernels on this rank's targets,
with the presynaptic values other ranks read exchanged after every stage.

Each population is advanced as :func:`neurosim.backends.ltc_numba._advance` does it,
stage by stage, but a stage computes only the rank's coarse chunks of targets
(:func:`~neurosim.backends.ltc_numba._stage_chunk`) and every write of new values into
X is followed by :meth:`neurosim.parallel.ltc_exchange.LtcExchange.exchange`.  The
arithmetic per target is the serial kernel's, so trajectories are the same bits on any
number of ranks.  Closed forms, Euler, RK4 and ncps's fused solver; the adaptive
reference and CfC cells run on one rank.
"""

from __future__ import annotations

import numpy as np

from ..ltc.build import CB
from ..parallel.ltc_exchange import LtcExchange, ltc_range
from .ltc_numba import LtcNumbaBackend, _mark_stale, _stage_chunk, _tables


class LtcMpiBackend(LtcNumbaBackend):
    """One rank of a graded network (see the module docstring)."""

    name = "numba"

    def __init__(self, built, record_plan, comm):
        super().__init__(built, record_plan)
        b = built
        self.comm = comm
        owned = np.zeros(b.n_neurons, bool)
        self.local = []  # per population: first and last coarse chunk of this rank
        for name, i0, i1, method, _sub, _rtol, _atol in b.pops:
            if method not in (0, 1, 2, 3, 4):
                raise ValueError(
                    f"{name}: the adaptive reference integrator and CfC cells run on one "
                    "rank only (start without mpiexec)"
                )
            lo, hi = ltc_range(i1 - i0, comm.rank, comm.size)
            owned[i0 + lo : i0 + hi] = True
            self.local.append((lo // CB, (hi + CB - 1) // CB))
        self.owned = owned
        self.xch = LtcExchange(comm, b, owned)
        # RK4 stages k1..k3 and the values written into X between stages
        self.rk = np.empty((4, self.work.shape[1]))

    def _stage(self, op, hh, v, out, X, i0, i1, pi, cb0, cb1):
        if cb1 <= cb0:
            return
        b = self.built
        pb = b.pop_blocks[pi]
        n = i1 - i0
        _tables(X, self.S, b.tab_i, b.tab_f, pb, b.blk, self.stale, 1)
        _stage_chunk(
            op, cb0, cb1, i0, n, hh, v, out, X, self.S, pb, b.blk, b.blk_E, b.tab_i,
            b.idx, b.cnt, b.crs, b.wp, b.Ep, b.gp, b.mp, b.dn, b.gptr, b.gsrc, b.g,
            b.c_m, b.g_leak, b.v_leak, b.I_ext, self.work[0, :n], self.work[1, :n],
            np.empty(self.nbuf),
        )  # fmt: skip

    def _put(self, X, vals, i0, i1, a, z):
        """Write this rank's new values of [i0, i1) into X, then exchange them."""
        X[i0 + a : i0 + z] = vals[a:z]
        self.xch.exchange(X, i0, i1)
        _mark_stale(self.built.tab_i, self.stale, i0, i1)

    def _advance_local(self, X, i0, i1, method, substeps, h, out, pi):
        cb0, cb1 = self.local[pi]
        n = i1 - i0
        a, z = min(n, cb0 * CB), min(n, cb1 * CB)
        copy_v = substeps > 1 or method == 1 or method == 3
        v = self.work[2, :n] if copy_v else X[i0:i1]
        saved = X[i0:i1].copy() if copy_v else None
        hs = h / substeps
        st = self._stage
        for sub in range(substeps):
            if copy_v:
                v[:] = X[i0:i1]
            if method == 0 or method == 1:
                st(0, hs if method == 0 else 0.5 * hs, v, out, X, i0, i1, pi, cb0, cb1)
                if method == 1:
                    self._put(X, out, i0, i1, a, z)
                    st(0, hs, v, out, X, i0, i1, pi, cb0, cb1)
            elif method == 2:
                st(1, hs, v, out, X, i0, i1, pi, cb0, cb1)
                out[a:z] = v[a:z] + hs * out[a:z]
            elif method == 3:
                k = self.rk[:3, :n]
                tmp = self.rk[3, :n]
                for q, f in enumerate((0.5, 0.5, 1.0)):
                    st(1, hs, v, k[q], X, i0, i1, pi, cb0, cb1)
                    tmp[a:z] = v[a:z] + f * hs * k[q][a:z]
                    self._put(X, tmp, i0, i1, a, z)
                st(1, hs, v, out, X, i0, i1, pi, cb0, cb1)
                out[a:z] = v[a:z] + (hs / 6.0) * (
                    k[0][a:z] + 2.0 * k[1][a:z] + 2.0 * k[2][a:z] + out[a:z]
                )
            else:
                st(2, hs, v, out, X, i0, i1, pi, cb0, cb1)
            if sub < substeps - 1:
                self._put(X, out, i0, i1, a, z)
        if saved is not None:
            X[i0:i1] = saved
            _mark_stale(self.built.tab_i, self.stale, i0, i1)

    def run(self, k0, nsteps):
        b = self.built
        self.rec.begin(k0, nsteps)
        X, N = self.X, self.N
        for k in range(k0, k0 + nsteps):
            X[:N] = self.V
            if b.n_inputs:
                X[N:] = b.inputs_at(k)
            self.stale[:] = True
            h = b.step_length(k)
            new = self.Vn
            for pi, (_name, i0, i1, method, sub, _rtol, _atol) in enumerate(b.pops):
                self._advance_local(X, i0, i1, method, sub, h, new[i0:i1], pi)
            self.Vn, self.V = self.V, new
            # the next step's X: the new values other ranks read
            self.xch.exchange(self.V, 0, N)
            self.rec.sample(k, self.V, self.syn)
        z = np.zeros(0, np.int64)
        return z, z.copy(), nsteps
