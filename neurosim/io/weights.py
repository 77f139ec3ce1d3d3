"""Weights of plastic projections in a recording (HDF5; see docs/plasticity.md).

Layout, one group per plastic projection (``/`` in a name is written ``%2F``, ``%`` as
``%25``; the attribute ``name`` holds it as it is)::

    /plasticity/<projection>            attributes: name, model, params (JSON), pre, post
                                        (population names), unit, n_synapses
    /plasticity/<projection>/final/pre     int32 (n,)  population-local source ids
    /plasticity/<projection>/final/post    int32 (n,)  population-local target ids
    /plasticity/<projection>/final/weight  float64 (n,) at the end of the last run
                                        (attribute ``t``, ms), in synapse-index order
    recorded projections (``record.weights``) also have, attribute ``interval`` (ms):
    /plasticity/<projection>/index      int64 (M,)    synapse indices recorded
    /plasticity/<projection>/pre, post  int32 (M,)
    /plasticity/<projection>/times      float64 (T,)  ms, every ``interval`` from ``interval``
    /plasticity/<projection>/weight     float64 (T, M)

The synapse index is the (target, source) order of :mod:`neurosim.plasticity.record`.
Weights are float64 in the target's weight unit, signed as in the network file
(synapses on the ``in`` port of a conductance-based target read negative).  Ids are
int32 (8 bytes per synapse less than int64 over a whole projection; readers get int64).

The writer (:class:`neurosim.io.hdf5.Writer`) creates every dataset before it turns
SWMR on (no object can be created after), appends samples with the spikes, and
resizes and fills ``final`` at the end of every run; under MPI each rank file holds its
block of synapse indices and :func:`merge` concatenates them in rank order.
"""

from __future__ import annotations

import h5py
import numpy as np

GROUP = "plasticity"
_FINAL_CHUNK = 1 << 16


def key(name):
    """The group name of a projection (HDF5 names cannot hold ``/``)."""
    return str(name).replace("%", "%25").replace("/", "%2F")


