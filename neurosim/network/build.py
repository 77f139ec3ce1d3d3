"""Build a validated spec into arrays: neuron state, propagators, synapses (CSR by source).

Layout (one process; the MPI issue partitions the *targets*):

- every population gets a range of global ids (gids) in file order, devices included;
- neuron populations are concatenated into one neuron index space ``0..N-1``;
- recurrent synapses (from neurons and spike generators) form a CSR keyed by source
  gid: ``row_ptr[gid]:row_ptr[gid+1]`` indexes ``target`` (int32 ring-buffer slot
  ``receptor * N + neuron``), ``weight`` (float32) and ``delay`` (uint8/uint16 ticks);
- Poisson synapses carry their own arrays (each draws an independent train);
- current synapses (dc, step, noise generators) add ``weight * I(t)`` to ``I_stim``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import rng
from ..models import get_model
from . import rules
from .spec import NetworkSpec, SpecError, Value

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
        if attempt >= 64:
            raise ValueError("normal distribution bounds reject almost every draw")
        out[bad] = mean + std * rng.normal(subkeys[bad], base[bad] + np.uint64(attempt))
        bad = bad[(out[bad] < lo) | (out[bad] > hi)]
        attempt += 1
    return out


@dataclass
class PopulationLayout:
    name: str
    model: str
    kind: str
    size: int
    gid0: int  # first global id
    n0: int = -1  # first neuron index (neuron populations)
    prop_row0: int = -1  # first propagator row
    heterogeneous: bool = False


@dataclass
class Built:
    """Everything a backend needs; all arrays are numpy (backends copy what they need)."""

    spec: NetworkSpec
    dt: float
    layouts: dict
    n_neurons: int
    n_gids: int
    # neuron state (float64): V (N,), syn (S_MAX, N), refractory counters (N,)
    V: np.ndarray
    syn: np.ndarray
    refr: np.ndarray
    # per neuron: propagator row
    prow: np.ndarray
    # propagator rows (rows,)
    params: dict  # per population: dict name -> float64 array (n,) with n = 1 or size
    prop: dict = field(default_factory=dict)  # name -> array with leading axis rows
    # recurrent CSR by source gid
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


def _pop_params(spec, pop, model, layout):
    """Per-neuron (or shared) parameter arrays in internal units."""
    out = {}
    het = False
    key = (spec.seed, rng.PARAM, pop.name)
    gids = np.arange(layout.gid0, layout.gid0 + pop.size, dtype=np.uint64)
    for name, entry in model.params.items():
        v = pop.params.get(name)
        if v is None:
            out[name] = np.array([entry.default], np.float64)
        elif v.is_const:
            out[name] = np.array([v.args[0]], np.float64)
        else:
            het = True
            sub = rng.id_keys(rng.stream_key(*key, name), gids)
            out[name] = sample(v, sub, 0)
    if het:
        out = {k: np.broadcast_to(v, (pop.size,)).copy() for k, v in out.items()}
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
        np.round(params["t_ref"] / dt).astype(np.int32), (n,)
    ).copy()
    return rows


def _connect(spec, proj, pre, post, lay_pre, lay_post, targets):
    key = rng.stream_key(spec.seed, rng.CONNECT, proj.index)
    post_gids = np.arange(lay_post.gid0, lay_post.gid0 + post.size, dtype=np.uint64)
    pre_gids = np.arange(lay_pre.gid0, lay_pre.gid0 + pre.size, dtype=np.uint64)
    autapse = None if (proj.allow_autapses or proj.pre != proj.post) else 0
    a = proj.rule_args
    if proj.rule == "fixed_indegree":
        return rules.fixed_indegree(key, a["k"], pre.size, post_gids, targets, autapse,
                                    proj.allow_multapses) + (None, None)
    if proj.rule == "pairwise_bernoulli":
        return rules.pairwise_bernoulli(key, a["p"], pre.size, post_gids, targets,
                                        autapse) + (None, None)
    if proj.rule == "all_to_all":
        return rules.all_to_all(pre.size, targets, autapse) + (None, None)
    if proj.rule == "one_to_one":
        return rules.one_to_one(targets) + (None, None)
    if proj.rule == "fixed_outdegree":
        return rules.fixed_outdegree(key, a["k"], post.size, pre_gids, targets, autapse,
                                     proj.allow_multapses) + (None, None)
    if proj.rule == "fixed_total_number":
        return rules.fixed_total_number(key, a["n"], pre.size, post.size, targets, autapse,
                                        proj.allow_multapses) + (None, None)
    if proj.rule == "from_file":
        from ..io.connections import read_connections

        s, t, w, d = read_connections(a["path"], pre.size, post.size, spec.path,
                                      f"{proj.field}.rule.from_file")
        keep = np.isin(t, targets)
        return s[keep], t[keep], None if w is None else w[keep], None if d is None else d[keep]
    raise SpecError(spec.path, proj.field, f"rule {proj.rule} not implemented")


def _synapse_values(spec, proj, lay_post, tgt, src):
    """Sort one projection's synapses by (target, source) and draw weights and delays."""
    order = np.lexsort((src, tgt))
    tgt, src = tgt[order], src[order]
    # j = rank of the synapse among its target's synapses (partition-independent)
    first = np.searchsorted(tgt, tgt, side="left")
    j = (np.arange(len(tgt)) - first).astype(np.uint64)
    gids = (lay_post.gid0 + tgt).astype(np.uint64)
    w = sample(proj.weight, rng.id_keys(rng.stream_key(spec.seed, rng.WEIGHT, proj.index), gids), j)
    d = sample(proj.delay, rng.id_keys(rng.stream_key(spec.seed, rng.DELAY, proj.index), gids), j)
    return order, tgt, src, w, d, j


