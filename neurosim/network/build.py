"""Build a validated spec into arrays: neuron state, propagators, synapses (CSR by source).

Layout (this rank's part; one process owns everything):

- every population gets a range of global ids (gids) in file order, devices included;
- a rank owns a contiguous block ``[lo, hi)`` of every neuron population
  (:mod:`neurosim.parallel.partition`); its neurons are concatenated into one local
  neuron index space ``0..N-1`` (``neuron_gid`` maps it back to gids);
- recurrent synapses onto local neurons (from neurons and spike generators anywhere)
  form a CSR keyed by source: ``src_gids`` (sorted gids of the sources with local
  targets) and ``row_ptr[r]:row_ptr[r+1]`` indexing ``target`` (int32 ring-buffer slot
  ``receptor * N + neuron``), ``weight`` (float32) and ``delay`` (uint8/uint16 ticks),
  so a rank's memory grows with its synapses and their sources, not with the network;
- Poisson synapses carry their own arrays (each draws an independent train);
- current synapses (dc, step, noise generators) add ``weight * I(t)`` to ``I_stim``.

The CSR is built in two passes over each projection's synapses, drawn by chunks from
the counter-based streams (:mod:`.rules`, numba kernels in :mod:`._build_kernels`):
count per source, then regenerate and scatter into the final arrays, so the peak is
the final CSR plus one chunk per thread and per-block counts (no sort, no full-size
int64 temporaries).  Both passes split each projection's walk into one block per
numba thread (``--threads``, ``NUMBA_NUM_THREADS``); a block's synapses go where the
counts of the blocks before it put them, so the CSR is the same on any number of
threads (and, the draws being keyed by target, of ranks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import rng
from ..models import get_model
from . import rules
from .spec import NetworkSpec, SpecError, Value
from .timing import ceil_steps, delay_steps

S_MAX = 4  # synaptic states per neuron, padded (iaf_psc_alpha / iaf_cond_alpha use 4)
C_MAX = 2  # conductances per neuron
R = 2  # receptor ports (ex, in)
MEMBRANE = {"current": 0, "conductance": 1}


def sample(value: Value, subkeys, counter) -> np.ndarray:
    """Draw ``value`` for each sub-key (e.g. one per neuron or synapse) at ``counter``.

    Parameters
    ----------
    value : Value
        Constant or distribution (internal units).
    subkeys : ndarray of uint64, shape (n,)
    counter : int or ndarray of uint64, shape (n,)

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    subkeys = np.asarray(subkeys, np.uint64)
    n = subkeys.shape[0]
    counter = np.broadcast_to(np.asarray(counter, np.uint64), (n,))
    if value.kind == "const":
        return np.full(n, value.args[0], np.float64)
    if value.kind == "uniform":
        lo, hi = value.args
        return lo + (hi - lo) * rng.uniform(subkeys, counter)
    if value.kind == "lognormal":
        mu, sigma = value.args
        return np.exp(mu + sigma * rng.normal(subkeys, counter))
    mean, std, lo, hi = value.args
    if value.kind == "normal_clipped":
        return np.clip(mean + std * rng.normal(subkeys, counter * np.uint64(64)), lo, hi)
    base = counter * np.uint64(64)
    out = mean + std * rng.normal(subkeys, base)
    bad = np.nonzero((out < lo) | (out > hi))[0]
    attempt = 1
    while len(bad):
        if attempt >= rng.NORMAL_TRIES:
            raise BoundsError(
                f"normal({mean:g}, {std:g}) with bounds [{lo:g}, {hi:g}]: no value inside "
                f"them in {rng.NORMAL_TRIES} draws (NEST's redraw gives up there too)"
            )
        if attempt < 64:
            out[bad] = mean + std * rng.normal(subkeys[bad], base[bad] + np.uint64(attempt))
        else:  # the value's 64 counters are used up: a stream of its own (as the kernels)
            sub2 = rng.id_keys(subkeys[bad], np.uint64(rng.REDRAW_ID))
            ctr2 = counter[bad] * np.uint64(1024) + np.uint64(attempt)
            out[bad] = mean + std * rng.normal(sub2, ctr2)
        bad = bad[(out[bad] < lo) | (out[bad] > hi)]
        attempt += 1
    return out


def _sample_or_say(value, subkeys, spec, field):
    """:func:`sample` at counter 0, a :class:`BoundsError` said as the field's error."""
    try:
        return sample(value, subkeys, 0)
    except BoundsError as exc:
        raise SpecError(spec.path, field, str(exc)) from None


class BoundsError(ValueError):
    """A bounded normal's bounds rejected every one of ``rng.NORMAL_TRIES`` draws."""


@dataclass
class PopulationLayout:
    name: str
    model: str
    kind: str
    size: int
    gid0: int  # first global id
    n0: int = -1  # first local neuron index (neuron populations)
    lo: int = 0  # first population-local id owned here
    count: int = -1  # neurons owned here (the population's size on one process)
    prop_row0: int = -1  # first propagator row
    heterogeneous: bool = False

    def __post_init__(self):
        if self.count < 0:
            self.count = self.size


