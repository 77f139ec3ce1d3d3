"""Graded (LTC) networks on a GPU: :mod:`neurosim.backends.ltc_numba`'s step as CUDA
kernels (``cuda/ltc.cu``), one thread per target neuron.

The synapses stay in the build's tile-major layout (:mod:`neurosim.ltc.build`); the
only addition is, per block, the position of every target's synapses in every tile
(``pos``, int32: an exclusive sum of the block's counts, checked against the build's
coarse pointers), so that a thread starts at its own synapses.  Each coefficient sum is
one chain in the build's summation order and the closed forms use the portable exp,
so the values are the numpy reference's (the tests allow 1e-5, the issue's tolerance,
and report the largest difference).  Activation tables are recomputed only when the
values they read changed, as on the CPU.

Supported integrators: closed_form, exp_midpoint, euler, rk4 and ltc_fused, in float64.
CfC populations, the adaptive reference integrator and float32 populations (dense
float32 blocks) run on the CPU backends only: they are refused with a BackendError.
"""

from __future__ import annotations

import numpy as np

from ..ltc import build as _build
from ..ltc.build import (
    B_CNT,
    B_CRS,
    B_E,
    B_IDX,
    B_N,
    B_NSYN,
    B_NT,
    B_P,
    B_TAB,
    B_W,
    B_X0,
    CB,
    T_FOLD,
    T_GAMMA,
    T_MU,
    T_N,
    T_OFF,
    T_W,
    T_X0,
)
from ..models.ltc_neuron import INTEGRATORS
from . import BackendError
from .cupy_backend import check_available, defines, make_device, read_source

#: Integrators the kernels implement (ids of :data:`neurosim.models.ltc_neuron.INTEGRATORS`).
SUPPORTED = (0, 1, 2, 3, 4)


def block_positions(built, bi):
    """Positions of block ``bi``'s synapses per (tile, target): int64 array of length
    ``nt * n + 1``; target ``i``'s synapses in tile ``t`` are the block-relative
    positions ``[pos[t * n + i], pos[t * n + i + 1])``.  Checked against the coarse
    pointers ``crs`` the CPU kernels start from."""
    r = built.blk[bi]
    n, nt = int(r[B_N]), int(r[B_NT])
    cnt = built.cnt[r[B_CNT] : r[B_CNT] + nt * n].astype(np.int64)
    pos = np.zeros(nt * n + 1, np.int64)
    np.cumsum(cnt, out=pos[1:])
    ncb = (n + CB - 1) // CB
    crs = built.crs[r[B_CRS] : r[B_CRS] + nt * (ncb + 1)].reshape(nt, ncb + 1)
    at = np.arange(nt)[:, None] * n + np.minimum(np.arange(ncb + 1) * CB, n)[None, :]
    if not np.array_equal(pos[at], crs) or pos[-1] != r[B_NSYN]:
        raise ValueError(f"LTC block {bi}: counts and coarse pointers disagree")
    return pos


def _float32_populations(b):
    """Populations integrated in float32, and those with dense float32 blocks."""
    out = []
    for name, *_ in b.pops:
        pop = getattr(getattr(b, "spec", None), "populations", {}).get(name)
        integ = (getattr(pop, "params", None) or {}).get("__integrator__") or {}
        if isinstance(integ, dict) and integ.get("dtype", "float64") != "float64":
            out.append(name)
    b_d = getattr(_build, "B_D", None)
    blk = b.blk if b.blk is not None else np.zeros((0, 0), np.int64)
    if b_d is not None and blk.shape[1] > b_d and (blk[:, b_d] >= 0).any():
        out.append("dense blocks")
    return out


