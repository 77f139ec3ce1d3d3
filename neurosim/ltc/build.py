"""Build an LTC network: per-neuron parameters and synapses gathered by target (CSR).

Presynaptic values live in one vector ``X = [v (N neurons), u (K input channels)]``;
chemical synapses of target ``i`` are ``tptr[i]:tptr[i+1]`` with ``src`` (int32 index
into X) and float64 ``w, gamma, mu, E``; gap junctions likewise (``gptr, gsrc, g``),
stored in both directions.  Within a target, synapses are ordered by projection, then
by the rule's draw order, so the summation order (and so every bit) is independent of
the partition of neurons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import rng
from ..models import ltc_neuron as M
from ..network.build import PopulationLayout, _Projection, sample
from ..network.spec import SpecError
from .spec import FileArray

METHODS = {name: i for i, name in enumerate(M.INTEGRATORS)}


@dataclass
class LtcBuilt:
    """Arrays of a built LTC network (numpy; backends copy what they need)."""

    spec: object
    dt: float
    layouts: dict
    n_neurons: int
    n_inputs: int
    V: np.ndarray
    c_m: np.ndarray
    g_leak: np.ndarray
    v_leak: np.ndarray
    I_ext: np.ndarray
    pops: list  # (name, n0, n1, method id, substeps, rtol, atol)
    tptr: np.ndarray = None
    src: np.ndarray = None
    w: np.ndarray = None
    gamma: np.ndarray = None
    mu: np.ndarray = None
    E: np.ndarray = None
    gptr: np.ndarray = None
    gsrc: np.ndarray = None
    g: np.ndarray = None
    series: list = field(default_factory=list)  # (x0, values [T,K], scale, offset, every)
    elapsed: np.ndarray = None  # per-step elapsed time (ms) or None
    n_synapses: int = 0
    n_gap: int = 0
    projection_info: list = field(default_factory=list)
    # spiking-engine fields the simulation loop reads
    pois_target: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def inputs_at(self, k):
        """Input channel values u (K,) during step ``k`` (piecewise constant)."""
        u = np.zeros(self.n_inputs)
        for x0, values, scale, offset, every in self.series:
            row = min(k // every, values.shape[0] - 1)
            u[x0: x0 + values.shape[1]] = values[row] * scale + offset
        return u

    def step_length(self, k):
        if self.elapsed is None:
            return self.dt
        return float(self.elapsed[min(k, len(self.elapsed) - 1)])


def _per_neuron(spec, pop, lay, table, values, purpose):
    out = {}
    gids = np.arange(lay.gid0, lay.gid0 + pop.size, dtype=np.uint64)
    for name, entry in table.items():
        v = values.get(name)
        if v is None:
            out[name] = np.full(pop.size, entry.default)
        elif isinstance(v, FileArray):
            out[name] = v.values.astype(np.float64).copy()
        else:
            sub = rng.id_keys(rng.stream_key(spec.seed, purpose, pop.name, name), gids)
            out[name] = sample(v, sub, 0)
    return out


def build_ltc(spec, targets_of=None) -> LtcBuilt:
    """Build every neuron and synapse of a graded (LTC) network."""
    layouts, gid, n, k = {}, 0, 0, 0
    for pop in spec.populations.values():
        lay = PopulationLayout(pop.name, pop.model, pop.kind, pop.size, gid)
        if pop.kind == "ltc":
            lay.n0 = n
            n += pop.size
        gid += pop.size
        layouts[pop.name] = lay
    N = n
    x0 = N
    for pop in spec.populations.values():
        if pop.kind == "series":
            layouts[pop.name].n0 = x0
            x0 += pop.size
    K = x0 - N

    arrays = {name: np.zeros(N) for name in M.PARAMS}
    V = np.zeros(N)
    pops = []
    for pop in spec.populations.values():
        if pop.kind != "ltc":
            continue
        lay = layouts[pop.name]
        sl = slice(lay.n0, lay.n0 + pop.size)
        params = _per_neuron(spec, pop, lay, M.PARAMS,
                             {k: v for k, v in pop.params.items() if k in M.PARAMS}, rng.PARAM)
        for name in M.PARAMS:
            arrays[name][sl] = params[name]
        V[sl] = _per_neuron(spec, pop, lay, M.STATE, pop.initial, rng.INITIAL)["v"]
        integ = pop.params["__integrator__"]
        pops.append((pop.name, lay.n0, lay.n0 + pop.size, METHODS[integ["method"]],
                     integ["substeps"], integ["rtol"], integ["atol"]))

    b = LtcBuilt(spec=spec, dt=spec.dt, layouts=layouts, n_neurons=N, n_inputs=K, V=V,
                 c_m=arrays["c_m"], g_leak=arrays["g_leak"], v_leak=arrays["v_leak"],
                 I_ext=arrays["I_ext"], pops=pops)
    elapsed = None
    for pop in spec.populations.values():
        if pop.kind == "series":
            p = pop.params
            every = int(round(p["interval"] / spec.dt))
            b.series.append((layouts[pop.name].n0 - N, p["values"], p["scale"], p["offset"],
                             max(1, every)))
            if p["elapsed"] is not None:
                if elapsed is not None and not np.array_equal(elapsed, p["elapsed"]):
                    raise SpecError(spec.path, pop.field, "two series with different elapsed "
                                    "times")
                elapsed = p["elapsed"]
    b.elapsed = elapsed
    _synapses(b, spec, layouts, targets_of)
    return b


def _synapses(b, spec, layouts, targets_of):
    N = b.n_neurons
    chem = {k: [] for k in ("tgt", "src", "w", "gamma", "mu", "E", "order")}
    gap = {k: [] for k in ("tgt", "src", "g", "order")}
    for proj in spec.projections:
        pre, post = spec.populations[proj.pre], spec.populations[proj.post]
        lp, lq = layouts[proj.pre], layouts[proj.post]
        targets = (np.arange(post.size, dtype=np.int64) if targets_of is None
                   else targets_of(post.name, post.size))
        table = M.SYNAPSE if proj.synapse == "ltc_synapse" else M.GAP
        cols = {}
        if proj.rule == "from_file":
            from ..io.connections import read_connections

            s, t, _w, _d, cols = read_connections(
                proj.rule_args["path"], pre.size, post.size, spec.path,
                f"{proj.field}.rule.from_file",
                extra=[k for k in table if proj.params.get(k) is None],
                pre_key=proj.rule_args.get("pre_column", "pre"),
                post_key=proj.rule_args.get("post_column", "post"))
            keep = np.isin(t, targets)
            s, t = s[keep], t[keep]
            cols = {c: v[keep] for c, v in cols.items()}
            j = np.zeros(len(t), np.int64)
            order = np.lexsort((np.arange(len(t)), t))  # by target, file order within
            s, t = s[order], t[order]
            cols = {c: v[order] for c, v in cols.items()}
            first = np.searchsorted(t, t, side="left")
            j = np.arange(len(t)) - first
        else:
            helper = _Projection(spec, proj, pre, post, lp, lq, targets)
            from ..network import rules

            s, t, j = rules.collect(helper._rule_chunks())
            order = np.lexsort((j, t))
            s, t, j = s[order], t[order], j[order]
        gids = (lq.gid0 + t).astype(np.uint64)
        vals = {}
        for name, entry in table.items():
            v = proj.params.get(name)
            if v is None:
                vals[name] = cols[name] if name in cols else np.full(len(t), entry.default)
            elif isinstance(v, FileArray):
                if proj.rule != "from_file" or v.values.shape != (len(t),):
                    raise SpecError(spec.path, f"{proj.field}.synapse.params.{name}",
                                    f"{v.path}:{v.key} has shape {v.values.shape}; per-synapse "
                                    f"arrays need a from_file rule with {len(t)} rows")
                vals[name] = v.values[order] if targets_of is None else v.values[order]
            else:
                key = rng.stream_key(spec.seed, rng.WEIGHT, proj.index, name)
                vals[name] = sample(v, rng.id_keys(key, gids), j.astype(np.uint64))
        src = (lp.n0 + s).astype(np.int64)
        tgt = (lq.n0 + t).astype(np.int64)
        ordr = np.full(len(t), proj.index, np.int64)
        if proj.synapse == "ltc_synapse":
            if np.any(vals["w"] < 0):
                raise SpecError(spec.path, f"{proj.field}.synapse.params.w",
                                "expected conductances >= 0")
            for name, key in (("w", "w"), ("gamma", "gamma"), ("mu", "mu"), ("E", "E_rev")):
                chem[name].append(vals[key])
            chem["tgt"].append(tgt)
            chem["src"].append(src)
            chem["order"].append(ordr)
        else:
            if np.any(vals["g"] < 0):
                raise SpecError(spec.path, f"{proj.field}.synapse.params.g",
                                "expected conductances >= 0")
            # both directions: the junction acts on each side
            gap["tgt"] += [tgt, src]
            gap["src"] += [src, tgt]
            gap["g"] += [vals["g"], vals["g"]]
            gap["order"] += [ordr, ordr]
        b.projection_info.append((proj.name, proj.pre, proj.post, len(t)))

    def csr(parts, names):
        if not parts["tgt"]:
            return np.zeros(N + 1, np.int64), {n: np.zeros(0) for n in names}
        tgt = np.concatenate(parts["tgt"])
        o = np.lexsort((np.concatenate(parts["order"]), tgt))  # stable within a projection
        tgt = tgt[o]
        ptr = np.zeros(N + 1, np.int64)
        np.cumsum(np.bincount(tgt, minlength=N), out=ptr[1:])
        return ptr, {n: np.concatenate(parts[n])[o] for n in names}

    b.tptr, c = csr(chem, ("src", "w", "gamma", "mu", "E"))
    b.src = c["src"].astype(np.int32)
    b.w, b.gamma, b.mu, b.E = (c[k].astype(np.float64) for k in ("w", "gamma", "mu", "E"))
    b.gptr, gg = csr(gap, ("src", "g"))
    b.gsrc = gg["src"].astype(np.int32)
    b.g = gg["g"].astype(np.float64)
    b.n_synapses = len(b.src)
    b.n_gap = len(b.gsrc)