@dataclass
class Built:
    """Everything a backend needs; all arrays are numpy (backends copy what they need)."""

    spec: NetworkSpec
    dt: float
    layouts: dict
    n_neurons: int  # local neurons
    n_gids: int  # global ids in the whole network
    # neuron state (float64): V (N,), syn (S_MAX, N), refractory counters (N,)
    V: np.ndarray
    syn: np.ndarray
    refr: np.ndarray
    # per neuron: propagator row
    prow: np.ndarray
    # propagator rows (rows,)
    params: dict  # per population: dict name -> float64 array (n,) with n = 1 or size
    prop: dict = field(default_factory=dict)  # name -> array with leading axis rows
    # local neuron index -> gid (N,)
    neuron_gid: np.ndarray = None
    # recurrent CSR by source: row r holds the synapses of source gid src_gids[r]
    src_gids: np.ndarray = None
    row_ptr: np.ndarray = None
    target: np.ndarray = None
    weight: np.ndarray = None
    delay: np.ndarray = None
    max_delay: int = 1
    min_delay: int = 1
    # Poisson synapses
    pois_target: np.ndarray = None
    pois_weight: np.ndarray = None
    pois_delay: np.ndarray = None
    pois_gen: np.ndarray = None
    pois_key: np.ndarray = None
    pois_gens: list = field(default_factory=list)  # (rate Hz, start ms, stop ms)
    # current synapses
    cur_target: np.ndarray = None
    cur_weight: np.ndarray = None
    cur_delay: np.ndarray = None
    cur_gen: np.ndarray = None
    cur_gens: list = field(default_factory=list)  # (model, params)
    noise_key: np.ndarray = None
    # spike generators: sorted (step, gid) events
    sg_steps: np.ndarray = None
    sg_gids: np.ndarray = None
    projection_info: list = field(default_factory=list)
    n_synapses: int = 0
    rank: int = 0
    n_ranks: int = 1
    # plastic projections (neurosim.plasticity.build): arrays by source, post history
    plastic: list = field(default_factory=list)
    plastic_history: object = None


def _pop_params(spec, pop, model, layout):
    """Per-neuron (or shared) parameter arrays in internal units."""
    out = {}
    het = False
    key = (spec.seed, rng.PARAM, pop.name)
    g0 = layout.gid0 + layout.lo
    gids = np.arange(g0, g0 + layout.count, dtype=np.uint64)
    for name, entry in model.params.items():
        v = pop.params.get(name)
        if v is None:
            out[name] = np.array([entry.default], np.float64)
        elif v.is_const:
            out[name] = np.array([v.args[0]], np.float64)
        else:
            het = True
            sub = rng.id_keys(rng.stream_key(*key, name), gids)
            out[name] = _sample_or_say(v, sub, spec, f"populations.{pop.name}.params.{name}")
    if het:
        out = {k: np.broadcast_to(v, (layout.count,)).copy() for k, v in out.items()}
    layout.heterogeneous = het
    return out


def propagator_rows(model, params, dt):
    """Assemble padded propagator rows for one population from its parameter arrays."""
    p = model.propagator(params, dt)
    n = len(next(iter(params.values())))
    S = p.P_syn.shape[1]
    C = p.G_avg.shape[1]
    rows = {
        "membrane": np.full(n, MEMBRANE[p.membrane], np.int32),
        "P_syn": np.zeros((n, S_MAX, S_MAX)),
        "P_VV": np.broadcast_to(p.P_VV, (n,)).astype(np.float64),
        "P_VI": np.broadcast_to(p.P_VI, (n,)).astype(np.float64),
        "P_Vsyn": np.zeros((n, S_MAX)),
        "G_avg": np.zeros((n, C_MAX, S_MAX)),
        "E_rev": np.zeros((n, C_MAX)),
        "n_syn": np.full(n, S, np.int32),
        "n_cond": np.full(n, C, np.int32),
        "rec_state": np.full((n, R), -1, np.int32),
        "rec_gain": np.zeros((n, R)),
    }
    rows["P_syn"][:, :S, :S] = p.P_syn
    rows["P_Vsyn"][:, :S] = p.P_Vsyn
    rows["G_avg"][:, :C, :S] = p.G_avg
    rows["E_rev"][:, :C] = p.E_rev
    rows["rec_state"][:, :] = np.asarray(p.receptor_state, np.int32)[None, :R]
    rows["rec_gain"][:, :] = p.receptor_gain[:, :R]
    for name in ("E_L", "I_e", "V_th", "V_reset", "V_min", "C_m"):
        rows[name] = np.broadcast_to(params[name], (n,)).astype(np.float64)
    rows["g_L"] = np.broadcast_to(params.get("g_L", np.zeros(1)), (n,)).astype(np.float64)
    rows["ref_ticks"] = np.broadcast_to(
        ceil_steps(params["t_ref"], dt).astype(np.int32), (n,)
    ).copy()
    return rows


