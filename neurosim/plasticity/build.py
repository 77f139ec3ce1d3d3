"""Build plastic projections into per-projection arrays by source (this rank's part).

Per plastic synapse (14 bytes): ``target`` int32 (``receptor N + neuron``, as the
static CSR), ``delay`` uint16 (steps) and ``weight`` float64; ``stdp_nn_pre_centered_synapse``
adds its own trace ``K+`` (float64, 22 bytes in all), which the target's spikes reset.
Per source row: ``src_gids`` int64, ``row_ptr`` int64 and the presynaptic state (STDP:
``K+`` and the last spike time; ``tsodyks_synapse``: ``x``, ``y``, ``u`` and the last
spike time), which depends on the source's spikes only.  Per postsynaptic neuron of
an STDP projection: the trace ``K-`` and the history of its spikes (step, ``K-``)
still needed by some synapse (:class:`PostHistory`).

Within a source row the synapses keep their generation order (target by target, and
by ordinal within a target), so sorting a projection's synapses stably by (target,
source) gives an order that does not depend on the partition: the *synapse index*
of the files (:mod:`neurosim.plasticity.record`).
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
    pairing: int = 0  # STDP: kernels.PAIRING code
    kplus_syn: np.ndarray = None  # per synapse (stdp_nn_pre_centered_synapse), else empty
    in_port: int = -1  # receptor stored as |w| with a negative sign in files, or -1
    n_neurons: int = 0  # local neurons of the rank (target = receptor N + neuron)

    def __post_init__(self):
        if self.kplus_syn is None:
            self.kplus_syn = np.zeros(0)

    @property
    def n_synapses(self) -> int:
        return len(self.target)

    def ids(self):
        """Population-local source and target id of each synapse (int64, storage order)."""
        N = max(self.n_neurons, 1)
        counts = np.diff(self.row_ptr)
        pre = np.repeat(self.src_gids - self.pre_gid0, counts)
        post = (self.target.astype(np.int64) % N) - self.post_n0 + self.post_lo
        return pre, post

    def order(self, sort=None):
        """Storage positions in (target, source) order, ties in storage order: int64
        (or int32 below 2**31 synapses) ``(n_synapses,)``.

        ``sort``: :func:`neurosim.plasticity.kernels.bucket_order` (compiled or not);
        default numpy's stable sort.  Storage runs by ascending source, so a stable
        sort by target alone gives this order."""
        n = self.n_synapses
        out = np.empty(n, np.int32 if n < (1 << 31) else np.int64)
        N = max(self.n_neurons, 1)
        if sort is None:
            out[:] = np.argsort(self.target % N, kind="stable")
        else:
            sort(self.target, N, out)
        return out

    def ids_at(self, where):
        """Population-local source and target ids (int64) of the storage positions
        ``where``."""
        where = np.asarray(where, np.int64)
        row = np.searchsorted(self.row_ptr, where, side="right") - 1
        pre = self.src_gids[row] - self.pre_gid0
        post = self.target[where].astype(np.int64) % max(self.n_neurons, 1)
        return pre, post - self.post_n0 + self.post_lo

    def signed(self, where=None):
        """Weights (a copy; of the storage positions ``where``, or all) in the network
        file's convention: a conductance-based target stores ``|w|`` and takes the
        sign as the port, so synapses on its ``in`` port read negative (what
        ``weight:`` would say)."""
        w = self.weight if where is None else self.weight[where]
        if self.in_port < 0:
            return w.copy() if where is None else w
        t = self.target if where is None else self.target[where]
        rec = t.astype(np.int64) // max(self.n_neurons, 1)
        return np.where(rec == self.in_port, -np.abs(w), w)


@dataclass
class PostHistory:
    """Spike history of the postsynaptic neurons of STDP synapses on this rank.

    Row ``n`` of ``hist`` (local neuron ``n``; float64 ``(N, cap + 1, 2)``) holds its
    ``length[n]`` spikes, newest first: ``hist[n, e, 0]`` the step of each (an
    integer, exact in float64), ``hist[n, e, 1]`` the trace ``K-`` just after it; then
    a step of ``-inf``, which ends every walk back in time without reading
    ``length`` (the newest entries and the end share a cache line: one random read per
    synapse event).  ``gid_row[g - lo_gid]`` is the row of gid ``g`` (-1: a neuron
    without STDP inputs, whose spikes are not kept).
    """

    lo_gid: int
    gid_row: np.ndarray
    tau_minus_inv: np.ndarray
    kminus: np.ndarray
    tpost: np.ndarray
    hist: np.ndarray
    length: np.ndarray

    @property
    def capacity(self) -> int:
        return self.hist.shape[1] - 1

    def reserve(self, extra):
        """Make room for ``extra[n]`` more entries per row (capacity doubles)."""
        need = int((self.length + extra).max()) if len(extra) else 0
        cap = self.capacity
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        old = self.hist
        self.hist = _empty_history(len(self.length), cap)
        self.hist[:, : old.shape[1]] = old


def _empty_history(n, cap):
    h = np.zeros((n, cap + 1, 2))
    h[:, :, 0] = -np.inf
    return h


def build_plastic(b, items):
    """Build the plastic projections ``items`` (``(_Projection, post model)`` pairs).

    Sets ``b.plastic`` (list of :class:`PlasticProjection`) and ``b.plastic_history``
    (:class:`PostHistory` or None), and widens ``b.min_delay`` / ``b.max_delay`` and
    ``b.n_synapses`` by the plastic synapses.
    """
    from .kernels import PAIRING
    from .spec import is_stdp

    N = b.n_neurons
    out = []
    dmin, dmax = None, None
    stdp_neurons = []
    for pj, model in items:
        proj = pj.proj
        if proj.synapse.weight_file is not None:
            gids, row_ptr, target, delay, weight = _whole(b, pj, model, N)
        else:
            gids, row_ptr, target, delay, weight = _chunked(b, pj, model, N)
        rows = len(gids)
        # the local neurons this projection reaches (its targets' ids are a block)
        neuron = np.zeros(max(N, 1), np.bool_)
        neuron[pj.lq.n0 : pj.lq.n0 + pj.lq.count] = True
        neuron = np.flatnonzero(neuron)
        syn = proj.synapse
        p = syn.params
        kplus_syn = None
        if is_stdp(syn.model):
            state = {"kplus": np.full(rows, p.get("Kplus", 0.0)), "tlast": np.zeros(rows)}
            stdp_neurons.append(np.unique(neuron))
            if syn.model == "stdp_nn_pre_centered_synapse":
                kplus_syn = np.full(len(target), p["Kplus"])
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
                pairing=PAIRING.get(syn.model, 0),
                kplus_syn=kplus_syn,
                in_port=model.receptors.index("in") if model.conductance_weights else -1,
                n_neurons=N,
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


def _chunked(b, pj, model, N):
    """One projection's arrays by source, built in two passes over the rule's chunks
    (count per source, then regenerate and scatter), so that the peak is the final
    arrays (14 bytes a synapse) plus one chunk.  Within a source row the synapses keep
    their generation order.

    Returns ``(sources, row_ptr, target, delay, weight)``: population-local ids of the
    sources with synapses here, int64 row pointers, int32 ``receptor N + neuron``,
    uint16 steps, float64.
    """
    from ..network.build import _receptors

    proj = pj.proj
    n_pre = max(int(pj.pre.size), 1)
    counts = np.zeros(n_pre, np.int64)
    for src, *_ in pj.chunks():
        counts += np.bincount(src, minlength=n_pre)
    gids = np.flatnonzero(counts)
    row_ptr = np.zeros(len(gids) + 1, np.int64)
    np.cumsum(counts[gids], out=row_ptr[1:])
    n = int(row_ptr[-1])
    cursor = np.zeros(n_pre, np.int64)
    cursor[gids] = row_ptr[:-1]
    del counts
    target = np.empty(n, np.int32)
    delay = np.empty(n, np.uint16)
    weight = np.empty(n, np.float64)
    shift = pj.lq.n0 - pj.lq.lo
    for src, tgt, j, fw, fd in pj.chunks():
        w = pj.draw(proj.weight, pj.wkey, tgt, j) if fw is None else np.asarray(fw, np.float64)
        d = pj.draw(proj.delay, pj.dkey, tgt, j) if fd is None else np.asarray(fd, np.float64)
        steps = pj.steps(d)
        rec, w = _receptors(proj, model, w)
        # position of each synapse: its source's cursor plus its rank among the
        # chunk's synapses of that source (generation order)
        o = np.argsort(src, kind="stable")
        s_sorted = src[o]
        first = np.searchsorted(s_sorted, s_sorted, side="left")
        pos = np.empty(len(src), np.int64)
        pos[o] = cursor[s_sorted] + (np.arange(len(src)) - first)
        cursor += np.bincount(src, minlength=n_pre)
        target[pos] = rec * N + shift + tgt
        delay[pos] = steps
        weight[pos] = w
    return gids, row_ptr, target, delay, weight


def _whole(b, pj, model, N):
    """As :func:`_chunked`, from the projection drawn whole (initial weights from a
    file are matched against all of a rank's synapses at once)."""
    from ..network.build import _receptors

    proj = pj.proj
    src, tgt, _j, w, d = pj.collect()
    steps = pj.steps(d)
    w = _weights_from_file(b.spec, proj, pj, src, tgt)
    rec, w = _receptors(proj, model, w)
    order = np.argsort(src, kind="stable")
    src = np.asarray(src, np.int64)[order]
    target = (rec * N + pj.lq.n0 - pj.lq.lo + np.asarray(tgt, np.int64))[order].astype(np.int32)
    delay = steps[order].astype(np.uint16)
    weight = np.ascontiguousarray(w[order], np.float64)
    gids, first = np.unique(src, return_index=True)
    row_ptr = np.append(first, len(src)).astype(np.int64)
    return gids, row_ptr, target, delay, weight


def _history(b, stdp_neurons):
    if not stdp_neurons:
        return None
    tracked = np.unique(np.concatenate(stdp_neurons))
    N = max(b.n_neurons, 1)
    tau = np.full(N, 20.0)
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
        tau[lay.n0 : lay.n0 + lay.count] = v.args[0]
    gids = b.neuron_gid[tracked].astype(np.int64)
    lo = int(gids.min())
    gid_row = np.full(int(gids.max()) - lo + 1, -1, np.int64)
    gid_row[gids - lo] = tracked
    return PostHistory(
        lo_gid=lo,
        gid_row=gid_row,
        tau_minus_inv=1.0 / tau,
        kminus=np.zeros(N),
        tpost=np.full(N, -1.0),
        hist=_empty_history(N, 16),
        length=np.zeros(N, np.int64),
    )


def _weights_from_file(spec, proj, pj, src, tgt):
    """Initial weights of a projection read from a recording's final weights
    (``weight: {from_file: ...}``), in the order of ``src`` / ``tgt`` (float64).

    This rank reads the rows of its own targets; the file must hold exactly the
    projection's synapses onto them, in (target, source) order, multapses in the
    order of their draws (the order a run of the same network wrote).
    """
    from ..io.weights import read_final_block
    from ..network.spec import SpecError

    wf = proj.synapse.weight_file
    field = f"{proj.field}.weight.from_file"
    lo = int(pj.lq.lo)
    hi = lo + int(pj.lq.count)
    fpre, fpost, fw, total = read_final_block(
        wf["path"], wf["projection"], lo, hi, spec.path, field
    )
    src = np.asarray(src, np.int64)
    tgt = np.asarray(tgt, np.int64)
    o = np.lexsort((src, tgt))
    if len(fpre) != len(src) or not (
        np.array_equal(fpre, src[o]) and np.array_equal(fpost, tgt[o])
    ):
        if len(fpre) != len(src):
            what = f"{len(fpre)} synapses onto {proj.post} {lo}:{hi}, the projection has {len(src)}"
        else:
            bad = np.flatnonzero((fpre != src[o]) | (fpost != tgt[o]))[0]
            what = (
                f"synapse {int(bad)} onto {proj.post} {lo}:{hi} is {int(fpre[bad])}->"
                f"{int(fpost[bad])} there and {int(src[o][bad])}->{int(tgt[o][bad])} here"
            )
        raise SpecError(
            spec.path,
            field,
            f"the synapses of {wf['projection']!r} in {wf['path']} ({total} in all) differ "
            f"from this projection's ({what}); expected a run of the same connectivity "
            "(rule, seed, sizes)",
        )
    w = np.empty(len(src), np.float64)
    w[o] = fw
    return w
