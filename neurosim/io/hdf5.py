"""Recordings in HDF5 (the only module of the package that imports h5py).

Layout (SONATA's spike and report layouts, so libsonata, bluepysnap and bmtk read it):

``/spikes/<population>/timestamps``  float64 (ms), ``units`` = "ms"
``/spikes/<population>/node_ids``    uint64, population-local ids
``/spikes/<population>`` attribute ``sorting``: HDF5 enum {none: 0, by_id: 1, by_time: 2}
``/report/<population>/<variable>/data``  [time, recorded neuron], ``units``
``/report/<population>/<variable>/mapping/{node_ids, index_pointers, element_ids, time}``
   with ``time = [start, stop, step]`` (ms)
root attributes: ``neurosim_version``, ``dt``, ``seed``, ``backend``, ``ranks``,
``complete``, ``t_stop`` (ms simulated so far), ``network`` (the network file text).
``/plasticity/<projection>/...``: weights of plastic projections, final and sampled
(:mod:`neurosim.io.weights`).

A sample stamped ``t`` is the state at the end of the step ``(t - dt, t]``; a spike is
stamped at the end of the step in which it happened (NEST's conventions).

Under MPI each rank writes ``<output stem>.rank<r>.h5`` (h5py's wheels have no
parallel HDF5); at the end of every run rank 0 writes the output itself
(:func:`merge_ranks`): the spikes of all ranks merged into one time-sorted dataset per
population, and each report as a virtual dataset over the rank files in node order, so
readers open one file.  The rank files must stay beside it: :func:`open_recording`
refuses a file whose virtual sources are missing (HDF5 would read fill values).

The writer appends a chunk every few hundred steps and flushes at least every
``FLUSH_SECONDS`` of wall-clock time and at the end of every run.  The file is
written with ``libver=("v110", "latest")`` in SWMR mode, so every flushed chunk stays readable
after a crash: open such a file with ``h5py.File(path, "r", swmr=True)``
(:func:`open_recording` does this when a plain open fails).

One run at a time writes an output: :class:`OutputLock` holds an exclusive ``flock``
on ``<output>.lock`` from the moment a simulation is set up until it is closed (the
kernel releases it when the process dies, even by SIGKILL), and a second run refuses
to start, with or without ``--overwrite``.

Resuming from a checkpoint (:mod:`neurosim.io.checkpoint`) first cuts the recording
back to the checkpoint: in place (:func:`truncate_recording`) where the file can be
opened for writing on the same number of ranks; otherwise (a different number of ranks,
or a file whose writer was killed, whose SWMR flags HDF5 refuses to open for writing)
the old files are set aside (:func:`stash_recording`), every rank writes a new file
from them (:func:`fill_from_stash`), and the stash is removed.
"""

from __future__ import annotations

import os
import time
import weakref

import h5py
import numpy as np

#: Appended chunks are flushed (made durable) at least this often (wall-clock seconds)
#: and at the end of every run; a flush per chunk cost CUBA half its simulation time.
FLUSH_SECONDS = 0.5

#: File format bounds: v110 at least (SWMR), not newer than readers built on HDF5 1.14
#: (libsonata's wheels) can decode; h5py's own "latest" on HDF5 2 is not.
LIBVER = ("v110", "latest")

SORTING = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="u1")


class OutputError(Exception):
    """The output file cannot be written (exists, in use, unwritable)."""