class _Projection:
    """One projection's synapses on this process, as chunks regenerated on demand.

    :meth:`chunks` yields ``(src, tgt, j, w, d)``: population-local source and target,
    the synapse's ordinal among its target's synapses (the counter of its weight and
    delay draws, see :mod:`.rules`) and, for ``from_file`` only, the file's weights and
    delays.  The arrays are scratch buffers that the next chunk overwrites; iterating
    again yields the same synapses.
    """

    def __init__(self, spec, proj, pre, post, lay_pre, lay_post, targets):
        self.spec, self.proj, self.pre, self.post = spec, proj, pre, post
        self.lp, self.lq, self.targets = lay_pre, lay_post, targets
        self.key = rng.stream_key(spec.seed, rng.CONNECT, proj.index)
        self.wkey = rng.stream_key(spec.seed, rng.WEIGHT, proj.index)
        self.dkey = rng.stream_key(spec.seed, rng.DELAY, proj.index)
        self.no_autapse = not proj.allow_autapses and proj.pre == proj.post
        self._kr = None  # kernel_rule(), for both passes
        self._counts = None  # the first pass's per-block counts, kept for the second
        self.file = None
        if proj.rule == "from_file":
            self.file = self._read_file()

    def _read_file(self):
        from ..io.connections import read_connections

        spec, proj = self.spec, self.proj
        s, t, w, d = read_connections(
            proj.rule_args["path"],
            self.pre.size,
            self.post.size,
            spec.path,
            f"{proj.field}.rule.from_file",
            pre_key=proj.rule_args.get("pre_column", "pre"),
            post_key=proj.rule_args.get("post_column", "post"),
        )
        s, t = np.asarray(s, np.int64), np.asarray(t, np.int64)
        keep = np.isin(t, self.targets)
        s, t = s[keep], t[keep]
        w = None if w is None else np.asarray(w, np.float64)[keep]
        d = None if d is None else np.asarray(d, np.float64)[keep]
        # by (target, source), file order among equals; j = rank within the target
        order = np.lexsort((s, t))
        s, t = s[order], t[order]
        first = np.searchsorted(t, t, side="left")
        j = np.arange(len(t), dtype=np.int64) - first
        return (s, t, j, None if w is None else w[order], None if d is None else d[order])

    def _rule_chunks(self):
        proj, a = self.proj, self.proj.rule_args
        pre, post, targets = self.pre, self.post, self.targets
        if proj.rule == "fixed_indegree":
            return rules.fixed_indegree(
                self.key,
                a["k"],
                pre.size,
                self.lq.gid0,
                targets,
                self.no_autapse,
                proj.allow_multapses,
            )
        if proj.rule == "pairwise_bernoulli":
            return rules.pairwise_bernoulli(
                self.key, a["p"], pre.size, self.lq.gid0, targets, self.no_autapse
            )
        if proj.rule == "all_to_all":
            return rules.all_to_all(pre.size, targets, self.no_autapse)
        if proj.rule == "one_to_one":  # onto itself without autapses: none (as NEST)
            return rules.one_to_one(targets[:0] if self.no_autapse else targets)
        if proj.rule == "fixed_outdegree":
            return rules.fixed_outdegree(
                self.key,
                a["k"],
                post.size,
                self.lp.gid0,
                pre.size,
                targets,
                self.no_autapse,
                proj.allow_multapses,
            )
        if proj.rule == "fixed_total_number":
            return rules.fixed_total_number(
                self.key,
                a["n"],
                pre.size,
                post.size,
                targets,
                self.no_autapse,
                proj.allow_multapses,
            )
        raise SpecError(self.spec.path, proj.field, f"rule {proj.rule} not implemented")

    def chunks(self):
        """Yield ``(src, tgt, j, w, d)`` by chunks; ``w``/``d`` are the file's values
        (float64) for ``from_file`` projections that give them, else None."""
        if self.file is not None:
            s, t, j, fw, fd = self.file
            for a in range(0, len(t), rules.CHUNK):
                sl = slice(a, a + rules.CHUNK)
                yield (
                    s[sl],
                    t[sl],
                    j[sl],
                    None if fw is None else fw[sl],
                    None if fd is None else fd[sl],
                )
            return
        for src, tgt, j in self._rule_chunks():
            yield src, tgt, j, None, None

    def draw(self, value, key, tgt, j):
        """``sample(value, id_keys(key, gid of tgt), j)`` (the numba twin)."""
        if value.kind == "const":
            return np.full(len(tgt), value.args[0], np.float64)
        out = np.empty(len(tgt), np.float64)
        try:
            _K().draw_values(
                _kind(value), *_args(value), np.uint64(key), int(self.lq.gid0), tgt, j, out
            )
        except ValueError as exc:  # the kernel's: a bounded normal found no value
            if "bounds reject" not in str(exc):
                raise
            self._bounds_error()
        return out

    def _bounds_error(self):
        proj = self.proj
        which = [n for n in ("weight", "delay") if getattr(proj, n).kind == "normal"]
        raise SpecError(
            self.spec.path,
            f"{proj.field}.{which[0] if len(which) == 1 else 'weight'}",
            f"a bounded normal {' or '.join(which) or 'value'} found no value inside its "
            f"bounds in {rng.NORMAL_TRIES} draws (NEST's redraw gives up there too): widen "
            "the bounds, or use clip: true",
        )

    def collect(self):
        """All synapses at once (device projections): ``(src, tgt, j, w, d)``."""
        parts = [tuple(None if x is None else x.copy() for x in c) for c in self.chunks()]

        def cat(i):
            return np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, np.int64)

        src, tgt, j = cat(0), cat(1), cat(2)
        fw = None if not parts or parts[0][3] is None else cat(3)
        fd = None if not parts or parts[0][4] is None else cat(4)
        w = self.draw(self.proj.weight, self.wkey, tgt, j) if fw is None else fw
        d = self.draw(self.proj.delay, self.dkey, tgt, j) if fd is None else fd
        return src, tgt, j, w, d

    def steps(self, d):
        """Delays in ms -> ticks, checked."""
        spec, proj, dt = self.spec, self.proj, self.spec.dt
        steps = delay_steps(d, dt)
        if len(steps) and steps.min() < 1:
            raise SpecError(
                spec.path,
                f"{proj.field}.delay",
                f"a delay below dt ({dt} ms) was drawn or read; delays must be >= dt",
            )
        if len(steps) and steps.max() > 65535:
            raise SpecError(spec.path, f"{proj.field}.delay", "delays above 65535 steps")
        return steps

    def max_steps_bound(self):
        """An upper bound of the delays in ticks (inf when unknown before drawing)."""
        if self.file is not None and self.file[4] is not None:
            d = self.file[4]
            return float(delay_steps(d.max(), self.spec.dt)) if len(d) else 1.0
        dmax = self.proj.delay.max_possible()
        # the rounding the stored delays get: a bound that rounds otherwise could pick
        # uint8 for a delay of 256 steps
        return float(delay_steps(dmax, self.spec.dt)) if math.isfinite(dmax) else math.inf

    # ---- the two passes of the CSR build, in parallel blocks (rule-based projections)

    def kernel_rule(self):
        """The rule as :func:`._build_kernels.rule_chunk` takes it, with this process's
        walk split into blocks of units (one per numba thread; one for a small
        projection), or None (``from_file``: filled serially from the file's arrays).
        The same object serves both passes."""
        if self.file is not None:
            return None
        if self._kr is not None:
            return self._kr
        K = _K()
        proj, a = self.proj, self.proj.rule_args
        n_pre, n_post = int(self.pre.size), int(self.post.size)
        key, key2 = np.uint64(self.key), np.uint64(0)
        k, p, n_total, gid0, walk = 0, 0.0, 0, int(self.lq.gid0), False
        units, need = len(self.targets), 0
        if proj.rule == "fixed_indegree":
            code, k = K.R_INDEGREE, int(a["k"])
            units, need, per_unit = (units if k > 0 else 0), k, k
        elif proj.rule == "pairwise_bernoulli":
            code, p = K.R_BERNOULLI, float(a["p"])
            units, need, per_unit = (units if n_pre > 0 else 0), n_pre, p * n_pre
        elif proj.rule == "all_to_all":
            code = K.R_ALL
            units, need, per_unit = (units if n_pre > 0 else 0), n_pre, n_pre
        elif proj.rule == "one_to_one":
            # onto itself without autapses every pair is an autapse: none (as NEST)
            code, per_unit = K.R_ONE, 1
            units = 0 if self.no_autapse else units
        elif proj.rule == "fixed_outdegree":
            code, k, gid0, walk = K.R_OUTDEGREE, int(a["k"]), int(self.lp.gid0), True
            units, need, per_unit = (n_pre if k > 0 else 0), k, k
        elif proj.rule == "fixed_total_number":
            if not proj.allow_multapses:
                raise ValueError("fixed_total_number without multapses is not supported")
            code, n_total, walk, per_unit = K.R_TOTAL, int(a["n"]), True, 1
            key, key2 = rng.id_keys(self.key, np.array([0, 1], np.uint64))
            units = n_total
        else:
            raise SpecError(self.spec.path, proj.field, f"rule {proj.rule} not implemented")
        # small projections in one block: not worth starting threads for
        big = units * per_unit >= PAR_MIN_SYNAPSES
        blocks = max(1, min(K.n_threads() if big else 1, units))
        local = np.zeros(n_post if walk else 0, np.bool_)
        if walk:
            local[self.targets] = True
        self._kr = _KernelRule(
            rule=(
                code,
                np.uint64(key),
                np.uint64(key2),
                k,
                p,
                n_total,
                n_pre,
                n_post,
                gid0,
                rules._targets(self.targets),
                local,
                self.no_autapse,
                not proj.allow_multapses,
            ),
            bounds=(np.arange(blocks + 1, dtype=np.int64) * units) // blocks,
            cap=max(min(rules.CHUNK, PAR_CHUNK), need, 1),
            walk=walk,
        )
        return self._kr

    def block_counts(self, kr):
        """First pass over the blocks of ``kr``: ``(cs, ct)``, the synapses of each
        (block, source) and, for the walk-order rules, of each (block, target)."""
        K = _K()
        nb_ = len(kr.bounds) - 1
        cs = np.zeros((nb_, self.pre.size), np.int64)
        ct = np.zeros((nb_, self.post.size if kr.walk else 0), np.int64)
        err = np.zeros(nb_, np.int64)
        bo = kr.bounds
        _in_threads(
            err,
            lambda b: K.count_block(*kr.rule, bo[b], bo[b + 1], kr.cap, cs[b], ct[b]),
        )
        self._raise(err)
        return cs, ct

    def count(self, counts, keep):
        """First pass: add this projection's synapses of source gid ``g`` to
        ``counts[g + 1]``; returns their number.  The per-block counts are kept for
        the second pass while ``keep[0]`` (bytes) lasts, else counted again there."""
        g = self.lp.gid0 + 1
        kr = self.kernel_rule()
        if kr is None:
            n = 0
            for src, _, _, _, _ in self.chunks():
                _K().count_sources(src, g, counts)
                n += len(src)
            return n
        cs, ct = self.block_counts(kr)
        tot = cs.sum(axis=0)
        counts[g : g + len(tot)] += tot
        if cs.nbytes + ct.nbytes <= keep[0]:
            keep[0] -= cs.nbytes + ct.nbytes
            self._counts = (cs, ct)
        return int(tot.sum())

    def fill(self, b, model, fill, target, weight, delay, lim):
        """Second pass: regenerate the synapses and scatter them into the CSR at
        ``fill[gid]`` (each source row's next free position, advanced), the blocks in
        parallel, each from offsets that the counts of the blocks before it give."""
        kr = self.kernel_rule()
        if kr is None:
            return self._fill_serial(b, model, fill, target, weight, delay, lim)
        cs, ct = self._counts or self.block_counts(kr)
        self._counts = None
        g0, n_pre = self.lp.gid0, self.pre.size
        fb = np.cumsum(cs, axis=0)
        fb -= cs
        fb += fill[g0 : g0 + n_pre]
        ends = fb + cs  # where each block's part of each row must end
        del cs
        cb = np.cumsum(ct, axis=0)
        cb -= ct
        del ct
        lims = np.tile(lim, (len(fb), 1))
        err = np.zeros(len(fb), np.int64)
        proj = self.proj
        values = (
            int(self.lq.gid0),
            int(self.lq.n0 - self.lq.lo),
            int(b.n_neurons),
            _kind(proj.weight),
            np.array(_args(proj.weight)),
            np.uint64(self.wkey),
            _kind(proj.delay),
            np.array(_args(proj.delay)),
            np.uint64(self.dkey),
            float(b.dt),
            *_ports(proj, model),
            bool(model.conductance_weights),
            target,
            weight,
            delay,
        )
        K, bo = _K(), kr.bounds
        # constant weight and delay: the kernels compile without the drawing code
        drawn = True if _kind(proj.weight) != 0 or _kind(proj.delay) != 0 else None
        _in_threads(
            err,
            lambda b: K.fill_block(
                *kr.rule, bo[b], bo[b + 1], kr.cap, fb[b], cb[b], *values, lims[b], drawn
            ),
        )
        self._raise(err)
        if not np.array_equal(fb, ends):
            raise RuntimeError("network build: the second pass drew different synapses")
        fill[g0 : g0 + n_pre] = ends[-1]
        lim[0] = min(lim[0], lims[:, 0].min())
        lim[1] = max(lim[1], lims[:, 1].max())

    def _fill_serial(self, b, model, fill, target, weight, delay, lim):
        """:meth:`fill` for ``from_file`` projections, chunk by chunk in one thread."""
        proj = self.proj
        wa, da = np.array(_args(proj.weight)), np.array(_args(proj.delay))
        none = np.zeros(0, np.float64)
        for src, tgt, j, fw, fd in self.chunks():
            if not len(src):
                continue
            err = _K().scatter(
                src,
                tgt,
                j,
                self.lp.gid0,
                self.lq.gid0,
                self.lq.n0 - self.lq.lo,
                b.n_neurons,
                -1 if fw is not None else _kind(proj.weight),
                wa,
                np.uint64(self.wkey),
                none if fw is None else fw,
                -1 if fd is not None else _kind(proj.delay),
                da,
                np.uint64(self.dkey),
                none if fd is None else fd,
                np.zeros((2, 0), np.uint64),
                float(b.dt),
                *_ports(proj, model),
                bool(model.conductance_weights),
                fill,
                target,
                weight,
                delay,
                lim,
                True,
            )
            self._raise(np.array([err]))

    def _raise(self, err):
        """The exception for the first nonzero kernel error code in ``err``."""
        K = _K()
        err = [int(e) for e in err if e]
        if not err:
            return
        e, spec, proj = err[0], self.spec, self.proj
        if e == K.ERR_DELAY_LOW:
            raise SpecError(
                spec.path,
                f"{proj.field}.delay",
                f"a delay below dt ({spec.dt} ms) was drawn or read; delays must be >= dt",
            )
        if e == K.ERR_DELAY_HIGH:
            raise SpecError(spec.path, f"{proj.field}.delay", "delays above 65535 steps")
        if e == K.ERR_BOUNDS:
            self._bounds_error()
        if e == K.ERR_INTERNAL:
            raise RuntimeError("network build: drawn values sent down the constant path")
        raise RuntimeError("connection rule cannot satisfy its constraints")


