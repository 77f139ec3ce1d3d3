"""Weights of plastic projections for the recording: samples of chosen synapses, and
every synapse's final weight.

A projection's synapses are numbered in (target, source) order, population-local ids,
multapses in the order of their draws: the *synapse index*.  Ranks own blocks of
targets in rank order, so rank ``r`` holds the indices ``[offset_r, offset_r + n_r)``
and a selection (``record: {weights: [{projection, synapses, interval}]}``) means the
same synapses on any number of ranks.  No h5py here: :mod:`neurosim.io.weights`
writes what this module hands it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass
class _Projection:
    """Where this rank's synapses of one plastic projection sit in the global order
    (the order itself is computed when needed: 16 bytes a synapse while it lives)."""

    p: object  # neurosim.plasticity.build.PlasticProjection
    offset: int  # synapse index of this rank's first synapse
    total: int  # synapses on every rank


@dataclass
class _Entry:
    """One ``record.weights`` entry on this rank."""

    name: str
    proj: _Projection
    every: int  # steps between samples
    index: np.ndarray  # synapse indices recorded here (int64, ascending)
    where: np.ndarray  # their storage positions
    pre: np.ndarray  # their population-local ids
    post: np.ndarray


class WeightRecorder:
    """Samples and final weights of the plastic projections of one rank.

    Parameters
    ----------
    built : neurosim.network.build.Built
    spec : NetworkSpec
        ``spec.record_weights``: the entries to sample.
    comm : neurosim.parallel.comm communicator
        Every rank builds its recorder at once (one allgather per projection).
    sort : callable, optional
        :func:`neurosim.plasticity.kernels.bucket_order` (the backend's, compiled
        where it compiles); default numpy's stable sort.

    Raises
    ------
    neurosim.network.spec.SpecError
        A selection reaches past the projection's synapses (the same on every rank).
    """

    def __init__(self, built, spec, comm, sort=None):
        from ..models import get_model
        from ..network.spec import SpecError

        self.dt = float(built.dt)
        self.sort = sort
        self.unit = {
            p.name: get_model(built.layouts[p.post].model).weight_unit for p in built.plastic
        }
        self.projections = {}
        for p in built.plastic:
            n = p.n_synapses
            counts = comm.allgather(int(n)) if comm.size > 1 else [n]
            self.projections[p.name] = _Projection(
                p, int(sum(counts[: comm.rank])), int(sum(counts))
            )
        self.entries = []
        for r in getattr(spec, "record_weights", []) or []:
            pr = self.projections[r.projection]
            sel = r.synapses
            if isinstance(sel, tuple):
                start, stop, step = sel
                stop = pr.total if stop is None else stop
                if stop > pr.total or start >= stop:
                    raise SpecError(
                        spec.path,
                        f"{r.field}.synapses",
                        f"expected indices below {pr.total} (the synapses of "
                        f"{r.projection!r}), got {start}:{stop}",
                    )
                a = max(start, pr.offset)
                a = start + -(-(a - start) // step) * step  # first index >= a on the grid
                b = min(stop, pr.offset + pr.p.n_synapses)
                index = np.arange(a, b, step, dtype=np.int64) if a < b else np.zeros(0, np.int64)
            else:
                sel = np.asarray(sel, np.int64)
                if len(sel) and sel.max() >= pr.total:
                    raise SpecError(
                        spec.path,
                        f"{r.field}.synapses",
                        f"expected indices below {pr.total} (the synapses of "
                        f"{r.projection!r}), got {int(sel.max())}",
                    )
                index = sel[(sel >= pr.offset) & (sel < pr.offset + pr.p.n_synapses)]
            every = int(round(r.interval / self.dt))
            where = pr.p.order(sort)[index - pr.offset]
            pre, post = pr.p.ids_at(where)
            self.entries.append(_Entry(r.projection, pr, every, index, where, pre, post))
        self._pending = {e.name: [] for e in self.entries}

    # -- samples -----------------------------------------------------------------------

    def due(self, k_from, k_to):
        """Sample steps in ``[k_from, k_to)``, ascending (a sample of step ``s`` is
        stamped ``(s + 1) dt``, at multiples of the entry's interval)."""
        steps = []
        for e in self.entries:
            first = -(-(k_from + 1) // e.every) * e.every - 1
            steps.extend(range(first, k_to, e.every))
        return sorted(set(steps))

    def sample(self, step):
        """Take the samples due at the end of ``step`` (after its spikes' updates)."""
        for e in self.entries:
            if (step + 1) % e.every == 0:
                w = e.proj.p.signed(e.where)
                self._pending[e.name].append(((step + 1) * self.dt, w))

    def take(self):
        """Samples since the last call: ``{projection: (times (T,), weights (T, M))}``."""
        out = {}
        for name, parts in self._pending.items():
            if parts:
                t = np.array([x[0] for x in parts])
                out[name] = (t, np.stack([x[1] for x in parts]))
                self._pending[name] = []
        return out

    def discard(self):
        """Drop the samples not taken yet (a run cut back to a checkpoint)."""
        self._pending = {e.name: [] for e in self.entries}

    # -- the file ------------------------------------------------------------------------

    def layout(self):
        """What the writer creates: one dict per plastic projection (name, model,
        params as JSON, pre / post population, weight unit, total synapses, and the recorded
        synapses of this rank: ``index``, ``pre``, ``post``, ``interval`` (ms), or None)."""
        rec = {e.name: e for e in self.entries}
        out = []
        for name, pr in self.projections.items():
            p = pr.p
            e = rec.get(name)
            entry = {
                "name": name,
                "model": p.model,
                "params": json.dumps(p.params, sort_keys=True),
                "pre": p.pre,
                "post": p.post,
                "unit": self.unit[name],
                "total": pr.total,
                "record": None,
            }
            if e is not None:
                entry["record"] = {
                    "index": e.index,
                    "pre": e.pre,
                    "post": e.post,
                    "interval": e.every * self.dt,
                }
            out.append(entry)
        return out

    def final(self, block=1 << 18):
        """Every synapse of this rank, in synapse-index order, by blocks (the order
        costs 4 bytes a synapse while it is written, the blocks ``block`` synapses).

        Returns
        -------
        dict of projection -> (n, blocks)
            ``n`` synapses; ``blocks()`` yields ``(pre, post, weight)``: int32, int32,
            float64 (the network file's sign convention), consecutive.
        """
        out = {}
        for name, pr in self.projections.items():
            p = pr.p

            def blocks(p=p):
                order = p.order(self.sort)
                for a in range(0, len(order), block):
                    where = order[a : a + block]
                    pre, post = p.ids_at(where)
                    yield pre.astype(np.int32), post.astype(np.int32), p.signed(where)

            out[name] = (p.n_synapses, blocks)
        return out
