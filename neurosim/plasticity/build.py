"""Build plastic projections into per-projection arrays by source (this rank's part).

Per plastic synapse (14 bytes): ``target`` int32 (``receptor N + neuron``, as the
static CSR), ``delay`` uint16 (steps) and ``weight`` float64.  Per source row:
``src_gids`` int64, ``row_ptr`` int64 and the presynaptic state (``stdp_synapse``:
``K+`` and the last spike time; ``tsodyks_synapse``: ``x``, ``y``, ``u`` and the last
spike time), which depends on the source's spikes only.  Per postsynaptic neuron of
an STDP projection: the trace ``K-`` and the history of its spikes (step, ``K-``)
still needed by some synapse (:class:`PostHistory`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: bytes per plastic synapse (target int32 + delay uint16 + weight float64)
BYTES_PER_SYNAPSE = 14


@dataclass
class PlasticProjection:
    """One plastic projection on this rank (see the module for the arrays)."""

    name: str
    pre: str
    post: str
    model: str
    params: dict
    pre_gid0: int
    post_n0: int  # first local neuron index of the post population
    post_lo: int  # first population-local id owned here
    src_gids: np.ndarray
    row_ptr: np.ndarray
    target: np.ndarray
    delay: np.ndarray
    weight: np.ndarray
    state: dict  # per row: float64 arrays
    absw: bool = False

    @property
    def n_synapses(self) -> int:
        return len(self.target)


@dataclass
class PostHistory:
    """Spike history of the postsynaptic neurons of STDP synapses on this rank.

    Row ``h`` of ``step`` / ``k`` holds ``length[h]`` spikes (oldest first): the step
    of each and the trace ``K-`` just after it.  ``hrow[n]`` is the row of local
    neuron ``n`` (-1: not tracked); ``gid_row[g - lo_gid]`` the row of gid ``g``.
    """

    hrow: np.ndarray
    lo_gid: int
    gid_row: np.ndarray
    tau_minus_inv: np.ndarray
    kminus: np.ndarray
    tpost: np.ndarray
    step: np.ndarray
    k: np.ndarray
    length: np.ndarray

    def reserve(self, extra):
        """Make room for ``extra[h]`` more entries per row (capacity doubles)."""
        need = int((self.length + extra).max()) if len(extra) else 0
        cap = self.step.shape[1]
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        n = len(self.length)
        step, k = np.zeros((n, cap), np.int64), np.zeros((n, cap))
        step[:, : self.step.shape[1]] = self.step
        k[:, : self.k.shape[1]] = self.k
        self.step, self.k = step, k


def build_plastic(b, items):
    """Build the plastic projections ``items`` (``(_Projection, post model)`` pairs).

    Sets ``b.plastic`` (list of :class:`PlasticProjection`) and ``b.plastic_history``
    (:class:`PostHistory` or None), and widens ``b.min_delay`` / ``b.max_delay`` and
    ``b.n_synapses`` by the plastic synapses.
    """
    from ..network.build import SpecError, _receptors

    N = b.n_neurons
    out = []
    dmin, dmax = None, None
    stdp_neurons = []
    for pj, model in items:
        proj = pj.proj
        src, tgt, _j, w, d = pj.collect()
        steps = pj.steps(d)
        if len(steps) and steps.max() > 65535:
            raise SpecError(b.spec.path, f"{proj.field}.delay", "delays above 65535 steps")
        rec, w = _receptors(proj, model, np.asarray(w, np.float64))
        neuron = pj.lq.n0 - pj.lq.lo + np.asarray(tgt, np.int64)
        order = np.argsort(src, kind="stable")
        src = np.asarray(src, np.int64)[order]
        target = (rec * N + neuron)[order].astype(np.int32)
        delay = steps[order].astype(np.uint16)
        weight = np.ascontiguousarray(w[order], np.float64)
        gids, first = np.unique(src, return_index=True)
        row_ptr = np.append(first, len(src)).astype(np.int64)
        rows = len(gids)
        syn = proj.synapse
        p = syn.params
        if syn.model == "stdp_synapse":
            state = {"kplus": np.full(rows, p["Kplus"]), "tlast": np.zeros(rows)}
            stdp_neurons.append(np.unique(neuron))
        else:
            state = {
                "x": np.full(rows, p["x"]),
                "y": np.full(rows, p["y"]),
                "u": np.full(rows, p["u"]),
                "tlast": np.zeros(rows),
            }
        out.append(
            PlasticProjection(
                name=proj.name,
                pre=proj.pre,
                post=proj.post,
                model=syn.model,
                params=dict(p),
                pre_gid0=pj.lp.gid0,
                post_n0=pj.lq.n0,
                post_lo=pj.lq.lo,
                src_gids=(gids + pj.lp.gid0).astype(np.int64),
                row_ptr=row_ptr,
                target=target,
                delay=delay,
                weight=weight,
                state=state,
            )
        )
        if len(delay):
            lo, hi = int(delay.min()), int(delay.max())
            dmin = lo if dmin is None else min(dmin, lo)
            dmax = hi if dmax is None else max(dmax, hi)
    b.plastic = out
    b.plastic_history = _history(b, stdp_neurons)
    if dmin is not None:
        b.min_delay = dmin if not b.n_synapses else min(b.min_delay, dmin)
        b.max_delay = max(b.max_delay, dmax)
    b.n_synapses += sum(p.n_synapses for p in out)


def _history(b, stdp_neurons):
    if not stdp_neurons:
        return None
    tracked = np.unique(np.concatenate(stdp_neurons))
    N = b.n_neurons
    hrow = np.full(max(N, 1), -1, np.int64)
    hrow[tracked] = np.arange(len(tracked))
    tau = np.full(len(tracked), 20.0)
    for lay in b.layouts.values():
        if lay.kind != "neuron":
            continue
        v = b.spec.populations[lay.name].params.get("tau_minus")
        if v is None:
            continue
        if not v.is_const:
            from ..network.spec import SpecError

            raise SpecError(
                b.spec.path,
                f"populations.{lay.name}.params.tau_minus",
                "expected a constant (distributions are not supported for tau_minus)",
            )
        sel = (tracked >= lay.n0) & (tracked < lay.n0 + lay.count)
        tau[sel] = v.args[0]
    gids = b.neuron_gid[tracked]
    lo = int(gids.min())
    gid_row = np.full(int(gids.max()) - lo + 1, -1, np.int64)
    gid_row[gids - lo] = np.arange(len(tracked))
    n = len(tracked)
    return PostHistory(
        hrow=hrow,
        lo_gid=lo,
        gid_row=gid_row,
        tau_minus_inv=1.0 / tau,
        kminus=np.zeros(n),
        tpost=np.full(n, -1.0),
        step=np.zeros((n, 16), np.int64),
        k=np.zeros((n, 16)),
        length=np.zeros(n, np.int64),
    )
