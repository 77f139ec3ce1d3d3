"""The numpy backend: the readable reference and the oracle of the tests.

It advances the network one step at a time with vectorised numpy, in exactly the
arithmetic order of the numba kernel (so both give the same bits).  It never imports
numba.  Per step ``k`` (see :mod:`neurosim.models.base` for the neuron part):

1. Poisson synapses add ``count * w`` to ring slot ``k``, the count drawn for their
   emission step ``k - D`` (so that nothing a rank draws waits in the ring);
2. current synapses sum ``w * I`` into ``I_stim``;
3. neurons update (closed form), read and clear ring slot ``k``, threshold;
4. spikes of step ``k`` (neurons and spike generators, ascending gid) are delivered
   to ring slots ``k + D`` through the CSR, synapse by synapse in CSR order (across
   ranks: gathered from every rank first, then delivered in the same order);
5. samples of recorded states are taken at the end of the step.

The state, the ring buffer and the per-neuron propagator rows have the simulation's
dtype (``simulation.dtype``, float64 by default); in float32 every operation is a
float32 one (Python scalars do not widen numpy arrays), with the float32 portable exp.
"""

from __future__ import annotations

import numpy as np

from .. import rng
from . import pexp as _pe
from .base import HostBackend


def pexp(x):
    """Portable exp (see :mod:`neurosim.backends.pexp`) on float64 arrays."""
    x = np.asarray(x, np.float64)
    n = np.floor(x * _pe.INV_LN2 + 0.5)
    r = (x - n * _pe.LN2_HI) - n * _pe.LN2_LO
    p = np.full_like(x, _pe.COEFFS[0])
    for c in _pe.COEFFS[1:]:
        p = p * r + c
    out = p * np.power(2.0, n)
    return np.where(x < _pe.X_MIN, 0.0, out)


def pexp32(x):
    """Portable exp in float32 arithmetic (``simulation.dtype: float32``) on float32
    arrays: the expression of the numba kernels, operation by operation."""
    f = np.float32
    x = np.asarray(x, f)
    n = np.floor(x * f(_pe.INV_LN2_F32) + f(0.5))
    r = (x - n * f(_pe.LN2_HI_F32)) - n * f(_pe.LN2_LO_F32)
    p = np.full_like(x, f(_pe.COEFFS_F32[0]))
    for c in _pe.COEFFS_F32[1:]:
        p = p * r + f(c)
    e = np.clip(n + f(127.0), f(0.0), f(255.0)).astype(np.int32)
    out = p * (e << 23).view(f)
    return np.where(x < f(_pe.X_MIN_F32), f(0.0), out)


#: Synaptic states below this magnitude become +0.0 (no denormal numbers), per dtype
FLUSH = {np.dtype(np.float64): _pe.FLUSH_F64, np.dtype(np.float32): _pe.FLUSH_F32}


