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
    :mod:`neurosim.plasticity.kernels`).

    ``weight_recorder`` (set by the simulation, or None) samples weights at the end of
    its sample steps: the delivery of an interval's spikes is cut at each sample step,
    so that a sample stamped ``t`` holds the updates of every presynaptic spike up to
    ``t`` -- whatever the interval, hence the same on any number of ranks.
    """

    _k = None
    weight_recorder = None

    def setup(self):
        super().setup()
        from .kernels import decay_table, table_length

        self.plastic = self.built.plastic
        self.hist = self.built.plastic_history
        # decay tables of the STDP kernel: one per projection (tau_plus) and one per
        # value of tau_minus (tm_row: the row of each neuron)
        dt, T = float(self.dt), table_length(float(self.dt))
        self._tab_plus = [
            decay_table(dt, p.params["tau_plus"], T) if "tau_plus" in p.params else None
            for p in self.plastic
        ]
        h = self.hist
        if h is not None:
            inv, self._tm_row = np.unique(h.tau_minus_inv, return_inverse=True)
            self._tm_row = self._tm_row.astype(np.int64)
            self._tab_minus = np.stack([decay_table(dt, x, T, inverse=True) for x in inv])
        self._k_end = 0  # steps [.., _k_end) have run
        self._k_plastic = 0  # steps [.., _k_plastic) have been delivered and sampled

    def run(self, k0, nsteps, deliver=True):
        if deliver:
            nsteps = min(nsteps, max(1, int(self.built.min_delay)))
        ks, gids, done = super().run(k0, nsteps, deliver)
        self._k_end = k0 + done
        if deliver:
            self._plastic(ks, gids)
        return ks, gids, done

    def deliver(self, steps, gids):
        super().deliver(steps, gids)
        self._plastic(np.ascontiguousarray(steps, np.int64), np.ascontiguousarray(gids, np.int64))

    def set_state(self, step, state):
        self._k_end = self._k_plastic = int(step)
        self._set_plastic_state(step, state)

    def _plastic(self, ks, gids):
        """Deliver the spikes of steps ``[_k_plastic, _k_end)`` (sorted by step, then
        gid) through the plastic rows, sampling weights at the sample steps among them."""
        k_from, k_to = self._k_plastic, self._k_end
        self._k_plastic = k_to
        rec = self.weight_recorder
        due = rec.due(k_from, k_to) if rec is not None else ()
        if not len(ks) and not len(due):
            return
        if len(ks):
            self._post_history(ks, gids)
        a = 0
        for s in due:
            b = int(np.searchsorted(ks, s, side="right"))
            if b > a:
                self._through_rows(ks[a:b], gids[a:b])
            a = b
            rec.sample(s)
        if a < len(ks):
            self._through_rows(ks[a:], gids[a:])

    def _post_history(self, ks, gids):
        K, h, dt = self._k, self.hist, float(self.dt)
        if h is None:
            return
        j = gids - h.lo_gid
        ok = (j >= 0) & (j < len(h.gid_row))
        rows = h.gid_row[j[ok]]
        rows = rows[rows >= 0]
        if not len(rows):
            return
        extra = np.bincount(rows, minlength=len(h.length))
        if int((h.length + extra).max()) > h.capacity:
            K.prune(h.hist, h.length, self._prune_bound())
            h.reserve(extra)
        K.post_append(
            ks, gids, dt, h.lo_gid, h.gid_row, h.hist, h.length, h.kminus, h.tpost,
            h.tau_minus_inv,
        )  # fmt: skip

    def _through_rows(self, ks, gids):
        K, h, dt = self._k, self.hist, float(self.dt)
        for p, tab in zip(self.plastic, self._tab_plus, strict=True):
            if not len(p.src_gids):
                continue
            s, q = p.state, p.params
            if h is not None and "tau_plus" in q:
                K.stdp_deliver(
                    ks, gids, dt, self.L, self.NR, self.N, self.ring_flat, p.src_gids,
                    p.row_ptr, p.target, p.delay, p.weight, s["kplus"], s["tlast"],
                    p.kplus_syn, p.pairing, q["tau_plus"], q["lambda"], q["alpha"],
                    q["mu_plus"], q["mu_minus"], q["Wmax"], p.absw, h.hist, h.tau_minus_inv,
                    tab, self._tab_minus, self._tm_row,
                )  # fmt: skip
            else:
                K.tsodyks_deliver(
                    ks, gids, dt, self.L, self.NR, self.ring_flat, p.src_gids, p.row_ptr,
                    p.target, p.delay, p.weight, s["x"], s["y"], s["u"], s["tlast"],
                    q["U"], q["tau_psc"], q["tau_rec"], q["tau_fac"], p.absw,
                )  # fmt: skip

    def _prune_bound(self):
        """History entries at or before this step are needed by no future spike."""
        bound = None
        for p in self.plastic:
            if "tau_plus" not in p.params or not len(p.src_gids):
                continue
            last = int(round(float(p.state["tlast"].min()) / self.dt)) - 1  # -1: never
            b = last - int(p.delay.max())
            bound = b if bound is None else min(bound, b)
        return -(1 << 62) if bound is None else bound

    # -- checkpoints -----------------------------------------------------------------

    def get_state(self, step):
        """The parent's state plus the plastic state, in forms that do not depend on
        the partition (:func:`merge_state` joins every rank's):
        ``plastic/<i>/{weight, post, kplus_syn}`` in synapse-index order (this rank's
        block), ``plastic/<i>/src`` and ``plastic/<i>/row/<name>`` per source row,
        ``plastic/history/{gid, kminus, tpost, length, hist}`` per local neuron."""
        out = super().get_state(step)
        sort = self._k.bucket_order
        for i, p in enumerate(self.plastic):
            o = p.order(sort)
            out[f"plastic/{i}/weight"] = p.weight[o]
            post = p.target[o] % max(p.n_neurons, 1) - (p.post_n0 - p.post_lo)
            out[f"plastic/{i}/post"] = post.astype(np.int32)
            if len(p.kplus_syn):
                out[f"plastic/{i}/kplus_syn"] = p.kplus_syn[o]
            out[f"plastic/{i}/src"] = p.src_gids.copy()
            for name, arr in p.state.items():
                out[f"plastic/{i}/row/{name}"] = arr.copy()
        h = self.hist
        if h is not None:
            out["plastic/history/gid"] = np.asarray(self.built.neuron_gid, np.int64)
            out["plastic/history/kminus"] = h.kminus.copy()
            out["plastic/history/tpost"] = h.tpost.copy()
            out["plastic/history/length"] = h.length.copy()
            out["plastic/history/hist"] = h.hist.copy()
        return out

    def _set_plastic_state(self, step, state):
        """Restore :meth:`get_state`'s plastic part (merged over any number of ranks by
        :func:`merge_state`): each rank takes its block of synapse indices, its source
        rows and its neurons' histories."""
        from ..io.checkpoint import CheckpointError

        super().set_state(step, state)
        if not any(k.startswith("plastic/") for k in state):
            return
        sort = self._k.bucket_order
        for i, p in enumerate(self.plastic):
            post = np.asarray(state[f"plastic/{i}/post"])
            a = int(np.searchsorted(post, p.post_lo))
            n = p.n_synapses
            o = p.order(sort)
            mine = p.target[o] % max(p.n_neurons, 1) - (p.post_n0 - p.post_lo)
            if a + n > len(post) or not np.array_equal(post[a : a + n], mine):
                raise CheckpointError(
                    f"the checkpoint's synapses of {p.name!r} differ from the network's"
                )
            p.weight[o] = state[f"plastic/{i}/weight"][a : a + n]
            if len(p.kplus_syn):
                p.kplus_syn[o] = state[f"plastic/{i}/kplus_syn"][a : a + n]
            src = np.asarray(state[f"plastic/{i}/src"])
            idx = np.minimum(np.searchsorted(src, p.src_gids), max(len(src) - 1, 0))
            if len(p.src_gids) and not np.array_equal(src[idx], p.src_gids):
                raise CheckpointError(f"the checkpoint lacks source rows of {p.name!r}")
            for name, arr in p.state.items():
                arr[:] = state[f"plastic/{i}/row/{name}"][idx]
        h = self.hist
        if h is not None:
            gid = np.asarray(state["plastic/history/gid"])
            mine = np.asarray(self.built.neuron_gid, np.int64)
            idx = np.minimum(np.searchsorted(gid, mine), max(len(gid) - 1, 0))
            if len(mine) and not np.array_equal(gid[idx], mine):
                raise CheckpointError("the checkpoint lacks spike histories of neurons")
            h.kminus[:] = state["plastic/history/kminus"][idx]
            h.tpost[:] = state["plastic/history/tpost"][idx]
            h.length[:] = state["plastic/history/length"][idx]
            h.hist = np.ascontiguousarray(state["plastic/history/hist"][idx], np.float64)


