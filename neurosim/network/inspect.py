"""Inspect the synapses of a built network: who connects to whom, with what weight and delay.

:func:`get_connections` reads the arrays of :class:`neurosim.network.build.Built` (the
recurrent CSR by source, and the Poisson and current-device synapses) back into
population-local ids, weights in the network file's units and delays in ms::

    c = neurosim.get_connections(sim, "E", "I")    # or a Built, a NetworkSpec, a file
    c.source, c.target, c.weight, c.delay           # one entry per synapse
    c.in_degree(), c.out_degree(), c.degree_stats()

Weights follow the network file's sign convention: conductance-based models store
``|w|`` and choose the port by the sign, so a synapse on their ``in`` port is reported
with a negative weight (what a network file or a ``from_file`` table would give).

Plastic projections (:mod:`neurosim.plasticity`) are included, after the static
synapses of the pair, with their current weights (float64; from a simulation: the
weights learned so far).

With several ranks a ``Built`` holds only the synapses onto its own neurons; so does
what :func:`get_connections` returns from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

#: Synapses decoded at once by :func:`get_connections` (bounds its temporaries).
CHUNK = 1 << 22


@dataclass
class Connections:
    """The synapses from one population onto another.

    Attributes
    ----------
    pre, post : str
        Source and target population names.
    kind : str
        ``"spikes"`` (neurons, spike generators), ``"poisson"`` or ``"current"``
        (the source is a device of that kind).
    source : ndarray of int64, shape (n,)
        Population-local id of each synapse's source.
    target : ndarray of int64, shape (n,)
        Population-local id of each synapse's target.
    weight : ndarray of float64, shape (n,)
        Weight in ``weight_unit`` (the values the simulation uses: float32 for
        static spiking synapses, widened to float64 here; float64 for plastic ones).
    delay : ndarray of float64, shape (n,)
        Delay (ms), a multiple of dt.
    receptor : ndarray of int8, shape (n,)
        Index into ``receptors`` of the port each synapse acts on (-1 for current
        devices, which add to the input current).
    receptors : tuple of str
        Port names of the target model (``("ex", "in")``).
    weight_unit : str
        ``pA``, ``mV`` or ``nS`` (the target model's), ``1`` for current devices
        (their weight multiplies the device's current).
    n_pre, n_post : int
        Population sizes.
    """

    pre: str
    post: str
    kind: str
    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    receptor: np.ndarray
    receptors: tuple
    weight_unit: str
    n_pre: int
    n_post: int

    def __len__(self):
        return len(self.source)

    def in_degree(self) -> np.ndarray:
        """Synapses onto each target neuron: int64, shape (n_post,)."""
        return np.bincount(self.target, minlength=self.n_post).astype(np.int64)

    def out_degree(self) -> np.ndarray:
        """Synapses from each source: int64, shape (n_pre,)."""
        return np.bincount(self.source, minlength=self.n_pre).astype(np.int64)

    def degree_stats(self) -> dict:
        """Mean, std, min and max of the in- and out-degrees.

        Returns
        -------
        dict
            ``{"in": {"mean", "std", "min", "max"}, "out": {...}, "synapses": n}``
            (degrees counted over all ``n_post`` targets and ``n_pre`` sources,
            zeros included).
        """

        def stats(d):
            if not len(d):
                return {"mean": 0.0, "std": 0.0, "min": 0, "max": 0}
            return {
                "mean": float(d.mean()),
                "std": float(d.std()),
                "min": int(d.min()),
                "max": int(d.max()),
            }

        return {
            "in": stats(self.in_degree()),
            "out": stats(self.out_degree()),
            "synapses": len(self),
        }

    def sorted(self) -> Connections:
        """The same synapses ordered by (source, target), ties in stored order."""
        o = np.lexsort((self.target, self.source))
        return Connections(
            self.pre,
            self.post,
            self.kind,
            self.source[o],
            self.target[o],
            self.weight[o],
            self.delay[o],
            self.receptor[o],
            self.receptors,
            self.weight_unit,
            self.n_pre,
            self.n_post,
        )


def built_network(network):
    """The :class:`~neurosim.network.build.Built` of a simulation, spec or file.

    Parameters
    ----------
    network : Simulation, Built, NetworkSpec, str or os.PathLike
        A file or spec is built (one process); a simulation gives its own.
    """
    from .build import Built, build
    from .spec import NetworkSpec, load

    if isinstance(network, (str, os.PathLike)):
        network = load(network)
    if isinstance(network, NetworkSpec):
        _check_kind(network)
        return build(network)
    built = network if isinstance(network, Built) else getattr(network, "built", None)
    if built is not None:
        _check_kind(getattr(built, "spec", None))
        return built
    raise TypeError(
        f"expected a Simulation, Built, NetworkSpec or file, got {type(network).__name__}"
    )


def _check_kind(spec):
    if getattr(spec, "kind", "spiking") != "spiking":
        raise ValueError(
            f"{spec.path}: get_connections reads spiking networks; this one is {spec.kind}"
        )


def neuron_gids(b) -> np.ndarray:
    """Global id of each local neuron index: int64, shape (n_neurons,).

    ``Built.neuron_gid`` where the build provides it, else derived from the layouts
    (neuron ``n0 + i`` of a population is its gid ``gid0 + i``).
    """
    g = getattr(b, "neuron_gid", None)
    if g is not None:
        return np.asarray(g, np.int64)
    g = np.zeros(b.n_neurons, np.int64)
    for lay in b.layouts.values():
        if lay.kind == "neuron":
            lo = getattr(lay, "lo", 0)
            count = getattr(lay, "count", -1)
            count = lay.size if count is None or count < 0 else count
            g[lay.n0 : lay.n0 + count] = lay.gid0 + lo + np.arange(count)
    return g


def _source_rows(b, lay):
    """CSR rows of the sources of one population: (row slice, source local id per row)."""
    src_gids = getattr(b, "src_gids", None)
    if src_gids is None:  # dense: the row index is the gid
        r0, r1 = lay.gid0, lay.gid0 + lay.size
        return r0, r1, np.arange(lay.size, dtype=np.int64)
    src_gids = np.asarray(src_gids, np.int64)
    r0 = int(np.searchsorted(src_gids, lay.gid0, side="left"))
    r1 = int(np.searchsorted(src_gids, lay.gid0 + lay.size, side="left"))
    return r0, r1, src_gids[r0:r1] - lay.gid0


def _device_base(spec, kind, pre):
    """First generator index of device population ``pre`` among the generators of its
    kind (the build numbers them in the order their populations first appear as the
    ``pre`` of a projection)."""
    base = 0
    seen = set()
    for proj in spec.projections:
        pop = spec.populations[proj.pre]
        if pop.kind != kind or proj.pre in seen:
            continue
        if proj.pre == pre:
            return base
        seen.add(proj.pre)
        base += pop.size
    return None


def get_connections(network, pre: str, post: str) -> Connections:
    """The synapses from population ``pre`` onto population ``post``.

    Parameters
    ----------
    network : Simulation, Built, NetworkSpec, str or os.PathLike
        A simulation or a built network; a spec or a network file is built first.
    pre, post : str
        Population names; ``pre`` may be a device (Poisson, spike or current
        generator), ``post`` is a neuron population.

    Returns
    -------
    Connections
        One entry per synapse, by source (the order the simulation stores them):
        the static synapses, then those of plastic projections between the pair.

    Raises
    ------
    KeyError
        ``pre`` or ``post`` is not a population of the network (or ``post`` is a
        device).
    """
    from ..models import get_model

    b = built_network(network)
    spec = b.spec
    for role, name in (("pre", pre), ("post", post)):
        if name not in b.layouts:
            raise KeyError(
                f"{role}: unknown population {name!r}; expected one of {', '.join(b.layouts)}"
            )
    lp, lq = b.layouts[pre], b.layouts[post]
    if lq.kind != "neuron":
        raise KeyError(f"post: {post!r} is a device ({lq.model}); synapses end on neurons")
    model = get_model(lq.model)
    receptors = tuple(model.receptors)
    N = b.n_neurons
    gid_of = neuron_gids(b)
    dt = b.dt

    def local_targets(neuron):
        g = gid_of[neuron]
        keep = (g >= lq.gid0) & (g < lq.gid0 + lq.size)
        return keep, g[keep] - lq.gid0

    def signed(w, rec):
        w = np.asarray(w, np.float64)
        if model.conductance_weights and "in" in receptors:
            w = np.where(rec == receptors.index("in"), -np.abs(w), np.abs(w))
        return w

    if lp.kind in ("poisson", "current"):
        base = _device_base(spec, lp.kind, pre)
        arrs = (
            (b.pois_target, b.pois_weight, b.pois_delay, b.pois_gen)
            if lp.kind == "poisson"
            else (b.cur_target, b.cur_weight, b.cur_delay, b.cur_gen)
        )
        tgt, w, d, gen = (np.asarray(a) for a in arrs)
        if base is None or not len(tgt):
            sel = np.zeros(0, np.int64)
        else:
            sel = np.nonzero((gen >= base) & (gen < base + lp.size))[0]
        t = tgt[sel].astype(np.int64)
        if lp.kind == "poisson":
            rec, neuron = t // N, t % N
        else:
            rec, neuron = np.full(len(t), -1, np.int64), t
        keep, local = local_targets(neuron)
        sel, rec = sel[keep], rec[keep]
        source = gen[sel].astype(np.int64) - base
        weight = w[sel].astype(np.float64)
        if lp.kind == "poisson":
            weight = signed(weight, rec)
        return Connections(
            pre,
            post,
            lp.kind,
            source,
            local,
            weight,
            d[sel].astype(np.float64) * dt,
            rec.astype(np.int8),
            receptors,
            "1" if lp.kind == "current" else model.weight_unit,
            lp.size,
            lq.size,
        )

    r0, r1, row_src = _source_rows(b, lp)
    row_ptr = np.asarray(b.row_ptr)
    parts = []
    # by blocks of rows, so the temporaries stay small next to the result
    r = r0
    while r < r1:
        a = int(row_ptr[r])
        e = int(np.searchsorted(row_ptr, a + CHUNK, side="right")) - 1
        e = min(r1, max(e, r + 1))
        z = int(row_ptr[e])
        t = np.asarray(b.target[a:z], np.int64)
        rec, neuron = np.divmod(t, N)
        del t
        keep, local = local_targets(neuron)
        del neuron
        counts = np.diff(row_ptr[r : e + 1])
        source = np.repeat(row_src[r - r0 : e - r0], counts)[keep]
        idx = np.flatnonzero(keep) + a
        rec = rec[keep]
        parts.append(
            (
                source,
                local,
                signed(b.weight[idx], rec),
                np.asarray(b.delay[idx], np.float64) * dt,
                rec.astype(np.int8),
            )
        )
        r = e
    for p in getattr(b, "plastic", None) or []:
        if p.pre != pre or p.post != post:
            continue
        source, target = p.ids()
        parts.append(
            (
                source,
                target,
                p.signed(),
                p.delay.astype(np.float64) * dt,
                (p.target.astype(np.int64) // N).astype(np.int8),
            )
        )
    cols = [
        np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dtype)
        for k, dtype in enumerate((np.int64, np.int64, np.float64, np.float64, np.int8))
    ]
    return Connections(pre, post, "spikes", *cols, receptors, model.weight_unit, lp.size, lq.size)


def projection_pairs(network) -> list:
    """The (pre, post) population pairs that projections connect, in file order.

    Parameters
    ----------
    network : Simulation, Built or NetworkSpec

    Returns
    -------
    list of tuple of str
    """
    spec = getattr(network, "spec", network)
    return list(dict.fromkeys((p.pre, p.post) for p in spec.projections))


def iter_connections(network, pairs=None):
    """:func:`get_connections` for every projected pair (or the given ``pairs``), one
    pair at a time (so a caller that writes each pair holds one in memory).

    Yields
    ------
    ((pre, post), Connections)
    """
    b = built_network(network)
    for p, q in projection_pairs(b) if pairs is None else pairs:
        yield (p, q), get_connections(b, p, q)


def all_connections(network, pairs=None) -> dict:
    """:func:`get_connections` for every projected pair (or the given ``pairs``).

    Returns
    -------
    dict of (pre, post) -> Connections
    """
    return dict(iter_connections(network, pairs))