@dataclass
class _KernelRule:
    """A projection's rule for the block kernels (:meth:`_Projection.kernel_rule`)."""

    rule: tuple  # rule_chunk's arguments that fix the rule
    bounds: np.ndarray  # int64 (blocks + 1,): block b walks units bounds[b]:bounds[b + 1]
    cap: int  # synapses per chunk buffer
    walk: bool  # the ordinal j counts in walk order (fixed_outdegree, fixed_total_number)


#: Synapses per chunk buffer of a block (3 int64 buffers of this size stay in a
#: core's L2 cache; a rule that needs more for one unit gets more).
PAR_CHUNK = 1 << 14
#: Projections with fewer synapses (on this process) are built by one thread.
PAR_MIN_SYNAPSES = 1 << 17
#: Bytes of per-block counts the first pass may keep for the second (beyond that the
#: second pass counts again): a bound on the build's working set.
KEEP_COUNTS_BYTES = 32 << 20


def _in_threads(err, block):
    """``err[b] = block(b)`` for every block ``b``, one thread each (the kernels
    release the GIL).  Python threads rather than a numba parallel region: no
    compilation of a parallel kernel, and no region that waits, spinning, for a
    thread another process has pushed off its core."""
    if len(err) == 1:
        err[0] = block(0)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(err)) as pool:
        err[:] = list(pool.map(block, range(len(err))))