class LtcCupyBackend:
    """Graded networks on a GPU (same interface as :class:`LtcNumpyBackend`)."""

    name = "cupy"

    @classmethod
    def check_available(cls):
        check_available()

    def __init__(self, built, record_plan):
        b = self.built = built
        names = dict(enumerate(INTEGRATORS))
        for name, _i0, _i1, method, *_ in b.pops:
            if method not in SUPPORTED:
                what = names.get(method, "CfC")
                raise BackendError(
                    f"backend 'cupy': population {name} uses {what}; the GPU kernels run "
                    f"{', '.join(names[m] for m in SUPPORTED)} (use --backend numba)"
                )
        unsupported = _float32_populations(b)
        if unsupported:
            raise BackendError(
                f"backend 'cupy': float32 LTC populations ({', '.join(unsupported)}) run on "
                "the CPU backends only (use --backend numba)"
            )
        self.N = b.n_neurons
        self.V = b.V.copy()
        self.syn = np.zeros((1, self.N))  # RecordPlan's interface; unused
        self.rec = record_plan
        self.cfc = {}
        self.dev = dev = make_device(0)
        self.xp = xp = dev.xp
        self.kern = dev.module("ltc.cu")
        self.cols = defines(read_source("ltc.cu"))
        up = dev.to_device
        N = self.N
        self.d_V = up(self.V)
        self.d_Vn = xp.zeros(N, np.float64)
        self.d_X = xp.zeros(N + b.n_inputs, np.float64)
        self.d_S = xp.zeros(max(int(b.n_S), 1), np.float64)
        width = max([p[2] - p[1] for p in b.pops], default=0)
        self.d_work = xp.zeros((5, max(width, 1)), np.float64)  # v, saved, k1, k2, k3
        for name in ("c_m", "g_leak", "v_leak", "I_ext"):
            setattr(self, "d_" + name, up(np.ascontiguousarray(getattr(b, name), np.float64)))

        def arr(a, dtype):
            a = np.zeros(1, dtype) if a is None or not len(a) else a
            return up(np.ascontiguousarray(a, dtype))

        wp = b.wp if b.wp is not None else np.zeros(0)
        self.w_f32 = int(np.asarray(wp).dtype == np.float32)
        self.d_wp = arr(wp, np.float32 if self.w_f32 else np.float64)
        self.d_idx = arr(b.idx, np.uint16)
        self.d_Ep = arr(b.Ep, np.float64)
        self.d_gp = arr(b.gp, np.float64)
        self.d_mp = arr(b.mp, np.float64)
        self.d_gptr = up(np.ascontiguousarray(b.gptr, np.int64))
        self.d_gsrc = arr(b.gsrc, np.int32)
        self.d_g = arr(b.g, np.float64)
        # per population: its blocks as rows of LTC_BCOLS columns, their E and positions
        c = self.cols
        pos_parts, off = [], 0
        self.pop_tables = []
        tab_i = b.tab_i if b.tab_i is not None else np.zeros((0, 4), np.int64)
        for pi, _p in enumerate(b.pops):
            rows, E = [], []
            for bi in b.pop_blocks[pi]:
                r = b.blk[bi]
                pos = block_positions(b, bi)
                if pos[-1] >= (1 << 31):
                    raise ValueError("an LTC block of more than 2**31 synapses")
                tab = int(r[B_TAB])
                row = np.zeros(c["LTC_BCOLS"], np.int64)
                row[c["LB_TAB"]] = tab
                row[c["LB_IDX"]] = r[B_IDX]
                row[c["LB_W"]] = r[B_W]
                row[c["LB_E"]] = r[B_E]
                row[c["LB_P"]] = r[B_P]
                row[c["LB_BASE"]] = tab_i[tab, T_OFF] if tab >= 0 else r[B_X0]
                row[c["LB_NT"]] = r[B_NT]
                row[c["LB_POS"]] = off
                rows.append(row)
                E.append(b.blk_E[bi])
                pos_parts.append(pos.astype(np.int32))
                off += len(pos)
            nb = len(rows)
            rows = np.array(rows, np.int64).reshape(-1, c["LTC_BCOLS"])
            tabs = sorted({int(b.blk[bi, B_TAB]) for bi in b.pop_blocks[pi]} - {-1})
            self.pop_tables.append(
                (
                    tabs,
                    up(rows if nb else np.zeros((1, c["LTC_BCOLS"]), np.int64)),
                    up(np.array(E if nb else [0.0], np.float64)),
                    nb,
                )
            )
        self.d_pos = up(np.concatenate(pos_parts) if pos_parts else np.zeros(1, np.int32))
        self.tab_i = tab_i
        self.tab_f = b.tab_f if b.tab_f is not None else np.zeros((0, 3))
        self.stale = np.ones(len(tab_i), bool)
        self.d_rec_nidx = up(np.ascontiguousarray(record_plan.nidx, np.int64))
        self.d_rec_row = up(np.ascontiguousarray(record_plan.row, np.int64))
        self.d_rec_every = up(np.ascontiguousarray(record_plan.every, np.int64))
        self._rec_every = np.unique(record_plan.every)
        self.d_rec_buf = xp.zeros((0, record_plan.n_entries), np.float64)

    # ------------------------------------------------------------------ kernels

    def _mark_stale(self, i0, i1):
        ti = self.tab_i
        if len(ti):
            self.stale |= (ti[:, T_X0] < i1) & (i0 < ti[:, T_X0] + ti[:, T_N])

    def _tables(self, tabs):
        """Recompute the stale activation tables among ``tabs``."""
        for t in tabs:
            if not self.stale[t]:
                continue
            self.stale[t] = False
            ti, tf = self.tab_i[t], self.tab_f[t]
            n = int(ti[T_N])
            self.kern.launch(
                "k_ltc_table",
                n,
                n,
                self.d_X,
                self.d_S,
                int(ti[T_X0]),
                int(ti[T_OFF]),
                float(tf[T_GAMMA]),
                float(tf[T_MU]),
                float(tf[T_W]),
                int(ti[T_FOLD]),
            )

    def _stage(self, op, hh, pi, i0, i1, v, out):
        """One coefficient evaluation of population ``pi`` and the update ``op``."""
        tabs, d_blocks, d_E, nb = self.pop_tables[pi]
        self._tables(tabs)
        n = i1 - i0
        self.kern.launch(
            "k_ltc_stage",
            n,
            n,
            op,
            i0,
            hh,
            v,
            out,
            self.d_X,
            self.d_S,
            nb,
            d_blocks,
            d_E,
            self.d_pos,
            self.d_idx,
            self.d_wp,
            self.w_f32,
            self.d_Ep,
            self.d_gp,
            self.d_mp,
            self.d_gptr,
            self.d_gsrc,
            self.d_g,
            self.d_c_m,
            self.d_g_leak,
            self.d_v_leak,
            self.d_I_ext,
        )

    def _axpy(self, out, x, c, y):
        self.kern.launch("k_ltc_axpy", out.shape[0], out.shape[0], out, x, c, y)

    def _advance(self, pi, i0, i1, method, substeps, h, out):
        """New values ``out`` of neurons [i0, i1) after a step of length ``h``
        (:func:`neurosim.backends.ltc_numba._advance`, stage by stage); X is left at the
        start-of-step values."""
        n = i1 - i0
        X = self.d_X
        Xp = X[i0:i1]
        w = self.d_work
        copy_v = substeps > 1 or method in (1, 3)
        v = w[0, :n] if copy_v else Xp
        if copy_v:
            w[1, :n] = Xp  # saved
        hs = h / substeps
        for sub in range(substeps):
            if copy_v:
                v[...] = Xp
            if method in (0, 1):
                self._stage(0, hs if method == 0 else 0.5 * hs, pi, i0, i1, v, out)
                if method == 1:
                    Xp[...] = out
                    self._mark_stale(i0, i1)
                    self._stage(0, hs, pi, i0, i1, v, out)
            elif method == 2:
                self._stage(1, hs, pi, i0, i1, v, out)
                self._axpy(out, v, hs, out)
            elif method == 3:
                k1, k2, k3 = w[2, :n], w[3, :n], w[4, :n]
                self._stage(1, hs, pi, i0, i1, v, k1)
                self._axpy(Xp, v, 0.5 * hs, k1)
                self._mark_stale(i0, i1)
                self._stage(1, hs, pi, i0, i1, v, k2)
                self._axpy(Xp, v, 0.5 * hs, k2)
                self._mark_stale(i0, i1)
                self._stage(1, hs, pi, i0, i1, v, k3)
                self._axpy(Xp, v, hs, k3)
                self._mark_stale(i0, i1)
                self._stage(1, hs, pi, i0, i1, v, out)
                self.kern.launch("k_ltc_rk4", n, n, out, v, hs / 6.0, k1, k2, k3)
            else:
                self._stage(2, hs, pi, i0, i1, v, out)
            if sub < substeps - 1:
                Xp[...] = out
                self._mark_stale(i0, i1)
        if copy_v:
            Xp[...] = w[1, :n]
            self._mark_stale(i0, i1)

    # ------------------------------------------------------------------ the loop

    def run(self, k0, nsteps):
        """Advance steps ``[k0, k0 + nsteps)``: host V (N,) float64 (mV) goes out
        first, comes back at the end with this chunk's samples in ``rec``.

        Returns
        -------
        (empty int64 array, empty int64 array, nsteps) : graded networks have no spikes.
        """
        b, xp, dev = self.built, self.xp, self.dev
        rec = self.rec
        rec.begin(k0, nsteps)
        N = self.N
        n_e = rec.n_entries
        if n_e and self.d_rec_buf.shape[0] < nsteps:
            self.d_rec_buf = xp.zeros((nsteps, n_e), np.float64)
        # the host V is the truth between runs (a checkpoint restores it in place)
        self.d_V = dev.to_device(np.ascontiguousarray(self.V, np.float64))
        if b.n_inputs:
            U = np.stack([b.inputs_at(k) for k in range(k0, k0 + nsteps)])
            d_U = dev.to_device(np.ascontiguousarray(U, np.float64))
        for k in range(k0, k0 + nsteps):
            self.d_X[:N] = self.d_V
            if b.n_inputs:
                self.d_X[N:] = d_U[k - k0]
            self.stale[:] = True
            h = b.step_length(k)
            for pi, (_name, i0, i1, method, sub, _rtol, _atol) in enumerate(b.pops):
                self._advance(pi, i0, i1, method, sub, h, self.d_Vn[i0:i1])
            self.d_V, self.d_Vn = self.d_Vn, self.d_V
            if n_e and ((k + 1) % self._rec_every == 0).any():
                self.kern.launch(
                    "k_record",
                    n_e,
                    n_e,
                    k,
                    k0,
                    self.d_rec_nidx,
                    self.d_rec_row,
                    self.d_rec_every,
                    self.d_V,
                    self.d_V,
                    N,
                    self.d_rec_buf,
                )
        if n_e:
            rows = max(((k0 + nsteps) // g[3] - k0 // g[3] for g in rec.groups), default=0)
            if rows:
                rec.buf[:rows] = dev.to_host(self.d_rec_buf[:rows])
        self.V[:] = dev.to_host(self.d_V)
        z = np.zeros(0, np.int64)
        return z, z.copy(), nsteps

    def sync_to_host(self):
        pass  # V is copied back after every run

    def sync_to_device(self):
        pass  # V is copied out at the start of every run
