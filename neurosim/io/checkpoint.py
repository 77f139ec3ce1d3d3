"""Checkpoints: the whole dynamic state of a simulation in one HDF5 file.

A checkpoint is written by rank 0 only, to a temporary file beside the target that
then replaces it (``os.replace``, after an ``fsync``), so the file at ``path`` is
always a complete checkpoint, the previous or the new one, whenever the writer dies.

Layout (every state array is stored per *global* neuron id, so that a checkpoint made
on any number of ranks resumes on any other):

``/neurons/gid``  int64 (N,), ascending; ``/neurons/{V, syn, refr}`` (mV; pA or nS;
steps); ``/ring`` float64 (L, 2, N): ring-buffer slot, receptor, neuron (the input
still to arrive, slot ``k % L`` for step ``k``); ``/noise/{key, hist}`` the
noise-generator synapses (by key) and their Ornstein-Uhlenbeck current (pA) in the
``max_delay`` generator steps before the checkpoint; ``/params/<population>/<name>``
the parameters as the simulation last set them (length 1, or the population's size);
``/ltc/V`` and ``/ltc/cfc/<first index>`` for graded networks; ``/recording/...`` how
far the recording had got (spikes per rank file and population, report rows).

Root attributes: ``format``, ``neurosim_version``, ``step`` (steps done), ``t`` (ms),
``dt`` (ms), ``end_step`` (where the interrupted ``run`` was going), ``kind``,
``seed``, ``backend``, ``ranks``, ``network_path``, ``network_sha256`` (of the
network file's bytes), ``spec_sha256`` (of the text the simulation ran, ``--set``
overrides included), ``overrides`` (JSON list), ``output``, ``created`` (Unix time).
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import h5py
import numpy as np

#: Layout version; a reader refuses other versions.
FORMAT = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit the simulation."""


def checkpoint_path(output) -> str:
    """The checkpoint written beside a recording: ``<output>.ckpt``."""
    return os.fspath(output) + ".ckpt"


def sha256_of_file(path) -> str:
    """Hex SHA-256 of a file's bytes ('' when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def sha256_of_text(text) -> str:
    """Hex SHA-256 of a text (UTF-8)."""
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()


def write_checkpoint(path, attrs, arrays):
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str
        Target file; replaced only once the new checkpoint is complete on disk.
    attrs : dict
        Root attributes (str, int, float, bool; lists and dicts are stored as JSON).
    arrays : dict of str -> ndarray
        Datasets by path (``"neurons/V"``); groups are created as needed.

    Returns
    -------
    int
        Bytes written.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    _drop_stale_temporaries(folder, os.path.basename(path))
    try:
        with h5py.File(tmp, "w", libver=("v110", "latest"), locking=False) as f:
            f.attrs["format"] = FORMAT
            f.attrs["created"] = time.time()
            for k, v in attrs.items():
                if isinstance(v, (list, tuple, dict)):
                    v = json.dumps(v)
                elif v is None:
                    v = ""
                f.attrs[k] = v
            for name, arr in arrays.items():
                f.create_dataset(name, data=np.asarray(arr))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        size = os.path.getsize(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename durable too
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return size


def _drop_stale_temporaries(folder, name):
    """Remove the temporary files of writers that died while writing (SIGKILL)."""
    prefix = f".{name}.tmp"
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(prefix) or not entry[len(prefix) :].isdigit():
            continue
        pid = int(entry[len(prefix) :])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # someone else's live process
        try:
            os.unlink(os.path.join(folder, entry))
        except OSError:
            pass


def read_checkpoint_attrs(path):
    """The root attributes of a checkpoint only (cheap); see :func:`read_checkpoint`."""
    path = os.fspath(path)
    try:
        with h5py.File(path, "r", locking=False) as f:
            return {k: _py(v) for k, v in f.attrs.items()}
    except OSError as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None


def read_checkpoint(path):
    """Read a whole checkpoint.

    Returns
    -------
    attrs : dict
        Root attributes (JSON ones decoded: ``overrides``).
    arrays : dict of str -> ndarray
        Every dataset, by path.

    Raises
    ------
    CheckpointError
        No such file, not a checkpoint, or another format version.
    """
    path = os.fspath(path)
    _drop_stale_temporaries(os.path.dirname(os.path.abspath(path)), os.path.basename(path))
    if not os.path.exists(path):
        raise CheckpointError(
            f"{path}: no such checkpoint (a run writes one with --checkpoint-every, or when "
            "SIGINT or SIGTERM stops it)"
        )
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    with f:
        attrs = {k: _py(v) for k, v in f.attrs.items()}
        if attrs.get("format") != FORMAT:
            raise CheckpointError(
                f"{path}: checkpoint format {attrs.get('format')!r}, this neurosim reads {FORMAT}"
            )
        for k in ("overrides", "rec_files", "rec_spike_pops", "rec_reports"):
            if isinstance(attrs.get(k), str) and attrs[k]:
                attrs[k] = json.loads(attrs[k])
        arrays = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                arrays[name] = obj[()]

        f.visititems(visit)
    return attrs, arrays


def _py(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