def _ports(proj, model):
    """``(rec_fixed, rec_ex, rec_in)`` of :func:`._build_kernels.scatter`."""
    if proj.receptor is not None:
        r = model.receptors.index(proj.receptor)
        return r, r, r
    return -1, model.receptors.index("ex"), model.receptors.index("in")


def build(spec: NetworkSpec, targets_of=None, part=None) -> Built:
    """Build the neurons of this rank and their incoming synapses.

    Parameters
    ----------
    spec : NetworkSpec
    targets_of : callable, optional
        ``targets_of(population_name, size) -> sorted int64 array``: build only the
        synapses onto these neurons (all neurons keep their state); for tests of the
        partition independence of the rules.
    part : neurosim.parallel.partition.Partition, optional
        This rank's place: it owns a block of every neuron population (all of them
        when omitted).
    """
    from ..parallel.partition import Partition

    part = part or Partition()
    dt = spec.dt
    layouts = {}
    gid = 0
    n = 0
    for pop in spec.populations.values():
        lay = PopulationLayout(pop.name, pop.model, pop.kind, pop.size, gid)
        if pop.kind == "neuron":
            lay.lo, hi = part.range(pop.size)
            lay.count = hi - lay.lo
            lay.n0 = n
            n += lay.count
        else:
            lay.count = pop.size
        gid += pop.size
        layouts[pop.name] = lay
    N = n

    # ---- neurons: parameters, propagators, state
    params = {}
    prop_parts = []
    prow = np.zeros(N, np.int32)
    row = 0
    V = np.zeros(N)
    syn = np.zeros((S_MAX, N))
    for pop in spec.neuron_populations:
        lay = layouts[pop.name]
        model = get_model(pop.model)
        pp = _pop_params(spec, pop, model, lay)
        check_reset_below_threshold(pp, spec.path, f"populations.{pop.name}.params")
        params[pop.name] = pp
        rows = propagator_rows(model, pp, dt)
        nrows = len(rows["P_VV"])
        lay.prop_row0 = row
        sl = slice(lay.n0, lay.n0 + lay.count)
        prow[sl] = row + (np.arange(lay.count) if nrows > 1 else 0)
        row += nrows
        prop_parts.append(rows)
        g0 = lay.gid0 + lay.lo
        gids = np.arange(g0, g0 + lay.count, dtype=np.uint64)
        for sname, entry in model.state.items():
            if sname in pop.initial:
                sub = rng.id_keys(rng.stream_key(spec.seed, rng.INITIAL, pop.name, sname), gids)
                vals = _sample_or_say(
                    pop.initial[sname], sub, spec, f"populations.{pop.name}.initial.{sname}"
                )
            elif sname == "V_m":
                vals = np.broadcast_to(pp["E_L"], (lay.count,))
            else:
                vals = np.full(lay.count, entry.default)
            if sname == "V_m":
                V[sl] = vals
            else:
                syn[model.syn_state.index(sname), sl] = vals
    prop = {k: np.concatenate([p[k] for p in prop_parts]) for k in prop_parts[0]}
    neuron_gid = np.zeros(N, np.int64)
    for lay in layouts.values():
        if lay.kind == "neuron":
            neuron_gid[lay.n0 : lay.n0 + lay.count] = lay.gid0 + lay.lo + np.arange(lay.count)

    b = Built(
        spec=spec,
        dt=dt,
        layouts=layouts,
        n_neurons=N,
        n_gids=gid,
        V=V,
        syn=syn,
        refr=np.zeros(N, np.int32),
        prow=prow,
        params=params,
        prop=prop,
        neuron_gid=neuron_gid,
        rank=part.rank,
        n_ranks=part.size,
    )

    # ---- synapses
    recurrent = []  # (_Projection, post model), scattered into the CSR by _fill_csr
    plastic = []  # (_Projection, post model) with a plastic synapse model
    counts = np.zeros(b.n_gids + 1, np.int64)
    keep = [KEEP_COUNTS_BYTES]  # per-block counts the first pass keeps for the second
    pois = {"target": [], "weight": [], "delay": [], "gen": [], "key": []}
    cur = {"target": [], "weight": [], "delay": [], "gen": [], "key": []}
    pois_gen_index, cur_gen_index = {}, {}
    for proj in spec.projections:
        pre, post = spec.populations[proj.pre], spec.populations[proj.post]
        lp, lq = layouts[proj.pre], layouts[proj.post]
        model = get_model(post.model)
        if post.model == "parrot_neuron" and proj.synapse is None:
            proj = _parrot_input(proj)  # NEST's parrot ignores the weight
        targets = (
            np.arange(lq.lo, lq.lo + lq.count, dtype=np.int64)
            if targets_of is None
            else np.asarray(targets_of(post.name, post.size), np.int64)
        )
        pj = _Projection(spec, proj, pre, post, lp, lq, targets)
        if proj.synapse is not None:  # plastic: neurosim.plasticity.build
            plastic.append((pj, model))
            b.projection_info.append((proj.name, proj.pre, proj.post, -1))
            continue
        if pre.kind not in ("current", "poisson"):
            # recurrent: count per source now, scatter in a second pass (below)
            n_syn = pj.count(counts, keep)
            recurrent.append((pj, model))
            b.projection_info.append((proj.name, proj.pre, proj.post, n_syn))
            continue
        src, tgt, j, w, d = pj.collect()
        steps = pj.steps(d)
        j = j.astype(np.uint64)
        neuron = lq.n0 - lq.lo + tgt
        if pre.kind == "current":
            gi = cur_gen_index.setdefault(proj.pre, {})
            for g in range(pre.size):
                if g not in gi:
                    gi[g] = len(b.cur_gens)
                    b.cur_gens.append((pre.model, _device_params(pre, g)))
            cur["target"].append(neuron.astype(np.int32))
            cur["weight"].append(w)
            cur["delay"].append(steps)
            cur["gen"].append(np.array([gi[g] for g in range(pre.size)], np.int32)[src])
            k = rng.id_keys(
                rng.stream_key(spec.seed, rng.NOISE, proj.index), (lq.gid0 + tgt).astype(np.uint64)
            )
            cur["key"].append(rng.mix64(k + j * rng.GOLDEN))
            b.projection_info.append((proj.name, proj.pre, proj.post, len(tgt)))
            continue
        rec, w = _receptors(proj, model, w)
        slot = (rec * N + neuron).astype(np.int64)
        gi = pois_gen_index.setdefault(proj.pre, {})
        for g in range(pre.size):
            if g not in gi:
                gi[g] = len(b.pois_gens)
                p = pre.params
                b.pois_gens.append((p["rate"], p["start"], p["stop"]))
        pois["target"].append(slot)
        pois["weight"].append(w)
        pois["delay"].append(steps)
        pois["gen"].append(np.array([gi[g] for g in range(pre.size)], np.int32)[src])
        k = rng.id_keys(
            rng.stream_key(spec.seed, rng.POISSON, proj.index), (lq.gid0 + tgt).astype(np.uint64)
        )
        pois["key"].append(rng.mix64(k + j * rng.GOLDEN))
        b.projection_info.append((proj.name, proj.pre, proj.post, len(tgt)))

    _fill_csr(b, recurrent, counts)
    _finish_devices(b, pois, cur)
    if plastic:
        from ..plasticity.build import build_plastic

        build_plastic(b, plastic)
        b.projection_info = [
            (n, a, z, sum(p.n_synapses for p in b.plastic if p.name == n) if c < 0 else c)
            for n, a, z, c in b.projection_info
        ]
    _spike_generators(b, emit=part.rank == 0)
    return b


