"""The simulation loop: build, then advance in chunks, recording after each chunk.

It knows backends only through :class:`neurosim.backends.base.HostBackend`, the
recording only through :class:`neurosim.io.hdf5.Writer`, and other ranks only through
the communicator of :mod:`neurosim.parallel.comm`.  ``run`` may be called repeatedly
(NEST's repeated Simulate, Brian2's run loops); parameters and state can be changed
between segments with :meth:`Simulation.set`.

Under ``mpiexec -n R`` each rank builds and advances its block of every population
(:mod:`neurosim.parallel.partition`), runs at most ``min_delay`` steps, then gathers
every rank's spikes of those steps (one Allgatherv) and delivers them in (step, gid)
order, the order one process uses, so that the spikes are the same bits on any number
of ranks.  Each rank records to a file of its own; at the end of every ``run`` rank 0
merges them into the output (spikes merged, reports as virtual datasets).

Checkpoints (:meth:`Simulation.checkpoint`, ``checkpoint_every``) hold the whole
dynamic state per global neuron id (:mod:`neurosim.io.checkpoint`);
:meth:`Simulation.resume` rebuilds the network, restores that state on however many
ranks it runs on, cuts the recording back to the checkpoint and continues it, giving
the bits of the uninterrupted run.  :meth:`Simulation.request_stop` (the command
line's SIGINT / SIGTERM handler) ends a run at the next step boundary with a final
checkpoint and raises :class:`Interrupted`.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from . import __version__
from .backends import get_backend
from .backends.base import RecordPlan
from .models import get_model
from .network.build import build, check_reset_below_threshold
from .network.spec import NetworkSpec, SpecError, load
from .parallel.comm import get_comm
from .parallel.partition import Partition
from .units import UnitError, dimension_of_unit, parse_quantity

#: Steps of the first chunk.  Chunks then grow (doubling, up to MAX_CHUNK_STEPS) while
#: one takes less than CHUNK_SECONDS of wall time, so Python and the recording stay off
#: the hot path of small, fast networks; the recording buffer bounds them too.
CHUNK_STEPS = 500
MAX_CHUNK_STEPS = 20000
CHUNK_SECONDS = 0.05
#: Recorded samples held per chunk at most (values), bounding the recording buffer.
MAX_CHUNK_SAMPLES = 1 << 22


class Simulation:
    """One network, one backend, one recording.

    Parameters
    ----------
    network : NetworkSpec or str
        A spec from :func:`neurosim.load`, or the path of a network file.
    output : str, optional
        HDF5 recording to write; without one, spikes are kept in memory
        (:meth:`spikes`).
    backend : str
        ``"numba"`` (default, compiled CPU) or ``"numpy"`` (reference).
    overwrite : bool
        Replace an existing output file.
    seed : int, optional
        Overrides the network file's seed.
    progress : bool
        Show a progress bar (simulated time, real-time factor, ETA).
    checkpoint_every : str or float, optional
        Write a checkpoint every this much simulated time (``"500 ms"``; ms as a
        number), at multiples of it counted from t = 0.
    checkpoint : str, optional
        Checkpoint file (default: ``<output>.ckpt``).
    check_memory : bool
        Estimate the memory from the spec before building and refuse
        (:class:`neurosim.network.estimate.MemoryEstimateError`) when it exceeds what
        the machine has (:mod:`neurosim.network.estimate`).

    The output is locked (:class:`neurosim.io.hdf5.OutputLock`) from here until
    :meth:`close` or the end of the process: a second run writing it refuses to start.
    """

    def __init__(
        self,
        network,
        output=None,
        backend="numba",
        overwrite=False,
        seed=None,
        progress=False,
        checkpoint_every=None,
        checkpoint=None,
        check_memory=True,
        _resume=None,
    ):
        from .io.checkpoint import checkpoint_path, sha256_of_file
        from .io.hdf5 import OutputLock, Writer, check_output

        spec = load(network) if not isinstance(network, NetworkSpec) else network
        if seed is not None:
            spec.seed = int(seed)
        self.spec = spec
        self.dt = spec.dt
        self.comm = comm = get_comm()
        self.part = Partition(comm.rank, comm.size)
        if spec.dtype != "float64" and backend not in ("numpy", "numba"):
            raise SpecError(
                spec.path,
                "simulation.dtype",
                f"{spec.dtype} runs on the numpy and numba backends; --backend {backend} "
                "needs float64",
            )
        backend_cls = get_backend(backend, spec.kind)
        self.checkpoint_every = None
        if checkpoint_every is not None:
            try:
                every = parse_quantity(checkpoint_every, "time")
            except UnitError as exc:
                raise ValueError(f"checkpoint_every: {exc}") from None
            k = int(round(every / self.dt)) if math.isfinite(every) else 0
            if k < 1:
                raise ValueError(
                    f"checkpoint_every: expected a time of at least dt, got {checkpoint_every!r}"
                )
            self.checkpoint_every = k
        self.checkpoint_path = checkpoint or (checkpoint_path(output) if output else None)
        self.network_sha256 = sha256_of_file(spec.path) if os.path.isfile(spec.path) else ""
        self.end_step = None  # where the run in progress (or interrupted) is going
        self.last_checkpoint = None  # (step, path)
        self._stop = None
        self._lock = None
        self.memory_estimate = None
        if check_memory:
            from .network.estimate import check_fits

            self.memory_estimate = _agree(
                comm, lambda: check_fits(spec, comm.size, backend, comm.rank)
            )
        self.rank_output = None
        if output is not None:
            if comm.size > 1:
                from .io.hdf5 import rank_file

                self.rank_output = rank_file(output, comm.rank)
            # rank 0 locks the output (a second run refuses, --overwrite or not)
            if comm.rank == 0:
                self._lock = OutputLock(output)
            may_replace = overwrite or _resume is not None
            _agree(comm, lambda: self._lock.acquire(may_replace) if self._lock else None)
            if self._lock is not None:  # released at exit if close() was not called
                import weakref

                weakref.finalize(self, self._lock.release)
            if _resume is None:
                # every rank checks; all fail together with rank 0's message
                _agree(comm, lambda: check_output(output, overwrite))
                if self.rank_output is not None:
                    _agree(comm, lambda: check_output(self.rank_output, overwrite))
        t0 = time.perf_counter()
        if spec.kind == "ltc":
            from .backends.ltc_numpy import ltc_record_plan
            from .ltc.build import build_ltc

            if comm.size > 1:
                self.built, self.plan = _agree(comm, lambda: _build_ltc_rank(spec, comm))
            else:
                self.built = build_ltc(spec)
                self.plan = ltc_record_plan(self.built, spec.record_state)
        else:
            self.built = _agree(comm, lambda: build(spec, part=self.part))
            if comm.size > 1:
                _global_delays(comm, self.built)
            self.plan = RecordPlan(self.built, spec.record_state)
        self.build_time = time.perf_counter() - t0
        if spec.kind == "ltc" and comm.size > 1:
            from .backends.ltc_mpi import LtcMpiBackend

            if backend != "numba":
                raise SpecError("--backend", backend, "graded networks on ranks need numba")
            self.backend = _agree(comm, lambda: LtcMpiBackend(self.built, self.plan, comm))
        else:
            self.backend = backend_cls(self.built, self.plan)
        self.wrec = None  # plastic weights for the recording (neurosim.plasticity.record)
        if output is not None and getattr(self.built, "plastic", None):
            from .plasticity.record import WeightRecorder

            sort = getattr(getattr(self.backend, "_k", None), "bucket_order", None)
            self.wrec = _agree(comm, lambda: WeightRecorder(self.built, spec, comm, sort))
            self.backend.weight_recorder = self.wrec
        self.backend_name = backend
        self.progress = progress and comm.rank == 0
        self.step = 0
        self.sim_time = 0.0
        lay = self.built.layouts
        # in gid order, whatever order record.spikes lists them in: _store looks a
        # spike's population up by searchsorted on their first gids
        self._spike_pops = sorted(
            (p for p in spec.record_spikes if p in lay), key=lambda p: lay[p].gid0
        )
        self._gid0 = np.array([lay[p].gid0 for p in self._spike_pops], np.int64)
        self._gid1 = np.array([lay[p].gid0 + lay[p].size for p in self._spike_pops], np.int64)
        self.spike_counts = {p: 0 for p in self._spike_pops}
        self._memory = {p: ([], []) for p in self._spike_pops} if output is None else None
        self.output = output
        self.writer = None
        self.exchanged_spikes = 0
        self.exchanges = 0
        if output is not None:

            def make_writer(create):
                w = Writer(
                    self.rank_output or output,
                    spec,
                    backend,
                    self._spike_pops,
                    self.plan,
                    self._units,
                    __version__,
                    rank=comm.rank,
                    ranks=comm.size,
                    create=create,
                    weights=self.wrec.layout() if self.wrec else None,
                )
                if self.wrec:
                    w.final_weights = self.wrec.final
                return w

            self._make_writer = make_writer
            self.writer = _agree(comm, lambda: make_writer(_resume is None))
        if _resume is not None:
            self._restore(*_resume)

    def _units(self, pop, var):
        if self.spec.kind == "ltc":
            from .models import cfc, ltc_neuron

            return (cfc if var == "h" else ltc_neuron).STATE[var].unit  # h: cfc populations
        return get_model(self.spec.populations[pop].model).state[var].unit

    # ----------------------------------------------------------------------- running

    def run(self, duration=None):
        """Advance by ``duration`` (a time: ``"500 ms"``, or ms as a number).

        Defaults to the network file's ``simulation.duration`` (after
        :meth:`resume`: the rest of the interrupted run).  Durations are rounded to
        whole steps.

        Raises
        ------
        Interrupted
            :meth:`request_stop` was called (SIGINT / SIGTERM on the command line): the
            run stopped at a step boundary after writing a checkpoint.
        """
        if duration is None:
            if self.end_step is not None and self.end_step > self.step:
                return self._run_steps(self.end_step - self.step)
            duration = self.spec.duration
        try:
            ms = parse_quantity(duration, "time")
        except UnitError as exc:
            raise ValueError(f"duration: {exc}") from None
        if not (ms >= 0 and math.isfinite(ms)):
            raise ValueError(f"duration: expected a time >= 0, got {duration!r}")
        return self._run_steps(int(round(ms / self.dt)))

    def _run_steps(self, nsteps):
        if self._lock is not None:
            self._lock.check()
            if self._lock.fd is None:  # closed earlier: take the output again
                self._lock.acquire()
        self.end_step = self.step + nsteps
        bar = self._bar(nsteps)
        if self.writer:
            self.writer.begin_segment()
        ok = False
        stopped = False
        t_wall = time.perf_counter()
        parallel = self.comm.size > 1 and self.spec.kind != "ltc"
        if self._lock is not None:
            self._lock.busy = True
        try:
            if parallel:
                try:
                    self._run_parallel(nsteps, bar, t_wall)
                except Interrupted:
                    stopped = True
                    raise
                except Exception as exc:
                    # the other ranks wait in the next exchange: end the whole job
                    self._abort_others(exc)
                    raise
                ok = True
                return self
            left = nsteps
            chunk = CHUNK_STEPS
            cap = max(1, MAX_CHUNK_SAMPLES // max(1, self.plan.n_entries))
            # graded networks on ranks exchange every step inside backend.run: the
            # ranks agree on each chunk's length and on stopping, or a rank that stops
            # alone leaves the others waiting in the next exchange
            together = self.comm.size > 1
            if together:
                self._agree_stop()
            if self._stop is not None:
                stopped = True
                self._interrupt()
            while left > 0:
                k0 = self.step
                t_chunk = time.perf_counter()
                want = min(chunk, left, cap, self._to_checkpoint())
                if together:
                    want = int(self.comm.allreduce(want, op="min"))
                try:
                    ks, gids, done = self.backend.run(k0, want)
                except Exception as exc:
                    self._abort_others(exc)
                    raise
                if time.perf_counter() - t_chunk < CHUNK_SECONDS and done == want:
                    chunk = min(2 * chunk, MAX_CHUNK_STEPS)
                self.step += done
                left -= done
                self.sim_time = self.step * self.dt
                self._store(ks, gids, self.plan.chunk_samples(k0, done))
                try:
                    self._check_finite()
                except FloatingPointError as exc:
                    self._abort_others(exc)
                    raise
                _progress(bar, done * self.dt, (nsteps - left) * self.dt, t_wall)
                if self._checkpoint_due():
                    self.checkpoint()
                if together and left > 0:
                    self._agree_stop()
                if self._stop is not None and left > 0:
                    stopped = True
                    self._interrupt()
            ok = True
        finally:
            if self._lock is not None:
                self._lock.busy = False
            if bar is not None:
                bar.close()
            if self.writer:
                self.writer.end_segment(complete=ok)
            self.last_run_wall = time.perf_counter() - t_wall
            if (ok or stopped) and self.comm.size > 1 and self.writer:
                self._merge()
        return self

    def _to_checkpoint(self):
        """Steps until the next checkpoint time (chunks end there)."""
        k = self.checkpoint_every
        if not k:
            return 1 << 62
        return (self.step // k + 1) * k - self.step

    def _checkpoint_due(self):
        k = self.checkpoint_every
        return bool(k) and self.step % k == 0 and self.step > 0

    def request_stop(self, reason="stop requested"):
        """Ask a running :meth:`run` to stop at the next step boundary (safe to call from
        a signal handler): it flushes the recording, writes a checkpoint and raises
        :class:`Interrupted`.  Across ranks, every rank stops after the same step."""
        self._stop = str(reason)

    def _agree_stop(self):
        """Every rank stops when one was asked to (a collective call)."""
        if self.comm.allreduce(int(self._stop is not None), op="max") and self._stop is None:
            self._stop = "stop requested on another rank"

    def _interrupt(self):
        path = None
        if self.last_checkpoint is not None and self.last_checkpoint[0] == self.step:
            path = self.last_checkpoint[1]
        elif self.checkpoint_path is not None:
            path = self.checkpoint()
        reason, self._stop = self._stop or "stop requested", None  # a later run goes on
        raise Interrupted(reason, self.sim_time, path, self.output)

    def _run_parallel(self, nsteps, bar, t_wall):
        """Advance ``nsteps`` across ranks: at most ``min_delay`` steps, then exchange.

        A spike of step ``k`` reaches its targets no earlier than ``k + min_delay``, so
        the spikes of ``[k0, k0 + m)`` with ``m <= min_delay`` can be gathered after
        step ``k0 + m - 1`` and still arrive in time, wherever the steps started.  An
        interval also ends at every checkpoint time.  A rank asked to stop adds the code
        -1 to its spikes: every rank sees it in the same exchange and stops there.
        """
        comm, be = self.comm, self.backend
        n_gids = np.int64(self.built.n_gids)
        interval = max(1, int(self.built.min_delay))
        cap = max(1, MAX_CHUNK_SAMPLES // max(1, self.plan.n_entries))
        native = comm.native() if getattr(be, "can_exchange", False) else None
        if native is not None:
            return self._run_parallel_native(nsteps, bar, t_wall, native, interval, cap)
        left = nsteps
        stop_code = np.array([-1], np.int64)
        # the recording and the finiteness check take ~50 us per call: batch them over
        # intervals (up to CHUNK_STEPS steps or the recording buffer's bound)
        pend = []
        pend_steps = 0
        n_entries = max(1, self.plan.n_entries)

        def flush():
            nonlocal pend, pend_steps
            if pend:
                ks = np.concatenate([p[0] for p in pend])
                gids = np.concatenate([p[1] for p in pend])
                self._store(ks, gids, [x for p in pend for x in p[2]])
                pend, pend_steps = [], 0
            self._check_finite()

        while left > 0:
            k0 = self.step
            m = min(interval, left, cap, self._to_checkpoint())
            codes = []
            done = 0
            while done < m:
                # a backend may stop early when its spike buffer fills: finish the
                # interval before exchanging (every rank exchanges the same steps)
                ks, gids, d = be.run(k0 + done, m - done, deliver=False)
                self.step = k0 + done + d
                self.sim_time = self.step * self.dt
                pend.append((ks, gids, self.plan.chunk_samples(k0 + done, d)))
                pend_steps += d
                codes.append((ks - k0) * n_gids + gids)
                done += d
            if self._stop is not None:
                codes.append(stop_code)
            local = np.concatenate(codes) if len(codes) > 1 else codes[0]
            every, _ = comm.allgather_int64(local)
            every.sort()
            n_stop = int(np.searchsorted(every, 0))  # the stop codes sort first
            if n_stop:
                every = every[n_stop:]
                if self._stop is None:
                    self._stop = "stop requested on another rank"
            be.deliver(k0 + every // n_gids, every % n_gids)
            self.exchanged_spikes += len(every)
            self.exchanges += 1
            left -= m
            due = self._checkpoint_due()
            if (
                pend_steps >= CHUNK_STEPS
                or pend_steps * n_entries >= MAX_CHUNK_SAMPLES
                or left == 0
                or due
                or n_stop
            ):
                flush()
            _progress(bar, m * self.dt, (nsteps - left) * self.dt, t_wall)
            if due:
                self.checkpoint()
            if n_stop and left > 0:
                self._interrupt()
        flush()

    def _run_parallel_native(self, nsteps, bar, t_wall, native, interval, cap):
        """:meth:`_run_parallel` with the interval loop in compiled code: one backend
        call runs a batch of intervals (up to ``CHUNK_STEPS`` steps), each followed by
        the exchange, with MPI called from the kernel.  Same intervals, codes, sort
        and delivery, so the same bits; Python runs once per batch (recording, the
        finiteness check, the progress bar, checkpoints and stop requests)."""
        be = self.backend
        n_gids = int(self.built.n_gids)
        left = nsteps
        while left > 0:
            k0 = self.step
            # whole intervals per batch: a cut interval is an extra exchange
            m = min(left, max(interval, CHUNK_STEPS // interval * interval), cap)
            m = min(m, self._to_checkpoint())
            ks, gids, d, n_spk, n_ex, stopped = be.run_exchanged(
                k0, m, interval, n_gids, native, self._stop is not None
            )
            self.step = k0 + d
            self.sim_time = self.step * self.dt
            self._store(ks, gids, self.plan.chunk_samples(k0, d))
            self._check_finite()
            self.exchanged_spikes += n_spk
            self.exchanges += n_ex
            left -= d
            if stopped and self._stop is None:
                self._stop = "stop requested on another rank"
            _progress(bar, d * self.dt, (nsteps - left) * self.dt, t_wall)
            if self._checkpoint_due():
                self.checkpoint()
            if stopped and left > 0:
                self._interrupt()

    def _check_finite(self):
        """Stop with population, neuron, variable and time at a NaN or Inf in the state."""
        if self.spec.kind == "ltc":
            return self._check_finite_ltc()
        be = self.backend
        if np.isfinite(be.V).all() and np.isfinite(be.syn).all():
            return
        bad_v = ~np.isfinite(be.V)
        var, n = ("V_m", int(np.argmax(bad_v))) if bad_v.any() else (None, None)
        if var is None:
            r, n = np.argwhere(~np.isfinite(be.syn))[0]
            n = int(n)
        for lay in self.built.layouts.values():
            if lay.kind == "neuron" and lay.n0 <= n < lay.n0 + lay.count:
                if var is None:
                    var = get_model(lay.model).syn_state[int(r)]
                if self.writer:
                    self.writer.flush()
                raise FloatingPointError(
                    f"{lay.name}: neuron {lay.lo + n - lay.n0}, variable {var} is not finite "
                    f"at t = {self.sim_time:g} ms (recording kept up to there)"
                )

    # ----------------------------------------------------------------------- checkpoints

    def checkpoint(self, path=None):
        """Write the whole dynamic state to a checkpoint file (HDF5, atomically).

        Under MPI every rank must call it (the state is gathered; rank 0 writes).
        The recording is flushed first, so the checkpoint never claims data the file
        lacks.

        Parameters
        ----------
        path : str, optional
            Default: the simulation's checkpoint file (``<output>.ckpt``).

        Returns
        -------
        str
            The path written.
        """
        from .io.checkpoint import sha256_of_text, write_checkpoint

        path = os.fspath(path or self.checkpoint_path or "")
        if not path:
            raise ValueError("checkpoint: no path (a simulation without output needs one)")
        comm = self.comm
        if self.writer is not None and self.writer.f is not None:
            self.writer.flush()
        arrays = self._gather_state()
        counts = np.array([self.spike_counts[p] for p in self._spike_pops], np.int64)
        every_rank = comm.allgather(counts) if comm.size > 1 else [counts]
        if self.output is not None:
            from .io.hdf5 import rank_file

            names = [os.path.basename(self.output)]
            if comm.size > 1:
                names = [os.path.basename(rank_file(self.output, r)) for r in range(comm.size)]
            arrays["recording/spikes"] = np.array(every_rank, np.int64).reshape(
                len(names), len(self._spike_pops)
            )
            reports = [[pop, var, int(k)] for pop, var, _c, k, _i, _d in self.plan.groups]
            arrays["recording/rows"] = np.array(self.plan.rows_until(self.step), np.int64)
        else:
            names, reports = [], []
        spec = self.spec
        attrs = {
            "neurosim_version": __version__,
            "step": int(self.step),
            "t": float(self.step * self.dt),
            "dt": float(self.dt),
            "end_step": int(max(self.end_step or 0, self.step)),
            "kind": spec.kind,
            "seed": int(spec.seed),
            "backend": self.backend_name,
            "ranks": int(comm.size),
            "network_path": os.path.abspath(spec.path) if spec.path else "",
            "network_sha256": self.network_sha256,
            "spec_sha256": sha256_of_text(spec.source_text),
            "overrides": _overrides_of(spec),
            "output": os.path.abspath(self.output) if self.output else "",
            "checkpoint_every": int(self.checkpoint_every or 0),
            "rec_files": names,
            "rec_spike_pops": list(self._spike_pops),
            "rec_reports": reports,
            "max_delay": int(self.built.max_delay) if spec.kind != "ltc" else 0,
        }
        _agree(comm, lambda: write_checkpoint(path, attrs, arrays) if comm.rank == 0 else 0)
        self.last_checkpoint = (self.step, path)
        return path

    def _gather_state(self):
        """Every rank's state, by global id (collective; complete on rank 0)."""
        comm, b, be = self.comm, self.built, self.backend
        be.sync_to_host()
        if self.spec.kind == "ltc":
            # under MPI a rank keeps V at full length but advances only its own
            # neurons (``owned``): those are its part of the checkpoint
            owned = getattr(be, "owned", None)
            gid = np.arange(b.n_neurons) if owned is None else np.nonzero(owned)[0]
            local = {"gid": gid, "V": be.V[gid].copy()}
            local["cfc"] = {int(i0): st.c.copy() for i0, st in getattr(be, "cfc", {}).items()}
            parts = comm.allgather(local) if comm.size > 1 else [local]
            g = np.concatenate([p["gid"] for p in parts])
            _, first = np.unique(g, return_index=True)  # ranks may hold copies
            out = {
                "ltc/gid": g[first],
                "ltc/V": np.concatenate([p["V"] for p in parts])[first],
            }
            for i0, c in parts[0]["cfc"].items():
                out[f"ltc/cfc/{i0}"] = c
            return out
        st = be.get_state(self.step)
        local = dict(st, gid=b.neuron_gid, params=b.params)
        parts = comm.allgather(local) if comm.size > 1 else [local]
        if comm.rank != 0:
            return {}
        gid = np.concatenate([p["gid"] for p in parts])
        o = np.argsort(gid, kind="stable")
        key = np.concatenate([p["noise_key"] for p in parts])
        ko = np.argsort(key, kind="stable")
        out = {
            "neurons/gid": gid[o],
            "neurons/V": np.concatenate([p["V"] for p in parts])[o],
            "neurons/syn": np.concatenate([p["syn"] for p in parts], axis=1)[:, o],
            "neurons/refr": np.concatenate([p["refr"] for p in parts])[o],
            "ring": np.concatenate([p["ring"] for p in parts], axis=2)[:, :, o],
            "noise/key": key[ko],
            "noise/hist": np.concatenate([p["noise_hist"] for p in parts], axis=0)[ko],
        }
        if getattr(b, "plastic", None):  # weights, traces, histories (partition-free)
            from .plasticity.runtime import merge_state

            out.update(merge_state(parts))
        for pop, lay in b.layouts.items():
            if lay.kind != "neuron":
                continue
            for name, v in parts[0]["params"][pop].items():
                if lay.heterogeneous:  # per neuron: the blocks of every rank, in order
                    v = np.concatenate([p["params"][pop][name] for p in parts])
                out[f"params/{pop}/{name}"] = v
        return out

    @classmethod
    def resume(
        cls,
        output=None,
        checkpoint=None,
        network=None,
        backend=None,
        progress=False,
        checkpoint_every=None,
        check_memory=True,
    ):
        """Continue a run from its checkpoint, appending to its recording.

        Parameters
        ----------
        output : str, optional
            The recording to continue (its checkpoint is ``<output>.ckpt``).  Without
            one, ``checkpoint`` must be given and nothing is recorded.
        checkpoint : str, optional
            The checkpoint file, if not beside the output.
        network : NetworkSpec or str, optional
            Default: the network file the run was started with, with its ``--set``
            overrides; refused when its contents changed since (SHA-256).
        backend : str, optional
            Default: the backend of the run.
        checkpoint_every : str or float, optional
            Default: the interval of the run.

        Returns
        -------
        Simulation
            At the checkpoint's step; :meth:`run` without a duration runs the rest of
            the interrupted run (``end_step``).

        Raises
        ------
        neurosim.io.checkpoint.CheckpointError
            No checkpoint, or the network differs from the one checkpointed.
        """
        from .io.checkpoint import (
            CheckpointError,
            checkpoint_path,
            read_checkpoint,
            sha256_of_file,
            sha256_of_text,
        )

        comm = get_comm()
        if checkpoint is None:
            if output is None:
                raise ValueError("resume: give the output or the checkpoint file")
            checkpoint = checkpoint_path(output)
        attrs, arrays = _agree(comm, lambda: read_checkpoint(checkpoint))
        overrides = attrs.get("overrides") or None

        def network_spec():
            if isinstance(network, NetworkSpec):
                return network
            path = network or attrs["network_path"]
            sha = sha256_of_file(path)
            if not sha:
                raise CheckpointError(f"{path}: the network file of the run is not readable")
            if network is None and sha != attrs["network_sha256"]:
                raise CheckpointError(
                    f"{path}: changed since the checkpoint {checkpoint} was written "
                    f"(SHA-256 {sha[:12]}, was {attrs['network_sha256'][:12]}); "
                    "a resume needs the network the run started with"
                )
            return load(path, overrides)

        spec = _agree(comm, network_spec)
        if sha256_of_text(spec.source_text) != attrs["spec_sha256"]:
            raise CheckpointError(
                f"{spec.path}: not the network of the checkpoint {checkpoint} "
                "(its text or --set overrides differ)"
            )
        if spec.kind != attrs["kind"] or float(spec.dt) != float(attrs["dt"]):
            raise CheckpointError(f"{checkpoint}: made for another network (kind or dt differ)")
        spec.seed = int(attrs["seed"])
        every = checkpoint_every
        if every is None and attrs.get("checkpoint_every"):
            every = attrs["checkpoint_every"] * spec.dt
        return cls(
            spec,
            output=output,
            backend=backend or attrs["backend"],
            progress=progress,
            checkpoint_every=every,
            checkpoint=checkpoint,
            check_memory=check_memory,
            _resume=(attrs, arrays),
        )

    def _restore(self, attrs, arrays):
        """Set the state from a checkpoint and cut the recording back to it."""
        from .io.checkpoint import CheckpointError

        step = int(attrs["step"])
        b, be = self.built, self.backend
        if self.spec.kind == "ltc":
            # every rank takes all of V: its own neurons and those its synapses read
            idx = _positions(arrays["ltc/gid"], np.arange(b.n_neurons), "neuron")
            be.V[:] = arrays["ltc/V"][idx]
            for i0, st in getattr(be, "cfc", {}).items():
                st.c = np.array(arrays[f"ltc/cfc/{int(i0)}"], dtype=st.c.dtype)
        else:
            if int(attrs["max_delay"]) != int(b.max_delay):
                raise CheckpointError("the network's delays differ from the checkpoint's")
            idx = _positions(arrays["neurons/gid"], b.neuron_gid, "neuron")
            key = be.cur.noise_key
            kidx = _positions(arrays["noise/key"], key, "noise synapse")
            for pop, lay in b.layouts.items():
                if lay.kind != "neuron":
                    continue
                model = get_model(lay.model)
                params = {}
                for name in b.params[pop]:
                    saved = arrays[f"params/{pop}/{name}"]
                    het = lay.heterogeneous
                    params[name] = saved[lay.lo : lay.lo + lay.count] if het else saved
                if any(not np.array_equal(params[n], b.params[pop][n]) for n in params):
                    params = {k: np.array(v, np.float64) for k, v in params.items()}
                    b.params[pop] = params
                    be.set_params(pop, model, params)
            be.set_state(
                step,
                {
                    "V": arrays["neurons/V"][idx],
                    "syn": arrays["neurons/syn"][:, idx],
                    "refr": arrays["neurons/refr"][idx],
                    "ring": arrays["ring"][:, :, idx],
                    "noise_hist": arrays["noise/hist"][kidx],
                    **{k: v for k, v in arrays.items() if k.startswith("plastic/")},
                },
            )
        self.step = step
        self.sim_time = step * self.dt
        self.end_step = int(attrs["end_step"])
        self.last_checkpoint = (step, self.checkpoint_path)
        if self.output is not None:
            self._restore_recording(attrs, arrays)

    def _restore_recording(self, attrs, arrays):
        """Cut the recording back to the checkpoint: in place on one process when the
        file opens for writing, else rebuilt from the old files on every rank."""
        from .io import hdf5

        comm = self.comm
        t_stop = self.step * self.dt
        # the files as named now (a recording may have been moved or renamed with its
        # checkpoint): the output itself, or its rank files
        n_old = len(attrs["rec_files"])
        old = [os.path.abspath(self.output)]
        if n_old > 1:
            old = [os.path.abspath(hdf5.rank_file(self.output, r)) for r in range(n_old)]
        pops = list(attrs["rec_spike_pops"])
        reports = [tuple(r) for r in attrs["rec_reports"]]
        mine = [(p, v, int(k)) for p, v, _c, k, _i, _d in self.plan.groups]
        if pops != list(self._spike_pops) or reports != mine:
            raise hdf5.OutputError(
                f"{self.output}: the checkpoint records other populations or states than "
                "this network does (a spec changed in Python: pass it as network=)"
            )
        counts = arrays.get("recording/spikes", np.zeros((len(old), len(pops)), np.int64))
        counts = np.asarray(counts).reshape(len(old), len(pops))
        rows = {
            (p, v): int(n) for (p, v, _), n in zip(reports, arrays["recording/rows"], strict=True)
        }
        kept = [dict(zip(pops, c.tolist(), strict=True)) for c in counts]
        # weight samples: those stamped up to the checkpoint
        wrows = {e.name: self.step // e.every for e in self.wrec.entries} if self.wrec else {}
        if comm.size == 1 and len(old) == 1:
            try:
                hdf5.truncate_recording(old[0], kept[0], rows, t_stop, weights=wrows)
                self.spike_counts = dict(kept[0])
                return
            except OSError:
                pass  # a killed writer's SWMR flags: rebuild below
        merged_old = os.path.abspath(self.output) if len(old) > 1 else None

        def stash():
            if comm.rank != 0:
                return None
            out = hdf5.stash_recording(old)
            if merged_old and os.path.exists(merged_old):
                os.unlink(merged_old)  # its virtual datasets point at the old rank files
            return out

        stashed = comm.bcast(_agree(comm, stash))
        sources = [(p, kept[r], rows) for r, p in enumerate(stashed)]
        blocks = {}
        for pop in pops:
            lay = self.built.layouts[pop]
            if lay.kind == "neuron":
                blocks[pop] = (lay.lo, lay.lo + lay.count)
            else:  # spike generators: their events are emitted (and recorded) by rank 0
                blocks[pop] = (0, lay.size) if comm.rank == 0 else (0, 0)

        def fill():
            w = self._make_writer(True)
            w.begin_segment()
            try:
                got = w.copy_in(sources, blocks, t_stop, weight_rows=wrows)
            finally:
                w.end_segment(complete=False)
            return w, got

        self.writer, got = _agree(comm, fill)
        self.spike_counts = {p: int(got.get(p, 0)) for p in pops}
        comm.barrier()
        if comm.rank == 0:
            hdf5.drop_stash(stashed)  # old rank files beyond this run's ranks go too
        if comm.size > 1:
            self._merge()

    def _abort_others(self, exc):
        """On several ranks an error on one rank must end the job (MPI_Abort, status 3),
        or the others wait in the next exchange for ever.  Returns on one process."""
        if self.comm.size == 1:
            return
        import sys

        if self.writer:
            self.writer.end_segment(complete=False)
        print(f"neurosim: error on rank {self.comm.rank}: {exc}", file=sys.stderr)
        self.comm.abort(3)

    def _check_finite_ltc(self):
        be = self.backend
        owned = getattr(be, "owned", None)  # under MPI: the neurons this rank advances
        v = be.V if owned is None else np.where(owned, be.V, 0.0)
        if np.isfinite(v).all():
            return
        n = int(np.argmax(~np.isfinite(v)))
        for lay in self.built.layouts.values():
            if lay.kind in ("ltc", "cfc") and lay.n0 <= n < lay.n0 + lay.size:
                var = "h" if lay.kind == "cfc" else "v"
                if self.writer:
                    self.writer.flush()
                raise FloatingPointError(
                    f"{lay.name}: neuron {n - lay.n0}, variable {var} is not finite "
                    f"at t = {self.sim_time:g} ms (recording kept up to there)"
                )

    def _merge(self):
        """Rank 0 merges the rank files into the output; the others wait for it."""
        from .io.hdf5 import merge_ranks

        comm = self.comm
        comm.barrier()
        if comm.rank == 0:
            sizes = {p.name: p.size for p in self.spec.populations.values()}
            range_of = None
            if self.spec.kind == "ltc":
                from .parallel.ltc_exchange import ltc_range as range_of
            merge_ranks(self.output, comm.size, sizes, self.plan.all_ids, range_of)
        comm.barrier()

    def _bar(self, nsteps):
        if not self.progress or nsteps == 0:
            return None
        from tqdm import tqdm

        return tqdm(
            total=round(nsteps * self.dt, 6),
            unit="ms",
            unit_scale=False,
            dynamic_ncols=True,
            leave=False,
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} ms [{elapsed}<{remaining}{postfix}]",
        )

    def _store(self, ks, gids, samples):
        spikes = {}
        if len(self._spike_pops):
            which = np.searchsorted(self._gid0, gids, side="right") - 1
            inside = (which >= 0) & (gids < self._gid1[np.maximum(which, 0)])
            for i, pop in enumerate(self._spike_pops):
                sel = inside & (which == i)
                t = (ks[sel] + 1) * self.dt
                ids = (gids[sel] - self._gid0[i]).astype(np.uint64)
                spikes[pop] = (t, ids)
                self.spike_counts[pop] += int(sel.sum())
                if self._memory is not None:
                    self._memory[pop][0].append(t)
                    self._memory[pop][1].append(ids)
        if self.writer:
            weights = self.wrec.take() if self.wrec else None
            self.writer.append(spikes, samples, self.sim_time, weights=weights)

    # ----------------------------------------------------------------------- access

    def spikes(self, population):
        """Spike times (ms) and local ids recorded so far (without an output file)."""
        if self._memory is None:
            from .io.hdf5 import open_recording

            with open_recording(self.output) as rec:
                return rec.spikes(population)
        t, ids = self._memory[population]
        if not t:
            return np.zeros(0), np.zeros(0, np.int64)
        return np.concatenate(t), np.concatenate(ids).astype(np.int64)

    def get(self, population, variable):
        """Current values of a state variable of every neuron of a population (on every
        rank: the blocks of all ranks in id order)."""
        local = self._get_local(population, variable)
        if self.comm.size == 1:
            return local
        return np.concatenate(self.comm.allgather(local))

    def _get_local(self, population, variable):
        lay = self.built.layouts[population]
        self.backend.sync_to_host()
        sl = slice(lay.n0, lay.n0 + lay.count)
        if self.spec.kind == "ltc" and variable in ("v", "h"):  # h: cfc populations
            # graded networks keep V at full length; a rank owns [n0 + lo, n0 + hi)
            return self.backend.V[lay.n0 + lay.lo : lay.n0 + lay.lo + lay.count].copy()
        model = get_model(lay.model)
        if variable == "V_m":
            return self.backend.V[sl].copy()
        if variable in model.syn_state:
            return self.backend.syn[model.syn_state.index(variable), sl].copy()
        raise KeyError(f"{population}: no state variable {variable!r}")

    def set(self, population, **values):
        """Change parameters or state of a neuron population between segments.

        ``sim.set("E", I_e="50 pA")`` changes a parameter (constants, broadcast to every
        neuron; propagators are recomputed); ``sim.set("E", V_m="-65 mV")`` sets a state.
        """
        spec = self.spec
        if population not in spec.populations or spec.populations[population].kind != "neuron":
            raise SpecError("Simulation.set", population, "expected a neuron population")
        lay = self.built.layouts[population]
        model = get_model(lay.model)
        params = {k: v.copy() for k, v in self.built.params[population].items()}
        new_params = False
        self.backend.sync_to_host()
        for name, value in values.items():
            if name in model.params:
                dim = dimension_of_unit(model.params[name].unit)
                try:
                    x = parse_quantity(value, dim)
                except UnitError as exc:
                    raise SpecError("Simulation.set", f"{population}.{name}", str(exc)) from None
                params[name][:] = x
                new_params = True
            elif name in model.state:
                dim = dimension_of_unit(model.state[name].unit)
                try:
                    x = parse_quantity(value, dim)
                except UnitError as exc:
                    raise SpecError("Simulation.set", f"{population}.{name}", str(exc)) from None
                sl = slice(lay.n0, lay.n0 + lay.count)
                if name == "V_m":
                    self.backend.V[sl] = x
                else:
                    self.backend.syn[model.syn_state.index(name), sl] = x
            else:
                raise SpecError(
                    "Simulation.set",
                    f"{population}.{name}",
                    f"not a parameter or state of {model.name}",
                )
        if new_params:
            check_reset_below_threshold(params, "Simulation.set", population)
            self.built.params[population] = params
            self.backend.set_params(population, model, params)
        self.backend.sync_to_device()
        return self

    def close(self):
        """Release the output (its lock); the recording itself is closed after every
        segment.  A later :meth:`run` takes the output again."""
        if self.writer:
            self.writer.end_segment(complete=True)
        if self._lock is not None:
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def summary(self):
        """Per recorded population: spikes and mean rate (Hz) over the simulated time."""
        T = self.sim_time * 1e-3
        out = {}
        counts = self.spike_counts
        if self.comm.size > 1:
            counts = {p: self.comm.allreduce(c) for p, c in counts.items()}
        for pop in self._spike_pops:
            n = self.built.layouts[pop].size
            c = counts[pop]
            out[pop] = {"neurons": n, "spikes": c, "rate_hz": c / (n * T) if T > 0 else 0.0}
        return out


