"""What a backend adds to run plastic projections (shared by the numpy and numba
plastic backends, which differ only in whether the kernels are compiled).

One process: :meth:`PlasticMixin.run` advances at most ``min_delay`` steps with the
static kernel (static synapses delivered at once), then delivers that interval's
spikes through the plastic rows.  A spike of step ``k`` reaches its targets no
earlier than step ``k + min_delay``, so nothing is late, and the ring slots of those
steps have not been read yet.  Across ranks the simulation already runs intervals of
at most ``min_delay`` steps and calls :meth:`PlasticMixin.deliver` with every rank's
spikes: static rows first, then plastic rows, in (step, gid) order on every rank.
"""

from __future__ import annotations

import numpy as np


class PlasticMixin:
    """Mixed into a backend class; ``_k`` holds the four kernels (see
    :mod:`neurosim.plasticity.kernels`)."""

    _k = None

    def setup(self):
        super().setup()
        self.plastic = self.built.plastic
        self.hist = self.built.plastic_history

    def run(self, k0, nsteps, deliver=True):
        if deliver:
            nsteps = min(nsteps, max(1, int(self.built.min_delay)))
        ks, gids, done = super().run(k0, nsteps, deliver)
        if deliver:
            self._plastic(ks, gids)
        return ks, gids, done

    def deliver(self, steps, gids):
        super().deliver(steps, gids)
        self._plastic(np.ascontiguousarray(steps, np.int64), np.ascontiguousarray(gids, np.int64))

    def _plastic(self, ks, gids):
        if not len(ks):
            return
        K, h, dt = self._k, self.hist, float(self.dt)
        if h is not None:
            j = gids - h.lo_gid
            ok = (j >= 0) & (j < len(h.gid_row))
            rows = h.gid_row[j[ok]]
            rows = rows[rows >= 0]
            if len(rows):
                extra = np.bincount(rows, minlength=len(h.length))
                if int((h.length + extra).max()) > h.step.shape[1]:
                    K.prune(h.step, h.k, h.length, self._prune_bound())
                    h.reserve(extra)
                K.post_append(
                    ks, gids, dt, h.lo_gid, h.gid_row, h.step, h.k, h.length, h.kminus,
                    h.tpost, h.tau_minus_inv,
                )  # fmt: skip
        for p in self.plastic:
            if not len(p.src_gids):
                continue
            s = p.state
            if p.model == "stdp_synapse":
                q = p.params
                K.stdp_deliver(
                    ks, gids, dt, self.L, self.NR, self.N, self.ring_flat, p.src_gids,
                    p.row_ptr, p.target, p.delay, p.weight, s["kplus"], s["tlast"],
                    q["tau_plus"], q["lambda"], q["alpha"], q["mu_plus"], q["mu_minus"],
                    q["Wmax"], p.absw, h.hrow, h.step, h.k, h.length, h.tau_minus_inv,
                )  # fmt: skip
            else:
                q = p.params
                K.tsodyks_deliver(
                    ks, gids, dt, self.L, self.NR, self.ring_flat, p.src_gids, p.row_ptr,
                    p.target, p.delay, p.weight, s["x"], s["y"], s["u"], s["tlast"],
                    q["U"], q["tau_psc"], q["tau_rec"], q["tau_fac"], p.absw,
                )  # fmt: skip

    def _prune_bound(self):
        """History entries at or before this step are needed by no future spike."""
        bound = None
        for p in self.plastic:
            if p.model != "stdp_synapse" or not len(p.src_gids):
                continue
            last = int(round(float(p.state["tlast"].min()) / self.dt)) - 1  # -1: never
            b = last - int(p.delay.max())
            bound = b if bound is None else min(bound, b)
        return -(1 << 62) if bound is None else bound

    # -- checkpoints -----------------------------------------------------------------

    def get_state(self, step):
        """The parent's state plus the plastic state (``plastic/...`` keys)."""
        out = super().get_state(step)
        for i, p in enumerate(self.plastic):
            out[f"plastic/{i}/weight"] = p.weight.copy()
            for name, arr in p.state.items():
                out[f"plastic/{i}/{name}"] = arr.copy()
        h = self.hist
        if h is not None:
            out["plastic/history/kminus"] = h.kminus.copy()
            out["plastic/history/tpost"] = h.tpost.copy()
            out["plastic/history/length"] = h.length.copy()
            out["plastic/history/step"] = h.step.copy()
            out["plastic/history/k"] = h.k.copy()
        return out

    def set_state(self, step, state):
        super().set_state(step, state)
        for i, p in enumerate(self.plastic):
            if f"plastic/{i}/weight" not in state:
                continue
            p.weight[:] = state[f"plastic/{i}/weight"]
            for name, arr in p.state.items():
                arr[:] = state[f"plastic/{i}/{name}"]
        h = self.hist
        if h is not None and "plastic/history/length" in state:
            h.kminus[:] = state["plastic/history/kminus"]
            h.tpost[:] = state["plastic/history/tpost"]
            h.length[:] = state["plastic/history/length"]
            h.step = np.array(state["plastic/history/step"], np.int64)
            h.k = np.array(state["plastic/history/k"], np.float64)


def select(base, plastic_cls, built):
    """``plastic_cls`` when ``built`` has plastic projections, else ``base``."""
    return plastic_cls if getattr(built, "plastic", None) else base