def _parrot_input(proj):
    """A static projection onto parrot neurons: weight 1 (one spike), port ``ex``
    unless ``in`` (NEST's port 1, ignored) is named."""
    import dataclasses

    return dataclasses.replace(proj, weight=Value("const", (1.0,)), receptor=proj.receptor or "ex")


def _K():
    """The numba kernels (imported on first use: ``import neurosim`` stays numba-free)."""
    from . import _build_kernels

    return _build_kernels


def _kind(value):
    return rules.KIND[value.kind]


def _args(value):
    """A value's arguments as 4 floats (the kernels' calling convention)."""
    return (tuple(float(x) for x in value.args) + (0.0, 0.0, 0.0))[:4]


def _receptors(proj, model, w):
    """Receptor port of each synapse (``proj.receptor``, else by the weight's sign) and
    the stored weight (its magnitude for conductance-based models)."""
    if proj.receptor is not None:
        rec = np.full(len(w), model.receptors.index(proj.receptor), np.int64)
    else:
        rec = np.where(w < 0, model.receptors.index("in"), model.receptors.index("ex"))
    if model.conductance_weights:
        w = np.abs(w)
    return rec, w


def _fill_csr(b, recurrent, counts):
    """Second pass: regenerate every recurrent projection's synapses and scatter them
    into the CSR by source gid (``counts[g + 1]`` synapses of source ``g``, from the
    first pass).  Within a source row: by projection, then in generation order (target
    by target for the per-target rules), so the synapses of one (source, slot) keep a
    partition-independent order, on any number of threads.  The peak is the final
    arrays plus one chunk buffer per thread and per-block counts of the sources and
    targets of one projection."""
    row_ptr = np.cumsum(counts, out=counts)  # in place: counts[0] == 0
    n = int(row_ptr[-1])
    bound = max([pj.max_steps_bound() for pj, _ in recurrent], default=1.0)
    ddt = np.uint8 if bound < 256 else np.uint16
    target = np.empty(n, np.int32)
    weight = np.empty(n, np.float32)
    delay = np.empty(n, ddt)
    fill = row_ptr[:-1].copy()
    lim = np.array([np.iinfo(np.int64).max, 0], np.int64)
    for pj, model in recurrent:
        pj.fill(b, model, fill, target, weight, delay, lim)
    dmin, dmax = (int(lim[0]), int(lim[1])) if n else (None, None)
    if not np.array_equal(fill, row_ptr[1:]):
        raise RuntimeError("network build: the second pass drew different synapses")
    del fill
    if delay.dtype == np.uint16 and (dmax or 1) < 256:
        delay = delay.astype(np.uint8)
    # compact rows: only the sources with synapses here
    nonempty = np.nonzero(row_ptr[1:] > row_ptr[:-1])[0]
    b.src_gids = nonempty.astype(np.int64)
    row_ptr = np.append(row_ptr[nonempty], n).astype(np.int64)
    b.row_ptr = row_ptr
    b.target, b.weight, b.delay = target, weight, delay
    b.n_synapses = n
    b.min_delay = dmin if dmin is not None else 1
    b.max_delay = dmax if dmax is not None else 1