class NumpyBackend(HostBackend):
    """Reference backend (vectorised numpy, one step per Python iteration)."""

    name = "numpy"

    def setup(self):
        self.refresh_propagators()
        self.cdf_flat = None

    def refresh_propagators(self):
        # per-neuron copies of the propagator rows: plain vector arithmetic per step,
        # the float ones in the state's dtype
        f = self.fdtype
        self.pn = {
            k: v[self.built.prow].astype(f) if v.dtype.kind == "f" else v[self.built.prow]
            for k, v in self.prop.items()
        }
        self._exp = pexp32 if f == np.float32 else pexp

    def run_steps(self, k0, nsteps, amp, amp_base, rec, deliver=True):
        spikes_k, spikes_g = [], []
        for k in range(k0, k0 + nsteps):
            self._poisson(k)
            istim = self._currents(k, amp, amp_base)
            fired = self._neurons(k, istim)
            gids = self._sources(k, fired)
            if deliver:
                self._deliver(k, gids)
            spikes_k.append(np.full(len(gids), k, np.int64))
            spikes_g.append(gids)
            rec.sample(k, self.V, self.syn)
        if not spikes_k:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
        return np.concatenate(spikes_k), np.concatenate(spikes_g), nsteps

    # -- steps -----------------------------------------------------------------------

    def _poisson(self, k):
        b = self.built
        if not len(b.pois_target):
            return
        pi = self.pois
        g = b.pois_gen
        e = k - b.pois_delay.astype(np.int64)  # emission step of what arrives now
        active = (pi.start[g] <= e) & (e < pi.stop[g])
        idx = np.nonzero(active)[0]
        if not len(idx):
            return
        gg = g[idx]
        parts = pi.parts[gg].astype(np.uint64)
        ee = e[idx].astype(np.uint64)
        count = np.zeros(len(idx), np.int64)
        for p in range(int(parts.max())):
            use = np.uint64(p) < parts
            u = rng.uniform(b.pois_key[idx], ee * parts + np.uint64(p))
            # first index with cdf >= u (the numba kernel scans the same table)
            c = (pi.cdf[gg] < u[:, None]).sum(axis=1)
            count += np.where(use, c, 0)
        hit = np.nonzero(count)[0]
        j = idx[hit]
        slots = (k % self.L) * self.NR + b.pois_target[j].astype(np.int64)
        vals = count[hit].astype(np.float64) * b.pois_weight[j].astype(np.float64)
        # rounded to the ring's dtype before the add (a no-op in float64)
        np.add.at(self.ring_flat, slots, vals.astype(self.fdtype))

    def _currents(self, k, amp, amp_base):
        istim = np.zeros(self.N, self.fdtype)
        ci = self.cur
        if ci.empty:
            return istim
        b = self.built
        a = amp[ci.channel, k - b.cur_delay - amp_base]
        np.add.at(istim, b.cur_target, (b.cur_weight * a).astype(self.fdtype))
        return istim

    def _neurons(self, k, istim):
        pn = self.pn
        N = self.N
        V, syn = self.V, self.syn
        slot = (k % self.L) * self.NR
        inp = self.ring_flat[slot : slot + self.NR].reshape(2, N).copy()
        self.ring_flat[slot : slot + self.NR] = 0.0
        free = self.refr == 0

        f = self.fdtype
        # membrane, current-based
        acc = np.zeros(N, f)
        for s in range(syn.shape[0]):
            acc = acc + pn["P_Vsyn"][:, s] * syn[s]
        i_tot = pn["I_e"] + istim
        v_cur = pn["E_L"] + pn["P_VV"] * (V - pn["E_L"]) + acc + pn["P_VI"] * i_tot
        # membrane, conductance-based
        cond = pn["membrane"] == 1
        if cond.any():
            gsum = np.zeros(N, f)
            ge = np.zeros(N, f)
            for c in range(pn["G_avg"].shape[1]):
                gbar = np.zeros(N, f)
                for s in range(syn.shape[0]):
                    gbar = gbar + pn["G_avg"][:, c, s] * syn[s]
                gsum = gsum + gbar
                ge = ge + gbar * pn["E_rev"][:, c]
            gtot = pn["g_L"] + gsum
            with np.errstate(divide="ignore", invalid="ignore"):
                vinf = (pn["g_L"] * pn["E_L"] + ge + i_tot) / gtot
                # -dt / C_m is one division per neuron that a shared C_m hoists out of
                # the compiled loops (the other backends round the same way)
                v_cond = vinf + (V - vinf) * self._exp(gtot * (f.type(-self.dt) / pn["C_m"]))
            v_new = np.where(cond, v_cond, v_cur)
        else:
            v_new = v_cur
        # refractory: held (current-based), clamped to V_reset (conductance-based: NEST's
        # iaf_cond_* set V_m = V_reset in every refractory step)
        v_new = np.where(free, v_new, np.where(cond, pn["V_reset"], V))
        self.refr = np.where(free, self.refr, self.refr - 1).astype(np.int32)

        # synaptic states: exact decay, then the input of this step
        new = np.zeros_like(syn)
        for s in range(syn.shape[0]):
            acc = np.zeros(N, f)
            for t in range(syn.shape[0]):
                acc = acc + pn["P_syn"][:, s, t] * syn[t]
            new[s] = np.where(np.abs(acc) < FLUSH[f], 0.0, acc)
        rows = np.arange(N)
        for r in range(2):
            st = pn["rec_state"][:, r]
            x = pn["rec_gain"][:, r] * inp[r]
            to_v = st < 0
            v_new = np.where(to_v & free, v_new + x, v_new)
            ok = ~to_v
            new[st[ok], rows[ok]] = new[st[ok], rows[ok]] + x[ok]
        v_new = np.where(free, np.maximum(v_new, pn["V_min"]), v_new)  # NEST: free steps
        fired = v_new >= pn["V_th"]
        v_new = np.where(fired, pn["V_reset"], v_new)
        self.refr = np.where(fired, pn["ref_ticks"], self.refr).astype(np.int32)
        self.V[:] = v_new
        self.syn[:] = new
        return np.nonzero(fired)[0]

    def _sources(self, k, fired):
        gids = self.neuron_gid[fired]
        a, b = np.searchsorted(self.sg_steps, [k, k + 1])
        if b > a:
            gids = np.sort(np.concatenate([gids, self.sg_gids[a:b]]), kind="stable")
        return gids

    def deliver(self, steps, gids):
        for k in np.unique(steps):
            self._deliver(int(k), gids[steps == k])

    def _deliver(self, k, gids):
        if not len(gids):
            return
        b = self.built
        # CSR rows of the sources that have synapses here
        r = np.searchsorted(b.src_gids, gids)
        ok = r < len(b.src_gids)
        ok[ok] = b.src_gids[r[ok]] == gids[ok]
        r = r[ok]
        starts, ends = b.row_ptr[r], b.row_ptr[r + 1]
        lens = ends - starts
        if not lens.sum():
            return
        idx = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
        slots = ((k + b.delay[idx].astype(np.int64)) % self.L) * self.NR + b.target[idx]
        np.add.at(self.ring_flat, slots, b.weight[idx].astype(self.fdtype))
