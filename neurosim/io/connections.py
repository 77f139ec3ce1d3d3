"""Connection files for the ``from_file`` rule: .npz, .csv or .h5 with columns
``pre``, ``post`` (population-local ids) and optional ``weight`` (the post model's
weight unit) and ``delay`` (ms)."""

from __future__ import annotations

import os

import numpy as np

from ..network.spec import SpecError


def read_connections(path, n_pre, n_post, spec_path, field):
    """Read a connection file; returns (pre, post, weight or None, delay or None)."""
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                cols = {k: z[k] for k in z.files}
        elif ext == ".csv":
            arr = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
            arr = np.atleast_1d(arr)
            cols = {k: np.asarray(arr[k]) for k in arr.dtype.names}
        elif ext in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                cols = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
        else:
            raise SpecError(spec_path, field, f"expected a .npz, .csv or .h5 file, got {path}")
    except SpecError:
        raise
    except Exception as exc:  # any reader error is a bad input file
        raise SpecError(spec_path, field, f"cannot read {path}: {exc}") from None
    for k in ("pre", "post"):
        if k not in cols:
            raise SpecError(spec_path, field, f"{path} has no column {k!r} (has {sorted(cols)})")
    pre = np.asarray(cols["pre"])
    post = np.asarray(cols["post"])
    if pre.shape != post.shape or pre.ndim != 1:
        raise SpecError(spec_path, field, f"{path}: pre and post must be 1-d of equal length")
    for name, a, n in (("pre", pre, n_pre), ("post", post, n_post)):
        if len(a) and (np.any(a != np.round(a)) or a.min() < 0 or a.max() >= n):
            raise SpecError(spec_path, field, f"{path}: {name} ids must be integers in [0, {n})")
    w = cols.get("weight")
    d = cols.get("delay")
    for name, a in (("weight", w), ("delay", d)):
        if a is not None and (a.shape != pre.shape or not np.all(np.isfinite(a))):
            raise SpecError(spec_path, field, f"{path}: {name} must be finite, one per row")
    return pre.astype(np.int64), post.astype(np.int64), w, d