def merge_state(parts):
    """Join the plastic state of every rank (:meth:`PlasticMixin.get_state`, in rank
    order) into arrays that do not depend on the partition: synapses in synapse-index
    order (the ranks' blocks in order), source rows by gid (a source's state is the same
    on every rank that has a row for it), histories by gid (padded to the largest
    capacity).  Returns ``{key: array}``; empty without plastic state."""
    first = parts[0]
    out = {}
    i = 0
    while f"plastic/{i}/weight" in first:
        for name in ("weight", "post", "kplus_syn"):
            key = f"plastic/{i}/{name}"
            if key in first:
                out[key] = np.concatenate([x[key] for x in parts])
        src = np.concatenate([x[f"plastic/{i}/src"] for x in parts])
        gids, at = np.unique(src, return_index=True)
        out[f"plastic/{i}/src"] = gids
        for key in [k for k in first if k.startswith(f"plastic/{i}/row/")]:
            out[key] = np.concatenate([x[key] for x in parts])[at]
        i += 1
    if "plastic/history/gid" in first:
        gid = np.concatenate([x["plastic/history/gid"] for x in parts])
        gids, at = np.unique(gid, return_index=True)
        out["plastic/history/gid"] = gids
        for name in ("kminus", "tpost", "length"):
            key = f"plastic/history/{name}"
            out[key] = np.concatenate([x[key] for x in parts])[at]
        cap = max(x["plastic/history/hist"].shape[1] for x in parts)
        rows = []
        for x in parts:
            hh = x["plastic/history/hist"]
            pad = np.zeros((hh.shape[0], cap, 2))
            pad[:, :, 0] = -np.inf
            pad[:, : hh.shape[1]] = hh
            rows.append(pad)
        out["plastic/history/hist"] = np.concatenate(rows)[at]
    return out


def select(base, plastic_cls, built):
    """``plastic_cls`` when ``built`` has plastic projections, else ``base``."""
    return plastic_cls if getattr(built, "plastic", None) else base