def build(spec: NetworkSpec, targets_of=None) -> Built:
    """Build every neuron and synapse of ``spec`` (one process).

    Parameters
    ----------
    spec : NetworkSpec
    targets_of : callable, optional
        ``targets_of(population_name, size) -> sorted int64 array`` of the local
        neurons (all of them when omitted); the hook the MPI partition uses.
    """
    dt = spec.dt
    layouts = {}
    gid = 0
    n = 0
    for pop in spec.populations.values():
        lay = PopulationLayout(pop.name, pop.model, pop.kind, pop.size, gid)
        if pop.kind == "neuron":
            lay.n0 = n
            n += pop.size
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
        params[pop.name] = pp
        rows = propagator_rows(model, pp, dt)
        nrows = len(rows["P_VV"])
        lay.prop_row0 = row
        sl = slice(lay.n0, lay.n0 + pop.size)
        prow[sl] = row + (np.arange(pop.size) if nrows > 1 else 0)
        row += nrows
        prop_parts.append(rows)
        gids = np.arange(lay.gid0, lay.gid0 + pop.size, dtype=np.uint64)
        for sname, entry in model.state.items():
            if sname in pop.initial:
                sub = rng.id_keys(rng.stream_key(spec.seed, rng.INITIAL, pop.name, sname), gids)
                vals = sample(pop.initial[sname], sub, 0)
            elif sname == "V_m":
                vals = np.broadcast_to(pp["E_L"], (pop.size,))
            else:
                vals = np.full(pop.size, entry.default)
            if sname == "V_m":
                V[sl] = vals
            else:
                syn[model.syn_state.index(sname), sl] = vals
    prop = {k: np.concatenate([p[k] for p in prop_parts]) for k in prop_parts[0]}

    b = Built(spec=spec, dt=dt, layouts=layouts, n_neurons=N, n_gids=gid, V=V, syn=syn,
              refr=np.zeros(N, np.int32), prow=prow, params=params, prop=prop)

    # ---- synapses
    rec_src, rec_tgt, rec_w, rec_d, rec_order = [], [], [], [], []
    pois = {"target": [], "weight": [], "delay": [], "gen": [], "key": []}
    cur = {"target": [], "weight": [], "delay": [], "gen": [], "key": []}
    pois_gen_index, cur_gen_index = {}, {}
    for proj in spec.projections:
        pre, post = spec.populations[proj.pre], spec.populations[proj.post]
        lp, lq = layouts[proj.pre], layouts[proj.post]
        model = get_model(post.model)
        targets = (np.arange(post.size, dtype=np.int64) if targets_of is None
                   else targets_of(post.name, post.size))
        src, tgt, fw, fd = _connect(spec, proj, pre, post, lp, lq, targets)
        order, tgt, src, w, d, j = _synapse_values(spec, proj, lq, tgt, src)
        if fw is not None:
            w = fw[order].astype(np.float64)
        if fd is not None:
            d = fd[order].astype(np.float64)
        steps = np.round(d / dt).astype(np.int64)
        if len(steps) and steps.min() < 1:
            raise SpecError(spec.path, f"{proj.field}.delay",
                            f"a delay below dt ({dt} ms) was drawn or read; delays must be >= dt")
        if len(steps) and steps.max() > 65535:
            raise SpecError(spec.path, f"{proj.field}.delay", "delays above 65535 steps")
        neuron = lq.n0 + tgt
        if pre.kind == "current":
            gi = cur_gen_index.setdefault(proj.pre, {})
            for g in range(pre.size):
                if g not in gi:
                    gi[g] = len(b.cur_gens)
                    b.cur_gens.append((pre.model, _device_params(pre, g)))
            cur["target"].append(neuron.astype(np.int32))
            cur["weight"].append(w)
            cur["delay"].append(steps)
            cur["gen"].append(np.array([gi[g] for g in src], np.int32).reshape(-1))
            k = rng.id_keys(rng.stream_key(spec.seed, rng.NOISE, proj.index),
                            (lq.gid0 + tgt).astype(np.uint64))
            cur["key"].append(rng.mix64(k + j * rng.GOLDEN))
            b.projection_info.append((proj.name, proj.pre, proj.post, len(tgt)))
            continue
        if proj.receptor is not None:
            rec = np.full(len(w), model.receptors.index(proj.receptor), np.int64)
        else:
            rec = np.where(w < 0, model.receptors.index("in"), model.receptors.index("ex"))
        if model.conductance_weights:
            w = np.abs(w)
        slot = (rec * N + neuron).astype(np.int64)
        if pre.kind == "poisson":
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
            k = rng.id_keys(rng.stream_key(spec.seed, rng.POISSON, proj.index),
                            (lq.gid0 + tgt).astype(np.uint64))
            pois["key"].append(rng.mix64(k + j * rng.GOLDEN))
        else:
            rec_src.append(lp.gid0 + src)
            rec_tgt.append(slot)
            rec_w.append(w)
            rec_d.append(steps)
            rec_order.append(np.full(len(src), proj.index, np.int64))
        b.projection_info.append((proj.name, proj.pre, proj.post, len(tgt)))

    _finish_csr(b, rec_src, rec_tgt, rec_w, rec_d, rec_order)
    _finish_devices(b, pois, cur)
    _spike_generators(b)
    return b