def _device_params(pop, g):
    p = dict(pop.params)
    return p


def _cat(xs, dtype):
    return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)


def _finish_devices(b, pois, cur):
    cat = _cat
    b.pois_target = cat(pois["target"], np.int32)
    b.pois_weight = cat(pois["weight"], np.float32)
    b.pois_delay = cat(pois["delay"], np.int32)
    b.pois_gen = cat(pois["gen"], np.int32)
    b.pois_key = cat(pois["key"], np.uint64)
    b.cur_target = cat(cur["target"], np.int32)
    b.cur_weight = cat(cur["weight"], np.float64)
    b.cur_delay = cat(cur["delay"], np.int32)
    b.cur_gen = cat(cur["gen"], np.int32)
    b.noise_key = cat(cur["key"], np.uint64)
    for arr in (b.pois_delay, b.cur_delay):
        if len(arr):
            b.max_delay = max(b.max_delay, int(arr.max()))


def check_reset_below_threshold(params, path, field):
    """NEST's rule V_reset < V_th, neuron by neuron (drawn values included)."""
    if "V_reset" not in params or "V_th" not in params:
        return
    vr, vt = np.broadcast_arrays(np.asarray(params["V_reset"]), np.asarray(params["V_th"]))
    bad = np.nonzero(vr >= vt)[0] if vr.ndim else np.nonzero([vr >= vt])[0]
    if len(bad):
        i = int(bad[0])
        raise SpecError(
            path,
            f"{field}.V_reset",
            f"expected V_reset < V_th (NEST's rule); {len(bad)} neuron(s) have V_reset >= "
            f"V_th, the first: V_reset {float(np.ravel(vr)[i])} mV, V_th "
            f"{float(np.ravel(vt)[i])} mV",
        )