def check_output(path, overwrite):
    """Refuse an existing output unless ``overwrite``; refuse an unwritable folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OutputError(f"{path}: is a directory, expected an output file name")
    if os.path.exists(path) and not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{path}: folder {folder} is not writable")


def rank_file(output, rank):
    """The file rank ``rank`` records to, beside ``output``."""
    stem, ext = os.path.splitext(os.fspath(output))
    return f"{stem}.rank{rank}{ext or '.h5'}"


#: Locks held by this process: absolute output path -> OutputLock.
_HELD = weakref.WeakValueDictionary()


class OutputLock:
    """An exclusive lock on one output, held until :meth:`release` (or process exit).

    The lock is an ``flock`` on ``<output>.lock`` (the recording itself is replaced
    by merges and rewrites, so it cannot carry the lock).  The file holds the owner's
    pid, for the message of a run that finds it taken; it is removed on release, and
    a taker checks that the file it locked is still the one at the path.

    Within one process a second lock on the same output takes it over from an idle
    holder (a :class:`~neurosim.Simulation` replaced by a new one writing the same
    file); the old holder's :meth:`check` then raises, so the two never interleave.
    """

    def __init__(self, output):
        self.output = os.path.abspath(os.fspath(output))
        self.path = self.output + ".lock"
        self.fd = None
        self.lost = False
        self.busy = False

    def acquire(self, overwrite=True):
        """Take the lock or raise :class:`OutputError` naming the holder.

        ``overwrite``: whether the taker may replace the file (an idle holder in this
        process hands it over only then; without, the file exists and is refused).
        """
        import fcntl

        other = _HELD.get(self.output)
        if other is not None and other is not self and other.fd is not None:
            if other.busy:
                raise OutputError(f"{self.output}: in use by a running simulation in this process")
            if not overwrite and os.path.exists(self.output):
                raise OutputError(f"{self.output}: already exists; pass --overwrite to replace it")
            other._hand_over()
        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"{self.output}: cannot create the lock file ({exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
                finally:
                    os.close(fd)
                raise OutputError(
                    f"{self.output}: in use by another run (pid {pid}, lock {self.path}); "
                    "wait for it to end or write to another file"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # removed by its previous holder meanwhile: lock the new one
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            _HELD[self.output] = self
            return self
        raise OutputError(f"{self.output}: could not take the lock {self.path}")

    def _hand_over(self):
        self.release()
        self.lost = True

    def check(self):
        """Raise when another simulation of this process took the output over."""
        if self.lost:
            raise OutputError(
                f"{self.output}: another Simulation in this process now writes this file"
            )

    def release(self):
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding it: a waiting taker re-checks
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
        if _HELD.get(self.output) is self:
            del _HELD[self.output]

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Writer:
    """Streams spikes and state samples of one simulation (or one rank) into one HDF5
    file."""

    def __init__(
        self,
        path,
        spec,
        backend,
        spike_pops,
        record_plan,
        units,
        version,
        rank=0,
        ranks=1,
        create=True,
        weights=None,
    ):
        self.path = os.fspath(path)
        self.spike_pops = list(spike_pops)
        self.groups = record_plan.groups
        self.dt = spec.dt
        self.f = None
        # plastic projections (neurosim.io.weights): the layout, and a callable giving
        # every final weight, written at the end of every segment
        self.weights = weights
        self.final_weights = None
        if not create:  # an existing recording, cut back to a checkpoint: append to it
            return
        try:
            f = h5py.File(self.path, "w", libver=LIBVER)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot create ({_why(exc)})") from None
        with f:
            a = f.attrs
            a["neurosim_version"] = version
            a["dt"] = spec.dt
            a["seed"] = spec.seed
            a["backend"] = backend
            a["dtype"] = getattr(spec, "dtype", "float64")  # of the simulated state
            a["ranks"] = ranks
            a["rank"] = rank
            a["complete"] = False
            a["t_stop"] = 0.0
            a["network"] = spec.source_text
            a["network_name"] = spec.name
            sp = f.create_group("spikes")
            for pop in self.spike_pops:
                g = sp.create_group(pop)
                g.attrs.create("sorting", 2, dtype=SORTING)
                g.attrs["n_nodes"] = spec.populations[pop].size
                t = g.create_dataset(
                    "timestamps", (0,), np.float64, maxshape=(None,), chunks=(65536,)
                )
                t.attrs["units"] = "ms"
                g.create_dataset("node_ids", (0,), np.uint64, maxshape=(None,), chunks=(65536,))
            rep = f.create_group("report")
            for pop, var, _cols, every, ids, dtype in self.groups:
                g = rep.require_group(pop).create_group(var)
                n = len(ids)
                rows = max(1, min(1024, (1 << 20) // max(1, n)))
                # a rank may own none of the recorded neurons: a (t, 0) dataset
                d = g.create_dataset(
                    "data",
                    (0, n),
                    dtype,
                    maxshape=(None, n if n else None),
                    chunks=(rows, max(n, 1)),
                )
                d.attrs["units"] = units(pop, var)
                m = g.create_group("mapping")
                m.create_dataset("node_ids", data=np.asarray(ids, np.uint64))
                m.create_dataset("index_pointers", data=np.arange(n + 1, dtype=np.uint64))
                m.create_dataset("element_ids", data=np.zeros(n, np.uint32))
                tm = m.create_dataset(
                    "time", data=np.array([every * self.dt, every * self.dt, every * self.dt])
                )
                tm.attrs["units"] = "ms"
            if weights:
                from . import weights as wio

                wio.create(f, weights)
        self.f = None

    # A segment (Simulation.run) opens the file, appends and closes it, so that the
    # recording can be read between segments.
    def begin_segment(self):
        try:
            self.f = h5py.File(self.path, "a", libver=LIBVER)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot open for writing ({_why(exc)})") from None
        self.f.attrs["complete"] = False
        self.f.swmr_mode = True
        self.f.flush()
        self._last_flush = time.monotonic()
        self._t_now = float(self.f.attrs["t_stop"])
        self._pending_spikes, self._pending_samples = {}, {}
        self._pending_weights = {}

    def append(self, spikes, samples, t_now, weights=None):
        """Append one chunk (buffered; written and flushed at least every FLUSH_SECONDS).

        Parameters
        ----------
        spikes : dict of population -> (times ms float64, local ids uint64)
        samples : list of (population, variable, array [t, n], first sample step)
        t_now : float
            Simulated time reached (ms).
        weights : dict of projection -> (times (T,), weights [T, M]), optional
            Weight samples (:meth:`neurosim.plasticity.record.WeightRecorder.take`).
        """
        for name, tw in (weights or {}).items():
            self._pending_weights.setdefault(name, []).append(tw)
        for pop, (t, ids) in spikes.items():
            if len(t):
                self._pending_spikes.setdefault(pop, []).append((t, ids))
        for pop, var, arr, first in samples:
            if arr.shape[0]:
                self._pending_samples.setdefault((pop, var), []).append((arr, first))
        self._t_now = t_now
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def _write_pending(self):
        f = self.f
        for pop, parts in self._pending_spikes.items():
            g = f["spikes"][pop]
            for k, name in enumerate(("timestamps", "node_ids")):
                arr = np.concatenate([p[k] for p in parts])
                d = g[name]
                n = d.shape[0]
                d.resize((n + len(arr),))
                d[n:] = arr
        for (pop, var), parts in self._pending_samples.items():
            g = f["report"][pop][var]
            d = g["data"]
            n = d.shape[0]
            if n == 0:
                g["mapping"]["time"][0] = (parts[0][1] + 1) * self.dt
            arr = np.concatenate([p[0] for p in parts])
            d.resize((n + arr.shape[0], d.shape[1]))
            d[n:] = arr
            tm = g["mapping"]["time"]
            tm[1] = tm[0] + (n + arr.shape[0]) * tm[2]
        if self._pending_weights:
            from . import weights as wio

            wio.append(f, self._pending_weights)
        self._pending_spikes, self._pending_samples = {}, {}
        self._pending_weights = {}

    def flush(self):
        """Write what is buffered and make it durable (readable after a crash)."""
        self._write_pending()
        self.f.attrs["t_stop"] = self._t_now
        self.f.flush()
        self._last_flush = time.monotonic()

    def end_segment(self, complete=True):
        if self.f is None:
            return
        try:
            if self.weights and self.final_weights is not None:
                from . import weights as wio

                wio.write_final(self.f, self.final_weights(), self._t_now)
            self.f.attrs["complete"] = bool(complete)
            self.flush()
        finally:
            self.f.close()
            self.f = None

    def copy_in(self, sources, blocks, t_stop, chunk=1 << 20, weight_rows=None):
        """Fill a new recording with the part of old files this writer records.

        Parameters
        ----------
        sources : list of (path, {population: spikes kept}, {(population, variable):
            rows kept})
            The old files (set aside by :func:`stash_recording`) and how much of each
            belongs before the checkpoint.
        blocks : dict of population -> (lo, hi)
            The population-local ids this writer records spikes of.
        t_stop : float
            Simulated time of the checkpoint (ms).
        chunk : int
            Report values copied at a time (bounds the memory).
        weight_rows : dict of projection -> int, optional
            Weight samples to copy (:func:`neurosim.io.weights.copy_in`).

        Returns
        -------
        dict of population -> int
            Spikes copied.
        """
        f = self.f
        counts = {}
        files = [h5py.File(p, "r", locking=False, swmr=_swmr_needed(p)) for p, _, _ in sources]
        try:
            for pop in self.spike_pops:
                ts, ids = [], []
                lo, hi = blocks[pop]
                for x, (_, nspk, _) in zip(files, sources, strict=True):
                    if pop not in x.get("spikes", {}):
                        continue
                    n = nspk.get(pop, 0)
                    g = x["spikes"][pop]
                    if g["timestamps"].shape[0] < n:
                        raise OutputError(f"{x.filename}: fewer spikes than the checkpoint says")
                    t = g["timestamps"][:n]
                    i = g["node_ids"][:n]
                    sel = (i >= lo) & (i < hi)
                    ts.append(t[sel])
                    ids.append(i[sel])
                t = np.concatenate(ts) if ts else np.zeros(0)
                i = np.concatenate(ids).astype(np.uint64) if ids else np.zeros(0, np.uint64)
                o = np.lexsort((i, t))  # the order of one process: time, then id
                g = f["spikes"][pop]
                for name, arr in (("timestamps", t[o]), ("node_ids", i[o])):
                    g[name].resize((len(arr),))
                    g[name][:] = arr
                counts[pop] = len(t)
            for pop, var, _cols, every, mine, _dtype in self.groups:
                d = f["report"][pop][var]["data"]
                rows = None
                col_of = {int(x): c for c, x in enumerate(mine)}
                parts = []  # (file, old columns, new columns)
                t0 = every * self.dt  # the first stamp: the old files' (a window may start late)
                for x, (_, _, reps) in zip(files, sources, strict=True):
                    if (pop, var) not in reps:
                        continue
                    n = reps[(pop, var)]
                    ids = x["report"][pop][var]["mapping"]["node_ids"][()]
                    if n:
                        t0 = float(x["report"][pop][var]["mapping"]["time"][0])
                    rows = n if rows is None else min(rows, n)
                    old_c = [c for c, gid in enumerate(ids) if int(gid) in col_of]
                    new_c = [col_of[int(ids[c])] for c in old_c]
                    if old_c:
                        parts.append((x, np.array(old_c), np.array(new_c)))
                rows = rows or 0
                d.resize((rows, d.shape[1]))
                tm = f["report"][pop][var]["mapping"]["time"]
                tm[0] = t0
                tm[1] = tm[0] + rows * tm[2]
                step = max(1, chunk // max(1, d.shape[1]))
                for a in range(0, rows, step):
                    b = min(rows, a + step)
                    block = np.zeros((b - a, d.shape[1]), d.dtype)
                    for x, old_c, new_c in parts:
                        src = x["report"][pop][var]["data"]
                        if src.shape[0] < b:
                            raise OutputError(f"{x.filename}: fewer samples than the checkpoint")
                        block[:, new_c] = src[a:b][:, old_c]
                    d[a:b] = block
            if weight_rows:
                from . import weights as wio

                wio.copy_in(f, files, weight_rows, chunk)
            self._t_now = float(t_stop)
            f.attrs["t_stop"] = float(t_stop)
            f.flush()
        finally:
            for x in files:
                x.close()
        return counts


def _swmr_needed(path):
    """A file whose writer was killed opens only in SWMR read mode."""
    try:
        with h5py.File(path, "r", locking=False):
            return False
    except OSError:
        return True


def truncate_recording(path, spikes, rows, t_stop, weights=None):
    """Cut a recording back to a checkpoint, in place.

    Parameters
    ----------
    path : str
    spikes : dict of population -> int
        Spikes to keep (the first ones: a file holds them in time order).
    rows : dict of (population, variable) -> int
        Report samples to keep.
    t_stop : float
        Simulated time of the checkpoint (ms).
    weights : dict of projection -> int, optional
        Weight samples to keep (:mod:`neurosim.io.weights`).

    Raises
    ------
    OSError
        The file cannot be opened for writing (its writer was killed: HDF5 refuses a
        file with SWMR flags set); the caller rebuilds it instead.
    OutputError
        The file holds less than the checkpoint says.
    """
    with h5py.File(path, "r+", libver=LIBVER, locking=False) as f:
        for pop, n in spikes.items():
            g = f["spikes"][pop]
            for name in ("timestamps", "node_ids"):
                if g[name].shape[0] < n:
                    raise OutputError(f"{path}: {pop} holds fewer spikes than the checkpoint")
                g[name].resize((n,))
        for (pop, var), n in rows.items():
            g = f["report"][pop][var]
            d = g["data"]
            if d.shape[0] < n:
                raise OutputError(f"{path}: {pop}/{var} holds fewer samples than the checkpoint")
            d.resize((n, d.shape[1]))
            tm = g["mapping"]["time"]
            tm[1] = tm[0] + n * tm[2]
        if weights:
            from . import weights as wio

            wio.truncate(f, weights)
        f.attrs["t_stop"] = float(t_stop)
        f.attrs["complete"] = False


STASH = ".resume-old"


def stash_recording(files):
    """Set the old files of a recording aside before new ones are written (rank 0).

    A stash left by an interrupted resume is kept (it holds the originals; the file at
    the path may be a partial copy).  Returns the stashed paths, one per file.
    """
    out = []
    for p in files:
        old = os.fspath(p) + STASH
        if not os.path.exists(old):
            if not os.path.exists(p):
                raise OutputError(f"{p}: missing; it holds the recording up to the checkpoint")
            os.replace(p, old)
        out.append(old)
    return out


def drop_stash(stashed):
    for p in stashed:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def merge_ranks(output, ranks, sizes, all_ids, range_of=None):
    """Write ``output`` from the rank files of a run on ``ranks`` ranks (rank 0 only).

    Parameters
    ----------
    output : str
        The file users open.
    ranks : int
    sizes : dict of population -> number of neurons
    all_ids : dict of (population, variable) -> ndarray of int64
        The recorded ids of each report, in the order of the network file.
    range_of : callable, optional
        ``range_of(size, rank, ranks) -> (lo, hi)``, the ids a rank owns
        (default: :func:`neurosim.parallel.partition.block`).
    """
    from ..parallel.partition import block

    range_of = range_of or block

    output = os.fspath(output)
    files = [rank_file(output, r) for r in range(ranks)]
    srcs = [h5py.File(f, "r", locking=False) for f in files]
    try:
        tmp = output + ".merging"
        with h5py.File(tmp, "w", libver=LIBVER) as f:
            for k, v in srcs[0].attrs.items():
                if k != "rank":
                    f.attrs[k] = v
            f.attrs["complete"] = all(bool(x.attrs["complete"]) for x in srcs)
            f.attrs["t_stop"] = min(float(x.attrs["t_stop"]) for x in srcs)
            f.attrs["rank_files"] = [os.path.basename(x) for x in files]
            sp = f.create_group("spikes")
            for pop, g0 in srcs[0]["spikes"].items():
                t = np.concatenate([x["spikes"][pop]["timestamps"][()] for x in srcs])
                ids = np.concatenate([x["spikes"][pop]["node_ids"][()] for x in srcs])
                order = np.lexsort((ids, t))  # the order of one process: time, then id
                g = sp.create_group(pop)
                for k, v in g0.attrs.items():
                    g.attrs[k] = v
                chunk = (max(1, min(65536, len(t))),)
                d = g.create_dataset("timestamps", data=t[order], maxshape=(None,), chunks=chunk)
                d.attrs["units"] = "ms"
                g.create_dataset("node_ids", data=ids[order], maxshape=(None,), chunks=chunk)
            rep = f.create_group("report")
            for pop in srcs[0]["report"]:
                for var, g0 in srcs[0]["report"][pop].items():
                    ids = np.asarray(all_ids[(pop, var)], np.int64)
                    # the columns each rank recorded: its block of the population
                    cols = [
                        np.nonzero((ids >= lo) & (ids < hi))[0]
                        for lo, hi in (range_of(sizes[pop], r, ranks) for r in range(ranks))
                    ]
                    rows = [
                        x["report"][pop][var]["data"].shape[0]
                        for x, c in zip(srcs, cols, strict=True)
                        if len(c)
                    ]
                    n_t = min(rows, default=0)
                    d0 = g0["data"]
                    layout = h5py.VirtualLayout((n_t, len(ids)), d0.dtype)
                    for r, x in enumerate(srcs):
                        pos = cols[r]
                        if not len(pos) or not n_t:
                            continue
                        src = h5py.VirtualSource(
                            os.path.basename(files[r]),
                            f"report/{pop}/{var}/data",
                            shape=x["report"][pop][var]["data"].shape,
                            dtype=d0.dtype,
                        )
                        # runs of consecutive columns map as one block each
                        cut = np.nonzero(np.diff(pos) != 1)[0] + 1
                        c = 0
                        for run in np.split(pos, cut):
                            a, b = int(run[0]), int(run[-1]) + 1
                            layout[:, a:b] = src[:n_t, c : c + (b - a)]
                            c += b - a
                    g = rep.require_group(pop).create_group(var)
                    d = g.create_virtual_dataset("data", layout, fillvalue=np.nan)
                    for k, v in d0.attrs.items():
                        d.attrs[k] = v
                    m = g.create_group("mapping")
                    m.create_dataset("node_ids", data=ids.astype(np.uint64))
                    m.create_dataset(
                        "index_pointers", data=np.arange(len(ids) + 1, dtype=np.uint64)
                    )
                    m.create_dataset("element_ids", data=np.zeros(len(ids), np.uint32))
                    tm = m.create_dataset("time", data=g0["mapping"]["time"][()])
                    tm.attrs["units"] = "ms"
            from . import weights as wio

            wio.merge(srcs, f)
    finally:
        for x in srcs:
            x.close()
    os.replace(tmp, output)


def _why(exc):
    text = str(exc)
    if "lock" in text.lower() or "already open" in text.lower():
        return "the file is in use by another run"
    return text


# --------------------------------------------------------------------------- reading


class Recording:
    """A recording opened for reading (see :func:`open_recording`).

    Attributes
    ----------
    attrs : dict
        Root attributes (dt, seed, backend, complete, t_stop, network ...).
    spike_populations, report_populations : list of str
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"{self.path}: no such recording")
        try:
            self._f = h5py.File(self.path, "r", locking=False)
        except OSError as exc:
            if "truncated" in str(exc).lower():
                # a SWMR open would succeed, then retry reads past the end for minutes
                raise OSError(f"{self.path}: truncated file ({exc})") from None
            # a writer was killed: the SWMR flags are still set; read what was flushed
            self._f = h5py.File(self.path, "r", swmr=True, locking=False)
        f = self._f
        self.attrs = {k: _py(v) for k, v in f.attrs.items()}
        self._check_sources()
        self.spike_populations = list(f["spikes"]) if "spikes" in f else []
        self.report_populations = list(f["report"]) if "report" in f else []

    def _check_sources(self):
        """A merged run's reports read the rank files: refuse when one is missing
        (HDF5 would silently read fill values)."""
        names = self.attrs.get("rank_files")
        if names is None:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        missing = [n for n in list(names) if not os.path.exists(os.path.join(folder, _py(n)))]
        if missing:
            self._f.close()
            raise OSError(
                f"{self.path}: recorded on {len(names)} ranks; its reports read the rank "
                f"files beside it, and {', '.join(map(_py, missing))} is missing"
            )

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))

    def spikes(self, population):
        """Spike times (ms, float64) and population-local ids (int64) of one population."""
        g = self._f["spikes"][population]
        return g["timestamps"][()], g["node_ids"][()].astype(np.int64)

    def spike_chunks(self, population, chunk=1 << 20):
        """Iterate (times, ids) in chunks of at most ``chunk`` spikes (bounded memory)."""
        g = self._f["spikes"][population]
        n = g["timestamps"].shape[0]
        for a in range(0, n, chunk):
            yield g["timestamps"][a : a + chunk], g["node_ids"][a : a + chunk].astype(np.int64)

    def population_size(self, population) -> int:
        """Number of neurons of a population (as built, overrides included)."""
        return int(self._f["spikes"][population].attrs["n_nodes"])

    def n_spikes(self, population) -> int:
        return int(self._f["spikes"][population]["timestamps"].shape[0])

    def variables(self, population):
        return list(self._f["report"][population])

    def report(self, population, variable):
        """Recorded state: times (ms, [t]), data ([t, n]) and node ids ([n])."""
        g = self._f["report"][population][variable]
        data = g["data"][()]
        start, _stop, step = g["mapping"]["time"][()]
        times = start + step * np.arange(data.shape[0])
        return times, data, g["mapping"]["node_ids"][()].astype(np.int64)

    def units(self, population, variable):
        return _py(self._f["report"][population][variable]["data"].attrs.get("units", ""))

    @property
    def plastic_projections(self):
        """Names of the plastic projections whose weights the file holds."""
        from . import weights as wio

        return wio.names(self._f)

    def weights(self, projection):
        """Final weights of a plastic projection (every rank's synapses).

        Returns
        -------
        pre, post : ndarray of int64, shape (n,)
            Population-local source and target ids, sorted by (post, pre).
        weight : ndarray of float64, shape (n,)
            Weights at the end of the last run (target's weight unit; negative on the
            ``in`` port of conductance-based targets, as in the network file).
        """
        from . import weights as wio

        return wio.read_final(self._f, projection)

    def weight_series(self, projection):
        """Sampled weights of a projection recorded by ``record.weights``.

        Returns
        -------
        times : ndarray of float64, shape (T,)
            ms; a sample stamped ``t`` holds the updates of every presynaptic spike up
            to ``t``.
        pre, post : ndarray of int64, shape (M,)
            The recorded synapses (in synapse-index order).
        weight : ndarray of float64, shape (T, M)
        """
        from . import weights as wio

        return wio.read_series(self._f, projection)

    def weight_units(self, projection):
        """The weight unit of a plastic projection (its target's: pA, mV or nS)."""
        from . import weights as wio

        return _py(wio._group(self._f, projection).attrs["unit"])


def open_recording(path) -> Recording:
    """Open a recording for reading (also one whose writer was killed)."""
    return Recording(path)


def _py(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