def _device_params(pop, g):
    p = dict(pop.params)
    return p


def _finish_csr(b, src, tgt, w, d, order):
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    src, tgt, w, d, order = (cat(src, np.int64), cat(tgt, np.int64), cat(w, np.float64),
                             cat(d, np.int64), cat(order, np.int64))
    # within a source row: by projection, then target slot (then the stable draw order)
    perm = np.lexsort((tgt, order, src))
    src = src[perm]
    b.target = tgt[perm].astype(np.int32)
    b.weight = w[perm].astype(np.float32)
    dmax = int(d.max()) if len(d) else 1
    b.delay = d[perm].astype(np.uint8 if dmax < 256 else np.uint16)
    counts = np.bincount(src, minlength=b.n_gids)
    b.row_ptr = np.zeros(b.n_gids + 1, np.int64)
    np.cumsum(counts, out=b.row_ptr[1:])
    b.n_synapses = len(src)
    b.min_delay = int(d.min()) if len(d) else 1
    b.max_delay = dmax


def _finish_devices(b, pois, cur):
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
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


def _spike_generators(b):
    steps, gids = [], []
    for pop in b.spec.populations.values():
        if pop.kind != "spikes":
            continue
        lay = b.layouts[pop.name]
        times = pop.params["spike_times"]
        rows = times if times and isinstance(times[0], list) else [times] * pop.size
        for i, row in enumerate(rows):
            if not row:
                continue
            s = np.round(np.asarray(row) / b.dt).astype(np.int64) - 1  # emitted in step s
            steps.append(s)
            gids.append(np.full(len(s), lay.gid0 + i, np.int64))
    if steps:
        s, g = np.concatenate(steps), np.concatenate(gids)
        o = np.lexsort((g, s))
        b.sg_steps, b.sg_gids = s[o], g[o]
    else:
        b.sg_steps = np.zeros(0, np.int64)
        b.sg_gids = np.zeros(0, np.int64)