def _agree(comm, fn):
    """Call ``fn`` on every rank; if it raises on any rank, raise on every rank (the
    lowest failing rank's error), so that no rank is left waiting in a collective."""
    err = None
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
        err = exc
    if comm.size == 1:
        if err is not None:
            raise err
        return out
    errors = comm.allgather(None if err is None else (type(err).__name__, str(err)))
    for r, e in enumerate(errors):
        if e is not None:
            if err is not None and r == comm.rank:
                raise err
            raise RankError(r, *e)
    return out


class RankError(Exception):
    """An error raised on another rank (re-raised here so that every rank stops)."""

    def __init__(self, rank, kind, message):
        super().__init__(message)
        self.rank, self.kind = rank, kind


def _build_ltc_rank(spec, comm):
    """A graded network's part on this rank: its chunks of every population's targets
    (:func:`neurosim.parallel.ltc_exchange.ltc_range`), and a record plan over them."""
    import dataclasses
    from types import SimpleNamespace

    from .backends.ltc_numpy import ltc_record_plan
    from .ltc.build import build_ltc
    from .parallel.ltc_exchange import ltc_range

    def targets_of(_name, size):
        return np.arange(*ltc_range(size, comm.rank, comm.size), dtype=np.int64)

    b = build_ltc(spec, targets_of=targets_of)
    for lay in b.layouts.values():
        if lay.kind in ("ltc", "cfc"):
            lay.lo, hi = ltc_range(lay.size, comm.rank, comm.size)
            lay.count = hi - lay.lo
    # V is indexed globally here: record from n0 + id (RecordPlan subtracts lo)
    view = SimpleNamespace(
        dt=b.dt,
        layouts={k: dataclasses.replace(v, n0=v.n0 + v.lo) for k, v in b.layouts.items()},
    )
    return b, ltc_record_plan(view, spec.record_state)


