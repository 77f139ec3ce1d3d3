"""Build an LTC network: per-neuron parameters, activation tables and synapse blocks.

Presynaptic values live in one vector ``X = [v (N neurons), u (K input channels)]``.

Chemical synapses: one *block* per projection (projection order).  Within a target,
synapses are summed block by block, and within a block by ascending presynaptic index
(draw order among multapses), so the summation order -- and so every bit -- depends on
nothing but the network (not on the partition of neurons, the tile size or the thread
count).

Shared activations: when a projection's ``gamma`` and ``mu`` are constants (a ``const``
value, the default, or a per-synapse array whose values are all equal), its synapses do
not carry them: the activation ``sigma(gamma (x - mu))`` of every presynaptic value is
computed once per substep into an *activation table* ``S`` (one per pre population and
``(gamma, mu)``; with a constant ``w`` too, the table holds ``w sigma``), and a synapse
is a gather from ``S`` and two multiply-adds.  Otherwise the block is *per-synapse*:
``gamma``, ``mu``, ``w`` and ``E_rev`` are stored per synapse, as ncps conversions
need.

Storage of a block (tile-major, for cache-sized presynaptic reads): the pre population
is cut into tiles of ``TILE`` = 65536 values; for tile ``t`` the block holds, target by
target, the synapses whose source lies in the tile, as uint16 offsets into the tile
(``idx``), with ``cnt[t, i]`` synapses for target ``i`` (uint16; uint32 if a count
exceeds 65535) and, every ``CB`` targets, the position of the next synapse (``crs``,
int64) so that threads can start anywhere.  Per-synapse values follow the same order in
pools: ``wp`` (``w``), ``Ep`` (``E_rev``, only where it is not a constant), ``gp``/``mp``
(``gamma``/``mu``, per-synapse blocks only), each float32 when every value it stores is
exactly a float32 (e.g. ``E_rev = +-1``), else float64; the kernels compute in float64
either way, so the dtype of a pool never changes a result.

Float32 populations (``integrator: {dtype: float32}``): every synapse parameter of the
projections onto them is rounded to float32 once, at build.  A per-synapse projection
that connects at least ``DENSE_MIN`` of its pre x post pairs, none twice (ncps's fully
connected wirings), is a *dense* block: four float32 planes ``[n_pre, n_post]`` in the
pool ``dn`` -- ``a = -gamma log2(e)``, ``mu``, ``w`` and ``w E_rev`` (zero ``w`` where a
pair has no synapse) -- 16 bytes per pair and no index; its kernel computes
``w sigma`` and ``w E_rev sigma`` in float32 (``sigma = 1 / (1 + 2^(a (x - mu)))``, a
float32 ``2^t``), sums them over ``ROWS`` presynaptic rows in float32 and adds those
partial sums to the float64 coefficients, in the order of the presynaptic index.
The other pools of a float32 population are float32 (its values are exact float32s).

``w`` drawn from a distribution in a shared-activation projection is rounded to float32
(as the spiking engine stores its weights): 4 bytes per synapse instead of 8.  Constants
and file values are used as given.  Memory: a shared projection with a constant ``w``
and ``E_rev`` costs 2 bytes per synapse plus ``2 * tiles`` bytes per target; with a
drawn ``w``, 6 bytes per synapse.

Gap junctions: a CSR by target (``gptr``, ``gsrc`` int32 into X, ``g`` float64), both
directions, by projection then draw order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

from .. import rng
from ..models import cfc as CFC
from ..models import ltc_neuron as M
from ..network.build import PopulationLayout, _Projection, sample
from ..network.spec import SpecError
from .spec import FileArray

METHODS = {name: i for i, name in enumerate(M.INTEGRATORS)}

#: Presynaptic values per tile (uint16 offsets); 512 KiB of float64 activations.
TILE = 65536
#: Targets between two coarse pointers ``crs`` (the granularity of thread chunks).
CB = 128
# columns of LtcBuilt.blk
(B_N0, B_N, B_TAB, B_X0, B_NT, B_CNT, B_CRS, B_IDX, B_W, B_E, B_P, B_NSYN) = range(12)
# dense blocks: offset in dn (-1: not dense), pre population size, first column (target)
# and number of columns of the planes (this rank's targets)
(B_D, B_NPRE, B_DLO, B_DW) = range(12, 16)
NB_COLS = 16
#: A per-synapse projection onto a float32 population is stored dense (no indices) when
#: at least this fraction of its pre x post pairs has a synapse (and none has two).
DENSE_MIN = 0.5
#: Dense blocks sum their float32 terms over this many presynaptic rows, then add the
#: partial sum to the float64 coefficient.
ROWS = 32
LOG2E = 1.4426950408889634
# columns of LtcBuilt.tab_i / tab_f
(T_X0, T_N, T_OFF, T_FOLD) = range(4)
(T_GAMMA, T_MU, T_W) = range(3)

_PARAMS = ("w", "gamma", "mu", "E_rev")


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
    # activation tables: rows (x0, n, offset in S, w folded 0/1), (gamma, mu, w)
    tab_i: np.ndarray = None
    tab_f: np.ndarray = None
    n_S: int = 0
    # chemical synapse blocks (one per projection): columns B_*, constant E_rev
    blk: np.ndarray = None
    blk_E: np.ndarray = None
    pop_blocks: list = field(default_factory=list)  # per entry of pops: block ids (int64)
    idx: np.ndarray = None  # uint16 offsets into a tile
    cnt: np.ndarray = None  # uint16/uint32 synapses per (tile, target)
    crs: np.ndarray = None  # int64 coarse pointers
    wp: np.ndarray = None
    Ep: np.ndarray = None
    gp: np.ndarray = None
    mp: np.ndarray = None
    dn: np.ndarray = None  # float32 planes of dense blocks (a, mu, w, w E_rev)
    max_cell: int = 0  # most synapses of one target in one tile
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
            u[x0 : x0 + values.shape[1]] = values[row] * scale + offset
        return u

    def step_length(self, k):
        if self.elapsed is None:
            return self.dt
        return float(self.elapsed[min(k, len(self.elapsed) - 1)])

    def inputs_block(self, k0, n):
        """Input values of steps ``k0 .. k0 + n - 1``, shape (n, K): the rows of
        :meth:`inputs_at`, computed with the same operations (same bits)."""
        u = np.zeros((n, self.n_inputs))
        ks = np.arange(k0, k0 + n)
        for x0, values, scale, offset, every in self.series:
            rows = np.minimum(ks // every, values.shape[0] - 1)
            u[:, x0 : x0 + values.shape[1]] = values[rows] * scale + offset
        return u

    def step_lengths(self, k0, n):
        """Lengths (ms) of steps ``k0 .. k0 + n - 1``, shape (n,): :meth:`step_length`."""
        if self.elapsed is None:
            return np.full(n, float(self.dt))
        ks = np.minimum(np.arange(k0, k0 + n), len(self.elapsed) - 1)
        return np.asarray(self.elapsed, np.float64)[ks]

    # -- per-synapse views (inspection, tests, the numpy reference) ----------------------

    def synapse_bytes(self):
        """Bytes of the chemical and gap-junction synapse storage."""
        arrs = (
            self.idx,
            self.cnt,
            self.crs,
            self.wp,
            self.Ep,
            self.gp,
            self.mp,
            self.gptr,
            self.gsrc,
            self.g,
            self.dn,
        )
        return int(sum(a.nbytes for a in arrs if a is not None))

    def dense_planes(self, bi):
        """The four float32 planes ``(a, mu, w, wE)``, each ``[n_pre, n_cols]``, of
        dense block ``bi`` (views into ``dn``); column ``c`` is the target
        ``blk[bi, B_DLO] + c`` (all targets, ``n_cols = n_post``, on one process)."""
        r = self.blk[bi]
        npre, dw = int(r[B_NPRE]), int(r[B_DW])
        o = int(r[B_D])
        m = npre * dw
        return [self.dn[o + q * m : o + (q + 1) * m].reshape(npre, dw) for q in range(4)]

    def flat(self, i0, i1, blocks=None):
        """Chemical synapses of targets [i0, i1) (a union of populations) in summation
        order, as per-synapse arrays: ``tgt`` (local to i0), ``xsrc`` (index into X),
        ``sidx`` (index into the activation tables, -1 for per-synapse blocks),
        ``fold`` (the table holds ``w sigma``), ``w``, ``gamma``, ``mu``, ``E``
        (float64), ``blk`` (the block, i.e. the chemical projection's rank).
        Dense blocks are left out (:meth:`dense_planes`); ``blocks``: only these.
        Memory-hungry: for small networks and the reference backend."""
        parts = []
        for bi in range(len(self.blk)) if blocks is None else blocks:
            r = self.blk[bi]
            if r[B_D] >= 0:
                continue
            if r[B_N0] >= i0 and r[B_N0] + r[B_N] <= i1:
                parts.append(self._flat_block(bi, r[B_N0] - i0))
        keys = ("tgt", "xsrc", "sidx", "fold", "w", "gamma", "mu", "E", "blk")
        if not parts:
            out = {
                k: np.zeros(0, np.int64 if k in ("tgt", "xsrc", "sidx", "blk") else np.float64)
                for k in keys
            }
            out["fold"] = np.zeros(0, bool)
            return out
        cat = {k: np.concatenate([p[k] for p in parts]) for k in keys}
        o = np.argsort(cat["tgt"], kind="stable")  # blocks in order within a target
        return {k: v[o] for k, v in cat.items()}

    def _flat_block(self, bi, shift):
        r = self.blk[bi]
        n, nt, m = int(r[B_N]), int(r[B_NT]), int(r[B_NSYN])
        cnt = self.cnt[r[B_CNT] : r[B_CNT] + nt * n].reshape(nt, n).astype(np.int64)
        tgt = np.concatenate(
            [np.repeat(np.arange(n), cnt[t]) for t in range(nt)] or [np.zeros(0, np.int64)]
        )
        tile = np.repeat(np.arange(nt), cnt.sum(axis=1))
        o = np.argsort(tgt, kind="stable")
        pos = o
        tgt, tile = tgt[o], tile[o]
        off = self.idx[r[B_IDX] + pos].astype(np.int64) + tile * TILE
        tab = int(r[B_TAB])
        out = {"tgt": tgt + shift, "xsrc": r[B_X0] + off, "blk": np.full(m, bi, np.int64)}
        if tab >= 0:
            ti, tf = self.tab_i[tab], self.tab_f[tab]
            out["sidx"] = ti[T_OFF] + off
            out["fold"] = np.full(m, bool(ti[T_FOLD]))
            out["gamma"] = np.full(m, tf[T_GAMMA])
            out["mu"] = np.full(m, tf[T_MU])
        else:
            out["sidx"] = np.full(m, -1, np.int64)
            out["fold"] = np.zeros(m, bool)
            out["gamma"] = self.gp[r[B_P] + pos].astype(np.float64)
            out["mu"] = self.mp[r[B_P] + pos].astype(np.float64)
        if r[B_W] >= 0:
            out["w"] = self.wp[r[B_W] + pos].astype(np.float64)
        else:
            out["w"] = np.full(m, self.tab_f[tab, T_W])
        if r[B_E] >= 0:
            out["E"] = self.Ep[r[B_E] + pos].astype(np.float64)
        else:
            out["E"] = np.full(m, self.blk_E[bi])
        return out

    def _legacy(self):
        if len(self.blk) and (self.blk[:, B_D] >= 0).any():
            raise ValueError("a network with dense float32 blocks: see dense_planes()")
        if getattr(self, "_legacy_cache", None) is None:
            f = self.flat(0, self.n_neurons)
            tptr = np.zeros(self.n_neurons + 1, np.int64)
            np.cumsum(np.bincount(f["tgt"], minlength=self.n_neurons), out=tptr[1:])
            self._legacy_cache = {
                "tptr": tptr,
                "src": f["xsrc"].astype(np.int32),
                "w": f["w"],
                "gamma": f["gamma"],
                "mu": f["mu"],
                "E": f["E"],
            }
        return self._legacy_cache

    # the former CSR by target (target-major, float64 per synapse): for inspection
    tptr = property(lambda self: self._legacy()["tptr"])
    src = property(lambda self: self._legacy()["src"])
    w = property(lambda self: self._legacy()["w"])
    gamma = property(lambda self: self._legacy()["gamma"])
    mu = property(lambda self: self._legacy()["mu"])
    E = property(lambda self: self._legacy()["E"])


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


def build_ltc(spec, targets_of=None, share=True) -> LtcBuilt:
    """Build every neuron and synapse of a graded (LTC) network.

    ``share=False`` stores every chemical synapse per synapse (no activation tables):
    the same values, order and results, for tests and measurements.
    """
    layouts, gid, n = {}, 0, 0
    for pop in spec.populations.values():
        lay = PopulationLayout(pop.name, pop.model, pop.kind, pop.size, gid)
        if pop.kind in ("ltc", "cfc"):  # cfc: the cell's state h, in V like v
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
        params = _per_neuron(
            spec,
            pop,
            lay,
            M.PARAMS,
            {k: v for k, v in pop.params.items() if k in M.PARAMS},
            rng.PARAM,
        )
        for name in M.PARAMS:
            arrays[name][sl] = params[name]
        V[sl] = _per_neuron(spec, pop, lay, M.STATE, pop.initial, rng.INITIAL)["v"]
        integ = pop.params["__integrator__"]
        pops.append(
            (
                pop.name,
                lay.n0,
                lay.n0 + pop.size,
                METHODS[integ["method"]],
                integ["substeps"],
                integ["rtol"],
                integ["atol"],
            )
        )
    for pop in spec.populations.values():  # CfC cells: stepped by backends/cfc_*.py
        if pop.kind == "cfc":
            lay = layouts[pop.name]
            h0 = _per_neuron(spec, pop, lay, CFC.STATE, pop.initial, rng.INITIAL)["h"]
            V[lay.n0 : lay.n0 + pop.size] = h0
            pops.append((pop.name, lay.n0, lay.n0 + pop.size, CFC.METHOD_ID, 1, 0.0, 0.0))

    b = LtcBuilt(
        spec=spec,
        dt=spec.dt,
        layouts=layouts,
        n_neurons=N,
        n_inputs=K,
        V=V,
        c_m=arrays["c_m"],
        g_leak=arrays["g_leak"],
        v_leak=arrays["v_leak"],
        I_ext=arrays["I_ext"],
        pops=pops,
    )
    elapsed = None
    for pop in spec.populations.values():
        if pop.kind == "series":
            p = pop.params
            every = int(round(p["interval"] / spec.dt))
            b.series.append(
                (layouts[pop.name].n0 - N, p["values"], p["scale"], p["offset"], max(1, every))
            )
            if p["elapsed"] is not None:
                if elapsed is not None and not np.array_equal(elapsed, p["elapsed"]):
                    raise SpecError(spec.path, pop.field, "two series with different elapsed times")
                elapsed = p["elapsed"]
    b.elapsed = elapsed
    _synapses(b, spec, layouts, targets_of, share)
    return b


# ---------------------------------------------------------------------------- kernels

_jit = nb.njit(cache=True, nogil=True)


@_jit
def _k_count(src, tgt, n_post, cnt):
    """Pass 1: synapses per (tile, target)."""
    for q in range(src.shape[0]):
        cnt[(src[q] // TILE) * n_post + tgt[q]] += 1


@_jit
def _k_scatter(src, tgt, n_post, cur, idx, io, wv, wp, wo, ev, ep, eo, gv, gp, mv, mp, po):
    """Pass 2: each synapse to the next free slot of its (tile, target) cell."""
    for q in range(src.shape[0]):
        s = src[q]
        cell = (s // TILE) * n_post + tgt[q]
        pos = np.int64(cur[cell])
        cur[cell] += 1
        idx[io + pos] = s % TILE
        if wo >= 0:
            wp[wo + pos] = wv[q]
        if eo >= 0:
            ep[eo + pos] = ev[q]
        if po >= 0:
            gp[po + pos] = gv[q]
            mp[po + pos] = mv[q]


@nb.njit(cache=True, nogil=True, parallel=True)
def _k_sort(nt, n_post, cnt, cb, tstart, idx, io, wp, wo, ep, eo, gp, mp, po):
    """Pass 3: sort every (tile, target) cell by source, stably (insertion sort)."""
    for t in nb.prange(nt):
        p0 = tstart[t]
        for i in range(n_post):
            c = np.int64(cnt[cb + t * n_post + i])
            for a in range(p0 + 1, p0 + c):
                key = idx[io + a]
                k = a
                while k > p0 and idx[io + k - 1] > key:
                    k -= 1
                if k == a:
                    continue
                # rotate [k, a] right by one in every per-synapse array
                for z in range(a, k, -1):
                    idx[io + z] = idx[io + z - 1]
                idx[io + k] = key
                if wo >= 0:
                    x = wp[wo + a]
                    for z in range(a, k, -1):
                        wp[wo + z] = wp[wo + z - 1]
                    wp[wo + k] = x
                if eo >= 0:
                    x = ep[eo + a]
                    for z in range(a, k, -1):
                        ep[eo + z] = ep[eo + z - 1]
                    ep[eo + k] = x
                if po >= 0:
                    x = gp[po + a]
                    y = mp[po + a]
                    for z in range(a, k, -1):
                        gp[po + z] = gp[po + z - 1]
                        mp[po + z] = mp[po + z - 1]
                    gp[po + k] = x
                    mp[po + k] = y
            p0 += c


@_jit
def _k_check(cur, cnt, cb):
    """After pass 2 every cursor sits at the end of its cell."""
    pos = 0
    for k in range(cur.shape[0]):
        pos += np.int64(cnt[cb + k])
        if np.int64(cur[k]) != pos:
            return False
    return True


@_jit
def _k_positions(nt, n_post, cnt32, crs, co):
    """Counts -> cell start positions (in place, tile-major) and coarse pointers; returns
    the start of every tile."""
    ncb = (n_post + CB - 1) // CB
    tstart = np.zeros(nt + 1, np.int64)
    pos = 0
    for t in range(nt):
        tstart[t] = pos
        for i in range(n_post):
            if i % CB == 0:
                crs[co + t * (ncb + 1) + i // CB] = pos
            c = np.int64(cnt32[t * n_post + i])
            cnt32[t * n_post + i] = pos
            pos += c
        crs[co + t * (ncb + 1) + ncb] = pos
    tstart[nt] = pos
    return tstart


# ---------------------------------------------------------------------------- synapses


def _values_const(v):
    """A per-synapse array whose values are all equal -> that value, else None."""
    if len(v) and np.all(v == v[0]):
        return float(v[0])
    return None


class _Chem:
    """One chemical projection: where its synapses come from and how it is stored."""

    def __init__(self, spec, proj, pre, post, lp, lq, targets, share):
        self.proj, self.pre, self.post, self.lp, self.lq = proj, pre, post, lp, lq
        self._args = (spec, proj, pre, post, lp, lq, share)
        self.targets = targets
        self.f32 = post.params["__integrator__"].get("dtype", "float64") == "float32"
        self.dense = False
        self.helper = None
        self.file = None
        params = {}
        if proj.rule == "from_file":
            from ..io.connections import read_connections

            s, t, _w, _d, cols = read_connections(
                proj.rule_args["path"],
                pre.size,
                post.size,
                spec.path,
                f"{proj.field}.rule.from_file",
                extra=[k for k in M.SYNAPSE if proj.params.get(k) is None],
                pre_key=proj.rule_args.get("pre_column", "pre"),
                post_key=proj.rule_args.get("post_column", "post"),
            )
            keep = np.isin(t, targets)
            nfile = len(t)
            s, t = s[keep], t[keep]
            order = np.lexsort((np.arange(len(t)), t))  # by target, file order within
            s, t = s[order], t[order]
            first = np.searchsorted(t, t, side="left")
            j = np.arange(len(t)) - first
            for name in M.SYNAPSE:
                v = proj.params.get(name)
                if v is None and name in cols:
                    params[name] = ("array", cols[name][keep][order])
                elif isinstance(v, FileArray):
                    if v.values.shape != (nfile,):
                        raise SpecError(
                            spec.path,
                            f"{proj.field}.synapse.params.{name}",
                            f"{v.path}:{v.key} has shape {v.values.shape}; "
                            f"per-synapse arrays need a from_file rule with "
                            f"{nfile} rows",
                        )
                    params[name] = ("array", v.values[keep][order])
            self.file = (s, t, j)
        else:
            self.helper = _Projection(spec, proj, pre, post, lp, lq, targets)
        for name, entry in M.SYNAPSE.items():
            if name in params:
                c = _values_const(params[name][1])
                if c is not None:
                    params[name] = ("const", c)
                continue
            v = proj.params.get(name)
            if v is None:
                params[name] = ("const", float(entry.default))
            elif v.is_const:
                params[name] = ("const", float(v.args[0]))
            else:
                params[name] = ("draw", v)
        if self.f32:  # every value rounded once (draws in values())
            for name, (kind, val) in params.items():
                if kind == "const":
                    params[name] = (kind, float(np.float32(val)))
                elif kind == "array":
                    params[name] = (kind, val.astype(np.float32).astype(np.float64))
        self.params = params
        self.shared = share and params["gamma"][0] == "const" and params["mu"][0] == "const"
        # w drawn from a distribution, shared activations: float32 (see the module doc)
        self.round_w = (
            params["w"][0] == "draw"
            and params["gamma"][0] == "const"
            and params["mu"][0] == "const"
        )
        kind, val = params["w"]
        if kind == "const" and val < 0 or kind == "array" and np.any(val < 0):
            raise SpecError(
                spec.path, f"{proj.field}.synapse.params.w", "expected conductances >= 0"
            )
        self.fold = self.shared and kind == "const"
        self.w_per_syn = not self.fold
        self.E_per_syn = params["E_rev"][0] != "const"
        self.nt = max(1, (pre.size + TILE - 1) // TILE)

    def w_float32_exact(self):
        """Can every stored w of this projection be a float32 without loss?"""
        if not self.w_per_syn or self.dense:
            return True
        kind, val = self.params["w"]
        if kind == "draw":
            return self.round_w or self.f32
        v = np.atleast_1d(np.asarray(val, np.float64))
        return bool(np.all(v.astype(np.float32).astype(np.float64) == v))

    def float32_exact(self, name):
        """Is every stored value of parameter ``name`` exactly a float32?"""
        kind, val = self.params[name]
        if kind == "draw":
            return self.f32
        v = np.atleast_1d(np.asarray(val, np.float64))
        return bool(np.all(v.astype(np.float32).astype(np.float64) == v))

    def chunks(self):
        """(src, tgt, j) chunks, population-local, targets ascending within a target's
        synapses in draw (or file) order; plus the chunk's slice of the file."""
        if self.file is not None:
            s, t, j = self.file
            for a in range(0, len(t), 1 << 18):
                sl = slice(a, a + (1 << 18))
                yield s[sl], t[sl], j[sl], sl
            return
        for src, tgt, j in self.helper._rule_chunks():
            yield src, tgt, j, None

    def values(self, name, spec, tgt, j, sl):
        """Per-synapse float64 values of parameter ``name`` for a chunk."""
        kind, val = self.params[name]
        if kind == "const":
            return np.full(len(tgt), val)
        if kind == "array":
            return val[sl]
        key = rng.stream_key(spec.seed, rng.WEIGHT, self.proj.index, name)
        out = (
            self.helper.draw(val, key, tgt, j)
            if self.helper is not None
            else sample(
                val, rng.id_keys(key, (self.lq.gid0 + tgt).astype(np.uint64)), j.astype(np.uint64)
            )
        )
        if name == "w":
            if np.any(out < 0):
                raise SpecError(
                    spec.path, f"{self.proj.field}.synapse.params.w", "expected conductances >= 0"
                )
            if self.round_w:
                out = out.astype(np.float32).astype(np.float64)
        if self.f32:
            out = out.astype(np.float32).astype(np.float64)
        return out

    def dense_ok(self):
        """Store this projection dense?  Decided on the whole projection (every
        target, on every rank alike), so that the arithmetic of a target does not
        depend on the partition: float32, per-synapse, at least ``DENSE_MIN`` of the
        pairs connected, none twice."""
        if not self.f32 or self.shared:
            return False
        pairs = self.pre.size * self.post.size
        whole, n = self, self.nsyn
        if len(self.targets) != self.post.size:  # this rank's part: look at all of it
            spec, proj, pre, post, lp, lq, share = self._args
            whole = _Chem(spec, proj, pre, post, lp, lq, np.arange(post.size), share)
            n = sum(len(s) for s, *_ in whole.chunks())
        if n < DENSE_MIN * pairs:
            return False
        seen = np.zeros(pairs, bool)
        for s, t, _j, _sl in whole.chunks():
            key = s.astype(np.int64) * self.post.size + t
            if seen[key].any() or len(np.unique(key)) != len(key):
                return False
            seen[key] = True
        return True


def _synapses(b, spec, layouts, targets_of, share):
    N = b.n_neurons
    chem = []
    gap = {k: [] for k in ("tgt", "src", "g", "order")}
    for proj in spec.projections:
        pre, post = spec.populations[proj.pre], spec.populations[proj.post]
        lp, lq = layouts[proj.pre], layouts[proj.post]
        targets = (
            np.arange(post.size, dtype=np.int64)
            if targets_of is None
            else np.asarray(targets_of(post.name, post.size), np.int64)
        )
        if proj.synapse == "ltc_synapse":
            chem.append(_Chem(spec, proj, pre, post, lp, lq, targets, share))
            b.projection_info.append(None)  # filled below
            continue
        # gap junctions: collected whole (small), CSR by target; both directions act,
        # so a junction onto a neuron elsewhere may act on a local one: all are drawn
        # and the local targets kept below
        targets = np.arange(post.size, dtype=np.int64)
        helper = _Projection(spec, proj, pre, post, lp, lq, targets)
        if proj.rule == "from_file":
            from ..io.connections import read_connections

            s, t, _w, _d, cols = read_connections(
                proj.rule_args["path"],
                pre.size,
                post.size,
                spec.path,
                f"{proj.field}.rule.from_file",
                extra=[k for k in M.GAP if proj.params.get(k) is None],
                pre_key=proj.rule_args.get("pre_column", "pre"),
                post_key=proj.rule_args.get("post_column", "post"),
            )
            keep = np.isin(t, targets)
            nfile = len(t)
            s, t = s[keep], t[keep]
            cols = {c: v[keep] for c, v in cols.items()}
            order = np.lexsort((np.arange(len(t)), t))
            s, t = s[order], t[order]
            cols = {c: v[order] for c, v in cols.items()}
            j = np.arange(len(t)) - np.searchsorted(t, t, side="left")
        else:
            from ..network import rules

            s, t, j = rules.collect(helper._rule_chunks())
            order = np.lexsort((j, t))
            s, t, j = s[order], t[order], j[order]
            cols, nfile = {}, len(t)
        v = proj.params.get("g")
        if v is None:
            g = cols["g"] if "g" in cols else np.full(len(t), M.GAP["g"].default)
        elif isinstance(v, FileArray):
            if proj.rule != "from_file" or v.values.shape != (nfile,):
                raise SpecError(
                    spec.path,
                    f"{proj.field}.synapse.params.g",
                    f"{v.path}:{v.key} has shape {v.values.shape}; per-synapse "
                    f"arrays need a from_file rule with {nfile} rows",
                )
            g = v.values[keep][order]
        else:
            key = rng.stream_key(spec.seed, rng.WEIGHT, proj.index, "g")
            g = sample(v, rng.id_keys(key, (lq.gid0 + t).astype(np.uint64)), j.astype(np.uint64))
        if np.any(g < 0):
            raise SpecError(
                spec.path, f"{proj.field}.synapse.params.g", "expected conductances >= 0"
            )
        src = (lp.n0 + s).astype(np.int64)
        tgt = (lq.n0 + t).astype(np.int64)
        ordr = np.full(len(t), proj.index, np.int64)
        gap["tgt"] += [tgt, src]  # both directions: the junction acts on each side
        gap["src"] += [src, tgt]
        gap["g"] += [g, g]
        gap["order"] += [ordr, ordr]
        b.projection_info.append((proj.name, proj.pre, proj.post, len(t)))

    _chemical(b, spec, chem)
    ci = iter(chem)
    b.projection_info = [x if x is not None else next(ci).info for x in b.projection_info]

    if gap["tgt"]:
        tgt = np.concatenate(gap["tgt"])
        o = np.lexsort((np.concatenate(gap["order"]), tgt))  # stable within a projection
        if targets_of is not None:
            local = np.zeros(N, bool)
            for pop in spec.populations.values():
                if layouts[pop.name].n0 >= 0 and pop.kind in ("ltc", "cfc"):
                    t_loc = np.asarray(targets_of(pop.name, pop.size), np.int64)
                    local[layouts[pop.name].n0 + t_loc] = True
            o = o[local[tgt[o]]]
        tgt = tgt[o]
        b.gptr = np.zeros(N + 1, np.int64)
        np.cumsum(np.bincount(tgt, minlength=N), out=b.gptr[1:])
        b.gsrc = np.concatenate(gap["src"])[o].astype(np.int32)
        b.g = np.concatenate(gap["g"])[o].astype(np.float64)
    else:
        b.gptr = np.zeros(N + 1, np.int64)
        b.gsrc = np.zeros(0, np.int32)
        b.g = np.zeros(0)
    b.n_gap = len(b.gsrc)


def _fill_dense(b, bi, c, spec):
    """The planes of dense block ``bi`` (see the module docstring)."""
    a, mu, w, we = (p.reshape(-1) for p in b.dense_planes(bi))
    for s, t, j, sl in c.chunks():
        if not len(s):
            continue
        pos = s.astype(np.int64) * c.dw + (t - c.dlo)
        g32 = c.values("gamma", spec, t, j, sl).astype(np.float32)
        w32 = c.values("w", spec, t, j, sl).astype(np.float32)
        e32 = c.values("E_rev", spec, t, j, sl).astype(np.float32)
        a[pos] = -(g32.astype(np.float64) * LOG2E)  # rounded to float32 on assignment
        mu[pos] = c.values("mu", spec, t, j, sl)
        w[pos] = w32
        we[pos] = w32.astype(np.float64) * e32  # the float32 product, rounded once


def _chemical(b, spec, chem):
    """Activation tables and blocks of every chemical projection (three passes: count,
    scatter, sort; the peak is the final pools plus one count per (tile, target))."""
    # activation tables, one per (pre population, gamma, mu, folded w)
    tabs = {}
    tab_rows = []
    n_S = 0
    for c in chem:
        c.tab = -1
        if not c.shared:
            continue
        key = (
            c.proj.pre,
            c.params["gamma"][1],
            c.params["mu"][1],
            c.params["w"][1] if c.fold else None,
        )
        if key not in tabs:
            tabs[key] = len(tab_rows)
            tab_rows.append(
                (
                    c.lp.n0,
                    c.pre.size,
                    n_S,
                    int(c.fold),
                    key[1],
                    key[2],
                    key[3] if c.fold else np.nan,
                )
            )
            n_S += c.pre.size
        c.tab = tabs[key]
    b.tab_i = np.array([r[:4] for r in tab_rows], np.int64).reshape(-1, 4)
    b.tab_f = np.array([r[4:] for r in tab_rows], np.float64).reshape(-1, 3)
    b.n_S = n_S

    # pass 1: counts per (tile, target)
    for c in chem:
        n = c.post.size
        c.cnt32 = np.zeros(c.nt * n, np.uint32)
        total = 0
        for s, t, _j, _sl in c.chunks():
            _k_count(s, t, n, c.cnt32)
            total += len(s)
        if total >= 2**32:
            raise SpecError(spec.path, c.proj.field, "more than 2**32 synapses in one projection")
        c.nsyn = total
        c.info = (c.proj.name, c.proj.pre, c.proj.post, total)

    # dense blocks: float32, per-synapse, most pairs connected, none twice
    for c in chem:
        c.dense = c.dense_ok()
        if c.dense:
            c.cnt32 = np.zeros(0, np.uint32)
            t = np.asarray(c.targets, np.int64)
            # this rank's columns: a contiguous range of targets (all of them if not)
            contiguous = len(t) == 0 or t[-1] - t[0] + 1 == len(t)
            c.dlo = int(t[0]) if len(t) and contiguous else 0
            c.dw = len(t) if contiguous else c.post.size

    # pools
    max_cell = max([int(c.cnt32.max()) if len(c.cnt32) else 0 for c in chem], default=0)
    cdt = np.uint16 if max_cell <= 0xFFFF else np.uint32
    wdt = np.float32 if all(c.w_float32_exact() for c in chem) else np.float64

    def pool_dtype(name, stores):
        ok = all(c.float32_exact(name) for c in chem if stores(c) and not c.dense)
        return np.float32 if ok else np.float64

    edt = pool_dtype("E_rev", lambda c: c.E_per_syn)
    gdt = pool_dtype("gamma", lambda c: not c.shared)
    mdt = pool_dtype("mu", lambda c: not c.shared)
    blk = np.zeros((len(chem), NB_COLS), np.int64)
    sizes = {"idx": 0, "cnt": 0, "crs": 0, "w": 0, "E": 0, "p": 0, "dn": 0}
    for bi, c in enumerate(chem):
        n = c.post.size
        ncb = (n + CB - 1) // CB
        r = blk[bi]
        r[B_N0], r[B_N], r[B_TAB], r[B_X0], r[B_NT] = c.lq.n0, n, c.tab, c.lp.n0, c.nt
        r[B_NSYN] = c.nsyn
        r[B_NPRE] = c.pre.size
        r[B_CNT], r[B_CRS], r[B_IDX] = sizes["cnt"], sizes["crs"], sizes["idx"]
        r[B_W] = r[B_E] = r[B_P] = r[B_D] = -1
        if c.dense:  # no tiles, no pools but its planes
            r[B_NT] = 0
            r[B_D] = sizes["dn"]
            r[B_DLO], r[B_DW] = c.dlo, c.dw
            sizes["dn"] += 4 * c.pre.size * c.dw
            continue
        sizes["cnt"] += c.nt * n
        sizes["crs"] += c.nt * (ncb + 1)
        sizes["idx"] += c.nsyn
        if c.w_per_syn:
            r[B_W] = sizes["w"]
            sizes["w"] += c.nsyn
        if c.E_per_syn:
            r[B_E] = sizes["E"]
            sizes["E"] += c.nsyn
        if not c.shared:
            r[B_P] = sizes["p"]
            sizes["p"] += c.nsyn
    b.blk = blk
    b.blk_E = np.array(
        [c.params["E_rev"][1] if not c.E_per_syn else np.nan for c in chem], np.float64
    )
    b.idx = np.empty(sizes["idx"], np.uint16)
    b.cnt = np.empty(sizes["cnt"], cdt)
    b.crs = np.empty(sizes["crs"], np.int64)
    b.wp = np.empty(sizes["w"], wdt)
    b.Ep = np.empty(sizes["E"], edt)
    b.gp = np.empty(sizes["p"], gdt)
    b.mp = np.empty(sizes["p"], mdt)
    b.dn = np.zeros(sizes["dn"], np.float32)
    b.max_cell = max_cell
    none = np.zeros(0)

    for bi, c in enumerate(chem):
        r = blk[bi]
        n = c.post.size
        if c.dense:
            _fill_dense(b, bi, c, spec)
            continue
        b.cnt[r[B_CNT] : r[B_CNT] + c.nt * n] = c.cnt32
        tstart = _k_positions(c.nt, n, c.cnt32, b.crs, r[B_CRS])  # cnt32 -> cursors
        # pass 2: scatter
        for s, t, j, sl in c.chunks():
            if not len(s):
                continue
            wv = c.values("w", spec, t, j, sl) if r[B_W] >= 0 else none
            ev = c.values("E_rev", spec, t, j, sl) if r[B_E] >= 0 else none
            gv = c.values("gamma", spec, t, j, sl) if r[B_P] >= 0 else none
            mv = c.values("mu", spec, t, j, sl) if r[B_P] >= 0 else none
            _k_scatter(
                s,
                t,
                n,
                c.cnt32,
                b.idx,
                r[B_IDX],
                wv,
                b.wp,
                r[B_W],
                ev,
                b.Ep,
                r[B_E],
                gv,
                b.gp,
                mv,
                b.mp,
                r[B_P],
            )
        if not _k_check(c.cnt32, b.cnt, r[B_CNT]):
            raise RuntimeError("network build: the second pass drew different synapses")
        c.cnt32 = None
        # pass 3: by source within every (tile, target) cell
        _k_sort(
            c.nt,
            n,
            b.cnt,
            r[B_CNT],
            tstart,
            b.idx,
            r[B_IDX],
            b.wp,
            r[B_W],
            b.Ep,
            r[B_E],
            b.gp,
            b.mp,
            r[B_P],
        )
    b.n_synapses = int(sum(c.nsyn for c in chem))

    b.pop_blocks = []
    for _name, n0, n1, *_ in b.pops:
        b.pop_blocks.append(
            np.array(
                [bi for bi in range(len(chem)) if blk[bi, B_N0] == n0 and blk[bi, B_N] == n1 - n0],
                np.int64,
            )
        )