def create(f, layout):
    """Create the groups and (empty) datasets of ``layout``
    (:meth:`neurosim.plasticity.record.WeightRecorder.layout`) in an open file."""
    top = f.create_group(GROUP, track_order=True)
    for e in layout:
        g = top.create_group(key(e["name"]))
        for k in ("name", "model", "params", "pre", "post", "unit"):
            g.attrs[k] = e[k]
        g.attrs["n_synapses"] = int(e["total"])
        fin = g.create_group("final")
        fin.attrs["t"] = -1.0  # not written yet
        for name, dt in (("pre", np.int32), ("post", np.int32), ("weight", np.float64)):
            fin.create_dataset(name, (0,), dt, maxshape=(None,), chunks=(_FINAL_CHUNK,))
        r = e["record"]
        if r is None:
            continue
        g.attrs["interval"] = float(r["interval"])
        g.create_dataset("index", data=np.asarray(r["index"], np.int64))
        g.create_dataset("pre", data=np.asarray(r["pre"], np.int32))
        g.create_dataset("post", data=np.asarray(r["post"], np.int32))
        m = len(r["index"])
        rows = max(1, min(1024, (1 << 20) // max(1, m)))
        t = g.create_dataset("times", (0,), np.float64, maxshape=(None,), chunks=(4096,))
        t.attrs["units"] = "ms"
        # a rank may hold none of the recorded synapses: a (T, 0) dataset
        shape = {"maxshape": (None, m if m else None), "chunks": (rows, max(m, 1))}
        g.create_dataset("weight", (0, m), np.float64, **shape)


def append(f, pending):
    """Append samples: ``{projection: [(times (T,), weights (T, M)), ...]}``."""
    top = f[GROUP]
    for name, parts in pending.items():
        g = top[key(name)]
        t = np.concatenate([p[0] for p in parts])
        w = np.concatenate([p[1] for p in parts], axis=0)
        n = g["times"].shape[0]
        g["weight"].resize((n + len(t), g["weight"].shape[1]))
        g["weight"][n:] = w
        g["times"].resize((n + len(t),))  # times last: a sample counts once both are there
        g["times"][n:] = t


def write_final(f, finals, t):
    """Replace the final weights: ``{projection: (n, blocks)}`` with ``blocks()``
    yielding consecutive ``(pre, post, weight)`` (:meth:`~neurosim.plasticity.record.
    WeightRecorder.final`), at time ``t`` (ms)."""
    top = f[GROUP]
    for name, (n, blocks) in finals.items():
        fin = top[key(name)]["final"]
        ds = [fin["pre"], fin["post"], fin["weight"]]
        for d in ds:
            d.resize((n,))
        at = 0
        for arrays in blocks():
            m = len(arrays[0])
            for d, a in zip(ds, arrays, strict=True):
                d[at : at + m] = a
            at += m
        fin.attrs.modify("t", float(t))


def truncate(f, rows):
    """Keep the first ``rows[projection]`` samples (a recording cut back to a checkpoint)."""
    if GROUP not in f:
        return
    for g in f[GROUP].values():
        if "times" not in g:
            continue
        n = int(rows.get(_py(g.attrs["name"]), 0))
        n = min(n, g["times"].shape[0])
        g["times"].resize((n,))
        g["weight"].resize((n, g["weight"].shape[1]))


def copy_in(f, files, rows, chunk=1 << 20):
    """Fill the (empty) recorded weights of ``f`` from the files of an earlier run on
    any number of ranks (open, each holding some synapse indices): the first
    ``rows[projection]`` samples of the columns ``f`` records."""
    top = f[GROUP]
    for name, n in rows.items():
        g = top[key(name)]
        mine = g["index"][()]
        d = g["weight"]
        d.resize((n, d.shape[1]))
        parts = []
        times = None
        for x in files:
            if GROUP not in x or key(name) not in x[GROUP]:
                continue
            src = x[GROUP][key(name)]
            if src["times"].shape[0] < n:
                raise ValueError(f"{x.filename}: fewer weight samples than the checkpoint")
            times = src["times"][:n] if times is None else times
            old = src["index"][()]
            pos = np.searchsorted(mine, old)
            pos = np.minimum(pos, max(len(mine) - 1, 0))
            hit = (mine[pos] == old) if len(mine) else np.zeros(len(old), np.bool_)
            if hit.any():
                parts.append((src["weight"], np.flatnonzero(hit), pos[hit]))
        step = max(1, chunk // max(1, d.shape[1]))
        for a in range(0, n, step):
            b = min(n, a + step)
            block = np.zeros((b - a, d.shape[1]))
            for w, old_c, new_c in parts:
                block[:, new_c] = w[a:b][:, old_c]
            d[a:b] = block
        if n and times is None:
            raise ValueError(f"no earlier file holds the weight samples of {name!r}")
        g["times"].resize((n,))
        if n:
            g["times"][:] = times


def samples(f):
    """Samples held per recorded projection: ``{projection: rows}``."""
    if GROUP not in f:
        return {}
    return {
        _py(g.attrs["name"]): int(g["times"].shape[0]) for g in f[GROUP].values() if "times" in g
    }


def merge(srcs, f, chunk=1 << 22):
    """Write the weights of the rank files ``srcs`` (open, in rank order) into ``f``:
    final weights and recorded columns concatenated in rank order (blocks of synapse
    indices), samples cut to the fewest any rank holds."""
    if GROUP not in srcs[0]:
        return
    top = f.create_group(GROUP, track_order=True)
    for k, g0 in srcs[0][GROUP].items():
        parts = [x[GROUP][k] for x in srcs]
        g = top.create_group(k)
        for a, v in g0.attrs.items():
            g.attrs[a] = v
        fin = g.create_group("final")
        ts = [float(p["final"].attrs["t"]) for p in parts]
        fin.attrs["t"] = min(ts)
        for ds, dt in (("pre", np.int32), ("post", np.int32), ("weight", np.float64)):
            n = sum(p["final"][ds].shape[0] for p in parts)
            d = fin.create_dataset(
                ds, (n,), dt, maxshape=(None,), chunks=(max(1, min(_FINAL_CHUNK, n)),)
            )
            at = 0
            for p in parts:
                src = p["final"][ds]
                for a in range(0, src.shape[0], chunk):
                    block = src[a : a + chunk]
                    d[at : at + len(block)] = block
                    at += len(block)
        if "times" not in g0:
            continue
        g.attrs["interval"] = g0.attrs["interval"]
        for ds in ("index", "pre", "post"):
            g.create_dataset(ds, data=np.concatenate([p[ds][()] for p in parts]))
        rows = min(p["times"].shape[0] for p in parts)
        t = g.create_dataset("times", data=g0["times"][:rows], maxshape=(None,))
        t.attrs["units"] = "ms"
        m = sum(p["weight"].shape[1] for p in parts)
        step = max(1, chunk // max(1, m))
        d = g.create_dataset(
            "weight",
            (rows, m),
            np.float64,
            maxshape=(None, m if m else None),
            chunks=(max(1, min(step, rows, 1024)), max(m, 1)),
        )
        for a in range(0, rows, step):
            b = min(rows, a + step)
            d[a:b] = np.concatenate([p["weight"][a:b] for p in parts], axis=1)


# --------------------------------------------------------------------------- reading


def names(f):
    """Plastic projections of an open recording, in the order of the network file."""
    if GROUP not in f:
        return []
    return [_py(g.attrs["name"]) for g in f[GROUP].values()]


def _group(f, projection):
    if GROUP in f:
        g = f[GROUP].get(key(projection))
        if g is not None:
            return g
    have = ", ".join(names(f)) or "none"
    raise KeyError(f"{f.filename}: no plastic projection {projection!r} (there are: {have})")


def read_final(f, projection):
    """Final weights of one projection: ``pre``, ``post`` (int64) and ``weight``
    (float64), in (target, source) order."""
    fin = _group(f, projection)["final"]
    total = int(_group(f, projection).attrs["n_synapses"])
    if float(fin.attrs["t"]) < 0 or fin["weight"].shape[0] != total:
        raise ValueError(
            f"{f.filename}: no final weights of {projection!r} (written at the end of a run; "
            "this recording's run ended before one)"
        )
    return (
        fin["pre"][()].astype(np.int64),
        fin["post"][()].astype(np.int64),
        fin["weight"][()],
    )


def read_series(f, projection):
    """Recorded weights: ``times`` (ms, (T,)), ``pre``, ``post`` (int64, (M,)) and
    ``weight`` ((T, M) float64)."""
    g = _group(f, projection)
    if "times" not in g:
        raise KeyError(
            f"{f.filename}: the weights of {projection!r} were not recorded "
            "(record: {weights: [{projection: ..., synapses: ..., interval: ...}]})"
        )
    t = g["times"][()]
    return (
        t,
        g["pre"][()].astype(np.int64),
        g["post"][()].astype(np.int64),
        g["weight"][: len(t)],
    )


def final_projections(path):
    """Projections with final weights in the recording ``path``."""
    with h5py.File(path, "r", locking=False) as f:
        return names(f)


def read_final_block(path, projection, lo, hi, spec_path, field):
    """The final weights of ``projection`` onto targets ``[lo, hi)`` (the rows of one
    rank): ``pre``, ``post`` (int64), ``weight`` (float64) and the projection's total.

    Raises :class:`neurosim.network.spec.SpecError` (``spec_path``, ``field``) for a
    file without them.
    """
    from ..network.spec import SpecError

    try:
        f = h5py.File(path, "r", locking=False)
    except OSError:
        try:
            f = h5py.File(path, "r", locking=False, swmr=True)
        except OSError as exc:
            raise SpecError(spec_path, field, f"cannot read {path}: {exc}") from None
    with f:
        try:
            g = _group(f, projection)
            total = int(g.attrs["n_synapses"])
            fin = g["final"]
            if float(fin.attrs["t"]) < 0 or fin["weight"].shape[0] != total:
                raise ValueError("its run ended before writing them")
        except (KeyError, ValueError) as exc:
            raise SpecError(
                spec_path, field, f"{path}: no final weights of {projection!r} ({exc})"
            ) from None
        post = fin["post"][()]
        a, b = (int(x) for x in np.searchsorted(post, [lo, hi]))
        return (
            fin["pre"][a:b].astype(np.int64),
            post[a:b].astype(np.int64),
            fin["weight"][a:b],
            total,
        )


def _py(v):
    return v.decode() if isinstance(v, bytes) else v
