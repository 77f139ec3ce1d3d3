"""Connection files for the ``from_file`` rule: .npz, .csv or .h5 with columns
``pre``, ``post`` (population-local ids) and optional ``weight`` (the post model's
weight unit) and ``delay`` (ms)."""

from __future__ import annotations

import os

import numpy as np

from ..network.spec import SpecError


def read_table(path, spec_path, field):
    """Every column of a .npz, .csv (with a header) or .h5 file, as 1-d or 2-d arrays."""
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        if ext == ".csv":
            arr = np.atleast_1d(np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64))
            return {k: np.asarray(arr[k]) for k in arr.dtype.names}
        if ext in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                return {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
    except Exception as exc:  # any reader error is a bad input file
        raise SpecError(spec_path, field, f"cannot read {path}: {exc}") from None
    raise SpecError(spec_path, field, f"expected a .npz, .csv or .h5 file, got {path}")


def read_connections(
    path, n_pre, n_post, spec_path, field, extra=None, pre_key="pre", post_key="post"
):
    """Read a connection file; returns (pre, post, weight or None, delay or None).

    With ``extra`` (a list of column names), returns a fifth item: a dict of those
    extra columns that the file has, each checked to be finite and one per row.
    """
    cols = read_table(path, spec_path, field)
    for k in (pre_key, post_key):
        if k not in cols:
            raise SpecError(spec_path, field, f"{path} has no column {k!r} (has {sorted(cols)})")
    pre = np.asarray(cols[pre_key])
    post = np.asarray(cols[post_key])
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
    out = (pre.astype(np.int64), post.astype(np.int64), w, d)
    if extra is None:
        return out
    found = {}
    for name in extra:
        a = cols.get(name)
        if a is None:
            continue
        a = np.asarray(a, np.float64)
        if a.shape != pre.shape or not np.all(np.isfinite(a)):
            raise SpecError(spec_path, field, f"{path}: {name} must be finite, one per row")
        found[name] = a
    return out + (found,)
