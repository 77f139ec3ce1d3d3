"""Reading a recording in bounded memory, and checking that it can be trusted.

:class:`neurosim.io.hdf5.Recording` reads a report whole; the analysis code reads it
here by blocks of rows instead.  Everything that touches the HDF5 objects behind a
recording (``rec._f``) for the analysis lives in this module, so ``neurosim.analysis``
never needs h5py.
"""

from __future__ import annotations

import os

import numpy as np

#: Bytes of report data read at once by :func:`report_blocks` when ``rows`` is None.
BLOCK_BYTES = 1 << 24


class RecordingError(ValueError):
    """A recording, or a name or time asked of it, that cannot be read.

    The message is one line: ``<file>: <field>: <what is wrong>``.
    """


def where(rec) -> str:
    """The name used for ``rec`` in messages: its path, or ``<arrays>``."""
    return getattr(rec, "path", None) or "<arrays>"


def check_recording(rec):
    """Refuse a file that is not a neurosim recording or whose data lie past its end.

    A truncated HDF5 file still opens in SWMR mode (as :func:`neurosim.open` does for a
    file whose writer was killed), and reads past its end return zeros without an
    error; so every stored chunk of every dataset is checked to end inside the file.
    A killed writer's file passes: it flushes data before the metadata that points at
    them.

    Parameters
    ----------
    rec : neurosim.io.hdf5.Recording

    Raises
    ------
    RecordingError
        Not a neurosim recording, or truncated.
    """
    f = getattr(rec, "_f", None)
    if f is None:  # in-memory spike arrays: nothing stored to check
        return
    name = where(rec)
    if "neurosim_version" not in f.attrs or not ("spikes" in f or "report" in f):
        raise RecordingError(
            f"{name}: /: not a neurosim recording (no neurosim_version attribute "
            "or no /spikes and /report groups)"
        )
    size = os.path.getsize(name)
    for group in ("spikes", "report"):
        if group not in f:
            continue
        for path, dset in _datasets(f[group], f"/{group}"):
            end = _storage_end(dset, path, name)
            if end > size:
                raise RecordingError(
                    f"{name}: {path}: truncated file: the data end at byte {end} "
                    f"but the file has {size} bytes"
                )
    for pop in rec.spike_populations:
        g = f["spikes"][pop]
        if "timestamps" not in g or "node_ids" not in g:
            raise RecordingError(f"{name}: /spikes/{pop}: no timestamps or node_ids dataset")
        if g["timestamps"].shape != g["node_ids"].shape:
            raise RecordingError(
                f"{name}: /spikes/{pop}: timestamps and node_ids differ in length "
                f"({g['timestamps'].shape[0]} and {g['node_ids'].shape[0]})"
            )


def _datasets(group, prefix):
    for key in group:
        obj = group[key]
        path = f"{prefix}/{key}"
        if hasattr(obj, "shape"):
            yield path, obj
        else:
            yield from _datasets(obj, path)


def _storage_end(dset, path, name):
    """Byte just past the last stored byte of ``dset`` (0 when nothing is stored)."""
    if dset.is_virtual:  # its data live in other files, which Recording checks
        return 0
    dsid = dset.id
    try:
        if dset.chunks is None:
            offset = dsid.get_offset()
            return 0 if offset is None else offset + dsid.get_storage_size()
        end = 0
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            end = max(end, info.byte_offset + info.size)
        return end
    except (OSError, RuntimeError, ValueError) as exc:
        # the chunk index itself lies past the end of the file
        raise RecordingError(f"{name}: {path}: unreadable storage ({exc})") from None


def report_info(rec, population, variable):
    """What a report holds, without reading its data.

    Parameters
    ----------
    rec : neurosim.io.hdf5.Recording
    population, variable : str

    Returns
    -------
    dict
        ``times`` (ndarray, shape (T,), ms: the stamp of each row, computed as
        :meth:`Recording.report` does), ``node_ids`` (ndarray of int64, shape (n,)),
        ``shape`` ((T, n)), ``units`` (str), ``dtype``, ``chunk_rows`` (rows per
        stored chunk), ``interval`` (ms between samples, also with one sample).
    """
    g = rec._f["report"][population][variable]
    d = g["data"]
    start, _stop, step = g["mapping"]["time"][()]
    return {
        "times": start + step * np.arange(d.shape[0]),
        "interval": float(step),
        "node_ids": g["mapping"]["node_ids"][()].astype(np.int64),
        "shape": tuple(d.shape),
        "units": rec.units(population, variable),
        "dtype": d.dtype,
        "chunk_rows": d.chunks[0] if d.chunks else d.shape[0],
    }


def report_blocks(rec, population, variable, start=0, stop=None, rows=None):
    """Iterate the rows ``[start, stop)`` of a report in blocks of bounded size.

    Parameters
    ----------
    rec : neurosim.io.hdf5.Recording
    population, variable : str
    start, stop : int
        Row range (``stop`` None: to the end).
    rows : int, optional
        Rows per block; default: whole stored chunks adding up to about
        :data:`BLOCK_BYTES`.

    Yields
    ------
    first : int
        Index of the block's first row.
    block : ndarray, shape (r, n)
        The rows ``[first, first + r)``, in the stored dtype.
    """
    d = rec._f["report"][population][variable]["data"]
    n_rows, n = d.shape
    stop = n_rows if stop is None else min(stop, n_rows)
    if rows is None:
        per_chunk = d.chunks[0] if d.chunks else 1
        fit = max(1, BLOCK_BYTES // max(1, n * d.dtype.itemsize))
        rows = max(per_chunk, fit // per_chunk * per_chunk)
    if rows < 1:
        raise ValueError(f"rows: expected an integer >= 1, got {rows}")
    for a in range(start, stop, rows):
        yield a, d[a : min(a + rows, stop)]


def spike_sorting(rec, population) -> str:
    """The SONATA ``sorting`` of a population's spikes: ``none``, ``by_id`` or ``by_time``."""
    f = getattr(rec, "_f", None)
    if f is None:
        return "by_time"
    value = f["spikes"][population].attrs.get("sorting", 0)
    return {0: "none", 1: "by_id", 2: "by_time"}.get(int(value), "none")