def _global_delays(comm, b):
    """The exchange interval and ring length must hold on every rank: the minimum and
    maximum delay over the whole network."""
    big = 1 << 30
    dmin = comm.allreduce(b.min_delay if b.n_synapses else big, "min")
    b.min_delay = 1 if dmin == big else int(dmin)
    b.max_delay = int(comm.allreduce(b.max_delay, "max"))


def default_output(path):
    base = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return f"{base}.h5"


def _progress(bar, advanced_ms, done_ms, t_wall):
    """Advance the progress bar (if any) and show the real-time factor so far."""
    if bar is None:
        return
    bar.update(advanced_ms)
    el = time.perf_counter() - t_wall
    bar.set_postfix_str(f"RTF {el / max(1e-9, done_ms * 1e-3):.3g}")


class Interrupted(Exception):
    """A run stopped by :meth:`Simulation.request_stop` (SIGINT / SIGTERM).

    Attributes
    ----------
    reason : str
    t : float
        Simulated time reached (ms).
    checkpoint : str or None
        The checkpoint written there.
    output : str or None
    """

    def __init__(self, reason, t, checkpoint, output):
        where = f"; checkpoint {checkpoint}" if checkpoint else ""
        super().__init__(f"{reason}: stopped at t = {t:g} ms{where}")
        self.reason, self.t, self.checkpoint, self.output = reason, t, checkpoint, output


def _positions(saved, wanted, what):
    """Indices of ``wanted`` in the sorted array ``saved`` (every one must be there)."""
    from .io.checkpoint import CheckpointError

    saved = np.asarray(saved)
    wanted = np.asarray(wanted, saved.dtype)
    idx = np.searchsorted(saved, wanted)
    ok = idx < len(saved)
    ok[ok] = saved[idx[ok]] == wanted[ok]
    if not ok.all():
        raise CheckpointError(f"the checkpoint lacks {int((~ok).sum())} {what} state(s)")
    return idx


def _overrides_of(spec):
    """The ``--set`` overrides :func:`neurosim.load` appended to the spec's text."""
    text = spec.source_text or ""
    mark = "\n# --set "
    i = text.rfind(mark)
    if i < 0 or not text.endswith("\n"):
        return []
    return text[i + len(mark) : -1].split(" --set ")