def _spike_generators(b, emit=True):
    """Spike-generator events, sorted by (step, gid); only on the emitting rank (0), so
    that each event is exchanged once."""
    steps, gids = [], []
    if not emit:
        b.sg_steps = np.zeros(0, np.int64)
        b.sg_gids = np.zeros(0, np.int64)
        return
    for pop in b.spec.populations.values():
        if pop.kind != "spikes":
            continue
        lay = b.layouts[pop.name]
        times = pop.params["spike_times"]
        rows = times if times and isinstance(times[0], list) else [times] * pop.size
        # NEST's window: the spikes at start < t <= stop
        k0 = ceil_steps(pop.params.get("start", 0.0), b.dt)
        k1 = ceil_steps(pop.params.get("stop", math.inf), b.dt)
        for i, row in enumerate(rows):
            if not row:
                continue
            k = ceil_steps(np.asarray(row, np.float64), b.dt)
            s = k[(k > k0) & (k <= k1)] - 1  # the spike at k dt is emitted in step k - 1
            steps.append(s)
            gids.append(np.full(len(s), lay.gid0 + i, np.int64))
    if steps:
        s, g = np.concatenate(steps), np.concatenate(gids)
        o = np.lexsort((g, s))
        b.sg_steps, b.sg_gids = s[o], g[o]
    else:
        b.sg_steps = np.zeros(0, np.int64)
        b.sg_gids = np.zeros(0, np.int64)
